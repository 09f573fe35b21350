"""Optional capabilities of components, as ``typing.Protocol`` classes, and the one test.

A component needs only its kind's one method (``load``, ``fit``, ``score`` ...). Anything more
it offers, or declares about itself, is a capability: a method, an attribute, or a flag (an
attribute annotated ``Literal[...]``, which must hold one of those values), and
:func:`capable` is the only test for one; :func:`declaration_problem` checks a registered
component's flags once, at registration. The datasets' and attacks' capabilities are here; the
targets' (build, recipe, privacy, no training) are in :mod:`mia_core.training.targets`, beside
the training types they name.
"""

from __future__ import annotations

from typing import (
    Generic,
    Literal,
    Protocol,
    get_args,
    get_origin,
    get_type_hints,
    runtime_checkable,
)

import torch

from mia_core.data import LabeledData, Records
from mia_core.errors import PluginError
from mia_core.threats import ThreatModel


@runtime_checkable
class CanaryDataset(Protocol):
    """A dataset that makes its own canaries for ``--canaries`` (records shaped like its own,
    ``count`` of them, drawn from ``generator``)."""

    def canaries(self, pool: LabeledData, count: int,
                 generator: torch.Generator) -> LabeledData: ...


@runtime_checkable
class MembershipDataset(Protocol):
    """A benchmark that says which of its records are members: ``membership(data)`` is a
    bool tensor, one per record of what ``load`` returned (its published labels). A run then
    draws members and non-members from those labels instead of at random, trains the target on
    the drawn members, and warns that such ground truth may be told apart without the model."""

    def membership(self, data: Records) -> torch.Tensor: ...


@runtime_checkable
class ReadableDataset(Protocol):
    """A dataset whose records a person reads as text (a language model's documents):
    ``readable(records)`` gives each record as that text, which the report shows (escaped)
    for the most exposed records instead of raw values."""

    def readable(self, records: Records) -> list[str]: ...


@runtime_checkable
class SizedDataset(Protocol):
    """A dataset that suggests how many members a run should have by default."""

    suggested_members: int


@runtime_checkable
class ReferenceFreeAttack(Protocol):
    """A population attack that trains no reference models (e.g. a quantile regressor on the
    population records): a run then trains none for it."""

    needs_reference_models: Literal[False]


@runtime_checkable
class SignalAttack(Protocol):
    """An attack that says which signals of the target's models it reads (names from
    :data:`mia_core.SIGNALS`, e.g. ``("log_likelihood",)``), so it runs on any modality whose
    models give them. An attack that does not say reads ``logits`` (``labels`` when it is
    label-only): a classifier attack, refused before training for other modalities."""

    needs_signals: tuple[str, ...]


def signals_needed(attack: object) -> tuple[str, ...]:
    """The signals ``attack`` reads: what it declares, else a classifier's default."""
    if capable(attack, SignalAttack):
        needs = attack.needs_signals  # type: ignore[attr-defined]
        if not isinstance(needs, tuple | list) or not all(isinstance(n, str) for n in needs):
            raise PluginError(f"the attack's needs_signals is {needs!r}, not a tuple of "
                              "signal names such as ('log_likelihood',)")
        return tuple(needs)
    label_only = getattr(attack, "threat_model", None) == ThreatModel.LABEL_ONLY
    return ("labels",) if label_only else ("logits",)


def _own(capability: type) -> list[type]:
    return [cls for cls in capability.__mro__
            if getattr(cls, "_is_protocol", False) and cls not in (Protocol, Generic)]


def _holds(value: object, allowed: tuple[object, ...]) -> bool:
    """``value`` is one of ``allowed`` and of its type (``0`` is not ``False``)."""
    return any(type(value) is type(a) and value == a for a in allowed)


def capable(component: object, capability: type) -> bool:
    """Whether ``component`` offers ``capability``: every method of the protocol callable
    (``build = None`` is no build method), every attribute set (not ``None``), every flag
    (``Literal[...]``) set to one of its values."""
    own = _own(capability)
    methods = {n for cls in own for n, v in vars(cls).items()
               if callable(v) and not n.startswith("_")}
    hints = get_type_hints(capability)
    for name in {n for cls in own for n in getattr(cls, "__annotations__", {})}:
        value, hint = getattr(component, name, None), hints[name]
        if value is None or (get_origin(hint) is Literal
                             and not _holds(value, get_args(hint))):
            return False
    return all(callable(getattr(component, n, None)) for n in methods)


def declaration_problem(component: object, capabilities: tuple[type, ...]) -> str | None:
    """Why a flag ``component`` sets is none of the values its capability allows (e.g.
    ``trains = "no"``, which would silently mean "trains"); ``None`` when all are fine."""
    for capability in capabilities:
        hints = get_type_hints(capability)
        for name, hint in hints.items():
            if get_origin(hint) is not Literal or not hasattr(component, name):
                continue
            value, allowed = getattr(component, name), get_args(hint)
            permitted = allowed + tuple(not a for a in allowed if isinstance(a, bool))
            if not _holds(value, permitted):
                return (f"sets {name} = {value!r}, which is neither "
                        f"{' nor '.join(repr(a) for a in permitted)}; {name} = "
                        f"{allowed[0]!r} declares {capability.__name__}, or leave it out")
    return None
