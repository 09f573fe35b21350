"""Optional capabilities of components, as ``typing.Protocol`` classes, and the one test.

A component needs only its kind's one method (``load``, ``fit``, ``score`` ...). Anything more
it offers is a capability the core uses when present, and :func:`capable` is the only test for
one. The datasets' capabilities are here; the targets' (build, recipe, privacy) are in
:mod:`mia_core.training.targets`, beside the training types they name.
"""

from __future__ import annotations

from typing import Generic, Protocol, runtime_checkable

import torch

from mia_core.data import LabeledData


@runtime_checkable
class CanaryDataset(Protocol):
    """A dataset that makes its own canaries for ``--canaries`` (records shaped like its own,
    ``count`` of them, drawn from ``generator``)."""

    def canaries(self, pool: LabeledData, count: int,
                 generator: torch.Generator) -> LabeledData: ...


@runtime_checkable
class SizedDataset(Protocol):
    """A dataset that suggests how many members a run should have by default."""

    suggested_members: int


def capable(component: object, capability: type) -> bool:
    """Whether ``component`` offers ``capability``: every method of the protocol callable
    (``build = None`` is no build method) and every attribute set (not ``None``)."""
    own = [cls for cls in capability.__mro__
           if getattr(cls, "_is_protocol", False) and cls not in (Protocol, Generic)]
    methods = {n for cls in own for n, v in vars(cls).items()
               if callable(v) and not n.startswith("_")}
    attributes = {n for cls in own for n in getattr(cls, "__annotations__", {})}
    return (all(callable(getattr(component, n, None)) for n in methods)
            and all(getattr(component, n, None) is not None for n in attributes))
