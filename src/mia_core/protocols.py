"""What each kind of component must look like, as ``typing.Protocol`` classes.

Plugins need not inherit from these: the core checks the methods at registration (classes) and
when it builds a component. They exist so a plugin author can type-check an implementation,
e.g. ``attack: mia_core.Attack = MyAttack(options)`` under mypy or pyright.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from mia_core.context import AttackContext, AttackOutput
from mia_core.data import LabeledData, LoadEnv, Records
from mia_core.results.types import ExperimentResult, ReportEnv, RunArtifacts
from mia_core.threats import ThreatModel
from mia_core.training.executors import ExecEnv, Trained, TrainJob, TrainTask
from mia_core.training.recipe import TrainEnv


@runtime_checkable
class Dataset(Protocol):
    """Supplies the records; the core draws members, non-members and population from them
    (``LabeledData`` for classes, ``Records`` for anything else)."""

    def load(self, env: LoadEnv) -> LabeledData | Records: ...


@runtime_checkable
class Target(Protocol):
    """The model under audit: trained on exactly the records given (members, or a reference
    model's IN records). A ``build(data) -> nn.Module`` method (the untrained model) is
    optional; with it, trained models are cached and reference models can be trained in other
    processes. With ``build`` and ``recipe() -> TrainRecipe`` too, ``fit`` must equal
    ``fit_classifier(build(data), data, recipe(), env)``: executors may then train several
    models at once (``torch.func``). Its models answer with logits over classes unless it
    declares ``answers`` (:class:`~mia_core.AnsweringTarget`)."""

    def fit(self, data: LabeledData | Records, env: TrainEnv) -> nn.Module: ...


@runtime_checkable
class Attack(Protocol):
    """Scores evaluation records, higher meaning "more likely a member". A population attack
    that never calls ``ctx.reference_models()`` says ``needs_reference_models = False``, so
    none are trained for it alone; ``needs_signals`` names the signals it reads
    (:class:`~mia_core.SignalAttack`; default: class logits)."""

    threat_model: ThreatModel | str

    def score(self, ctx: AttackContext) -> AttackOutput | torch.Tensor: ...


@runtime_checkable
class Reporter(Protocol):
    """Delivers a finished run somewhere and says where (for the progress log)."""

    def report(self, result: ExperimentResult, artifacts: RunArtifacts,
               env: ReportEnv) -> list[str]: ...


@runtime_checkable
class Executor(Protocol):
    """Trains reference models wherever it likes and yields each ``(job, trained)`` as it
    finishes, in any order: a module, a state dict, or ``unpack_state(train_packed(...))``
    (with a ``task.query`` task, the weights and the model's answers to the task's data)."""

    def run(self, task: TrainTask, jobs: Sequence[TrainJob],
            env: ExecEnv) -> Iterable[tuple[TrainJob, Trained]]: ...
