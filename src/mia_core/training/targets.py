"""What a target may offer besides ``fit``: its untrained model, its recipe, its DP spend, or
that it trains nothing.

Each is a ``typing.Protocol``, tested with :func:`mia_core.capable` like every capability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from torch import nn

from mia_core.capabilities import capable
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
class ModelFileTarget(Protocol):
    """A target that reads a trained model's file itself (``--model FILE``), e.g. a
    TorchScript archive, instead of the core loading weights into ``build()``."""

    def load_model(self, path: Path, data: LabeledData) -> nn.Module: ...


@runtime_checkable
class FingerprintedTarget(Protocol):
    """A target whose models depend on code outside its plugin's distribution (a file of the
    user's): ``fingerprint()`` changes when that code does, and is part of the model-cache
    key, so an edited model class never gets weights cached for the old one."""

    def fingerprint(self) -> str: ...


@runtime_checkable
class TrainlessTarget(Protocol):
    """A target with no code to train with (``trains = False``; e.g. one that audits a
    TorchScript archive it cannot rebuild): population attacks, control runs and canaries,
    which need new models, then refuse it."""

    trains: Literal[False]


def trains(target: object) -> bool:
    """Whether ``target`` can train models (reference models, control runs, canaries)."""
    return not capable(target, TrainlessTarget)
