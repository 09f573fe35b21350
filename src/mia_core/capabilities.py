"""Optional capabilities of components, as ``typing.Protocol`` classes, tested in one place.

A component needs only its kind's one method (``load``, ``fit``, ``score`` ...). Anything more
it offers is a capability the core uses when present: :func:`capable` is the only test for
one, so what each optional method means is written down here and nowhere else.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from mia_core.data import LabeledData
from mia_core.training.dp import PrivacySpent
from mia_core.training.recipe import TrainRecipe


@runtime_checkable
class BuildableTarget(Protocol):
    """A target that can build its untrained model: its trained models can be cached and
    rebuilt from state dicts, so reference models may train in other processes."""

    def build(self, data: LabeledData) -> nn.Module: ...


@runtime_checkable
class RecipeTarget(Protocol):
    """A buildable target that also says how it trains, promising ``fit(data, env) ==
    fit_classifier(build(data), data, recipe(), env)``: executors may then train several of
    its models at once (``torch.func``)."""

    def build(self, data: LabeledData) -> nn.Module: ...

    def recipe(self) -> TrainRecipe: ...


@runtime_checkable
class PrivateTarget(Protocol):
    """A target that trains with DP-SGD and says what it spent on ``data`` (``None``: no
    DP for this configuration)."""

    def privacy(self, data: LabeledData) -> PrivacySpent | None: ...


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
    own = [cls for cls in capability.__mro__ if cls.__module__ == __name__]
    methods = {n for cls in own for n, v in vars(cls).items()
               if callable(v) and not n.startswith("_")}
    attributes = {n for cls in own for n in getattr(cls, "__annotations__", {})}
    return (all(callable(getattr(component, n, None)) for n in methods)
            and all(getattr(component, n, None) is not None for n in attributes))
