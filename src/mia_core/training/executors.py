"""The executor contract: what the core asks an executor to train, and how it checks the answers.

The core decides *what* each reference model is (its records and seed follow from the
experiment config alone); an executor decides *where* it is trained: in this process, in
worker processes, on a Ray cluster. A job's weights depend only on the job and on the torch
threads per training, so executors can be swapped and share one model cache. Executors hand
back state dicts (or, in this process, the modules themselves); the driver rebuilds and caches
each model as soon as it arrives, so an interrupted run keeps every finished one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import nn

from mia_core.answers import answers_of
from mia_core.capabilities import capable
from mia_core.data import Records
from mia_core.errors import MiaError, PluginError, call_plugin, describe, stopped_inside
from mia_core.progress import QUIET, Progress
from mia_core.training.fit import seeded
from mia_core.training.recipe import TrainEnv, TrainRecipe
from mia_core.training.targets import BuildableTarget, RecipeTarget

CUDA_BATCH = 8  # models trained at once on one GPU when the target allows it


@attrs.frozen(eq=False)
class TrainJob:
    """One reference model to train: ``records`` index :attr:`TrainTask.data`."""

    number: int  # reference model i, 0-based
    records: torch.Tensor
    seed: int


@attrs.frozen(eq=False)
class TrainTask:
    """What every job of a run shares; picklable, sent once to each worker.

    ``target`` is the target plugin's instance (built with its options) and ``who`` names it
    in errors. :meth:`fit` trains one model, the target's and each reference model alike; a
    target with the :class:`~mia_core.RecipeTarget` capability lets executors train several of
    its models at once (:meth:`batchable`).
    """

    target: Any
    who: str
    data: Records
    query: bool = False  # also return each model's answers to all of ``data`` (WithLogits)

    def portable(self) -> bool:
        """Whether the driver can rebuild this target's models from state dicts (``build``),
        which training anywhere but in this process needs."""
        return capable(self.target, BuildableTarget)

    def batchable(self) -> bool:
        recipe = self._recipe() if capable(self.target, RecipeTarget) else None
        return recipe is not None and recipe.plain

    def work_per_model(self, jobs: Sequence[TrainJob]) -> int:
        """Records x epochs of the largest job (epochs 1 when the target has no recipe)."""
        epochs = self._recipe().epochs if capable(self.target, RecipeTarget) else 1
        return epochs * max((len(j.records) for j in jobs), default=0)

    def fit(self, records: torch.Tensor, seed: int, device: torch.device,
            progress: Progress = QUIET, what: str = "") -> nn.Module:
        """The one way any model of a run is trained: the target plugin's ``fit`` on
        ``records`` (positions in :attr:`data`), under ``seed``, its errors blamed on the
        target (``what``: " for reference model 3"), its answer checked."""
        data = self.data.subset(records)
        with seeded(seed):
            model = call_plugin(self.who, self.target, "fit", data,
                                TrainEnv(device, seed, progress), where=what)
        if not isinstance(model, nn.Module):
            raise PluginError(f"{self.who} fit() returned {type(model).__name__}, not a "
                              "torch.nn.Module")
        return model

    def build(self, records: torch.Tensor, what: str = "") -> nn.Module:
        """The target's untrained model for ``records`` (``build`` capability)."""
        return call_plugin(self.who, self.target, "build", self.data.subset(records),
                           where=what)

    def train(self, job: TrainJob, device: torch.device, progress: Progress = QUIET) -> nn.Module:
        """Reference model ``job``, seeded like the target's own training."""
        return self.fit(job.records, job.seed, device, progress, _for(job))

    def train_batch(self, jobs: Sequence[TrainJob], device: torch.device) -> list[nn.Module]:
        """Several jobs at once with ``torch.func`` (equal to :meth:`train` up to rounding)."""
        from mia_core.training.batched import fit_classifiers_batched

        models = []
        for job in jobs:
            with seeded(job.seed):  # the initial weights fit() would have drawn
                models.append(self.build(job.records, _for(job)))
        datasets = [self.data.subset(j.records) for j in jobs]
        return fit_classifiers_batched(models, datasets, self._recipe(),
                                       [j.seed for j in jobs], device)

    def train_group(self, jobs: Sequence[TrainJob], device: torch.device,
                    progress: Progress = QUIET) -> list[nn.Module]:
        if len(jobs) > 1 and self.batchable():
            return self.train_batch(jobs, device)
        return [self.train(j, device, progress) for j in jobs]

    def _recipe(self) -> TrainRecipe:
        recipe = call_plugin(self.who, self.target, "recipe")
        if not isinstance(recipe, TrainRecipe):
            raise PluginError(f"{self.who} recipe() returned {type(recipe).__name__}, not a "
                              "TrainRecipe")
        return recipe


def _for(job: TrainJob) -> str:
    return f" for reference model {job.number + 1}"


@attrs.frozen
class ExecEnv:
    """What the core gives an executor's ``run``."""

    device: torch.device  # the run's device (--device)
    threads: int  # torch threads of this process (--threads, or torch's default)
    workers: int  # --workers; 0: the executor chooses
    progress: Progress = QUIET


@attrs.frozen(eq=False)
class WithLogits:
    """A model's weights and its answers to every record of the task's data (for a
    classifier, its logits), computed where the model was trained (for a
    :attr:`TrainTask.query` task): the driver then queries nothing, and the answers are
    cached beside the model."""

    weights: Mapping[str, torch.Tensor]
    logits: torch.Tensor  # its answers: float32, one row per record, on the CPU


Trained = nn.Module | Mapping[str, torch.Tensor] | WithLogits


def pack_state(model: nn.Module, logits: torch.Tensor | None = None) -> bytes:
    """A model's weights (and its answers to the pool) as bytes: plain tensors, no pickled
    objects."""
    buffer = io.BytesIO()
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(weights if logits is None else {"weights": weights, "logits": logits}, buffer)
    return buffer.getvalue()


def unpack_state(data: bytes) -> dict[str, torch.Tensor] | WithLogits:
    """The inverse of :func:`pack_state`, refusing anything but tensors (``weights_only``)."""
    found = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if set(found) == {"weights", "logits"} and isinstance(found["weights"], dict):
        return WithLogits(found["weights"], found["logits"])
    return found


def train_packed(task: TrainTask, jobs: Sequence[TrainJob], device: torch.device,
                 threads: int) -> list[bytes]:
    """Worker side, for any executor: train a group of jobs with ``threads`` torch threads and
    return their weights as bytes, in the jobs' order; for a ``query`` task with each
    model's answers to the task's data too, computed here with the same threads."""
    torch.set_num_threads(threads)
    models = task.train_group(jobs, device)
    if not task.query:
        return [pack_state(m) for m in models]
    answers = answers_of(task.target)
    return [pack_state(m, answers.answer(m, task.data, device)) for m in models]


def groups(jobs: Sequence[TrainJob], size: int) -> list[list[TrainJob]]:
    """Consecutive groups of ``size`` jobs (the last may be smaller)."""
    return [list(jobs[i:i + size]) for i in range(0, len(jobs), size)]


def resolve_batch(batch: int, task: TrainTask, device: torch.device) -> int:
    """Models per group: ``batch`` when given, else several on CUDA for targets that allow it
    (on the CPU, batched training measured slower than one model after another)."""
    if batch:
        return batch
    return CUDA_BATCH if device.type == "cuda" and task.batchable() else 1


def run_jobs(executor: Any, name: str, task: TrainTask, jobs: Sequence[TrainJob],
             env: ExecEnv) -> Iterator[tuple[TrainJob, Trained]]:
    """Run ``jobs`` on ``executor`` (called ``name``), checking that it returns each job once,
    as a module or a state dict; a crash inside it is reported as the executor's."""
    who = f"executor '{name}'"
    expected = {j.number for j in jobs}
    try:
        for job, trained in executor.run(task, jobs, env):
            number = getattr(job, "number", None)
            if number not in expected:
                raise PluginError(f"{who} returned {job!r}, which was not asked for or was "
                                  "returned twice")
            if not isinstance(trained, nn.Module | Mapping | WithLogits):
                raise PluginError(f"{who} returned {type(trained).__name__} for reference "
                                  f"model {number + 1}; expected a state dict or a "
                                  "torch.nn.Module")
            expected.discard(number)
            yield job, trained
    except Exception as exc:  # a stop can surface as any error, the executor's own too
        stop = stopped_inside(exc)
        if stop is not None:
            raise stop from None
        if isinstance(exc, MiaError):
            raise
        raise PluginError(f"{who} failed: {describe(exc)}") from exc
    if expected:
        missing = ", ".join(str(n + 1) for n in sorted(expected))
        raise PluginError(f"{who} finished without reference model(s) {missing}")
