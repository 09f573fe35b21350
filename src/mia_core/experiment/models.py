"""The run's models, target and reference models alike, through one path and one cache.

Every model is trained by :meth:`TrainTask.fit` (the target plugin's ``fit`` under the
model's seed, its errors blamed on the plugin), checked by :func:`check_model_outputs` and
kept in the model cache under the same key however it was trained: in this process or by an
executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from mia_core.answers import CLASS_LOGITS, Answers, answers_of
from mia_core.capabilities import capable
from mia_core.data import Records
from mia_core.errors import PluginError, describe
from mia_core.experiment.plan import Component
from mia_core.options import as_dict
from mia_core.progress import Progress
from mia_core.references import ReferenceModels, reference_jobs
from mia_core.training.cache import ModelCache, load_weights
from mia_core.training.executors import (
    ExecEnv,
    Trained,
    TrainJob,
    TrainTask,
    WithLogits,
    run_jobs,
)
from mia_core.training.formats import StepFormat, choose_format
from mia_core.training.targets import BuildableTarget, FingerprintedTarget, RecipeTarget


class ModelFactory:
    """The target plugin's models on records of ``pool`` (indices into it), through the
    model cache: :meth:`target_model` trains in this process; reference models come from
    :meth:`cached`, else an executor, each then passed to :meth:`keep`."""

    def __init__(self, target: Component, dataset: Component, pool: Records,
                 device: torch.device, cache: ModelCache, progress: Progress) -> None:
        self.target, self.pool, self.device = target, pool, device
        self.answers = answers_of(target.instance)
        self.cache, self.progress = cache, progress
        self.who = target.who
        self._whole = TrainTask(target.instance, self.who, pool)
        self.step_format = target_step_format(target, pool, device, progress)
        self._base = {**model_key_parts(dataset, target, pool, device),
                      "step_format": self.step_format.name if self.step_format else None}

    def task(self, data: Records) -> TrainTask:
        """The executors' task: the target and only ``data``, the reference records, so no more
        data than needed travels to workers; each model comes back with its answers to it."""
        return TrainTask(self.target.instance, self.who, data, query=True)

    def target_model(self, indices: torch.Tensor, seed: int) -> nn.Module:
        """The model trained on ``indices`` with ``seed`` in this process (or cached)."""
        model = self.cached(indices, seed)
        if model is None:
            model = self._whole.fit(indices, seed, self.device, self.progress)
            self._check(model, indices)
            self.cache.store(self._parts(indices, seed), model, self._buildable())
        return model

    def cached(self, records: torch.Tensor, seed: int) -> nn.Module | None:
        """The model trained on ``records`` with ``seed``, if cached."""
        build = self._builder(records)
        model = self.cache.load(self._parts(records, seed), build, self.device)
        if model is not None:
            self._check(model, records)
        return model

    def keep(self, records: torch.Tensor, seed: int, trained: Trained,
             what: str) -> tuple[nn.Module, torch.Tensor | None]:
        """A model an executor trained on ``records`` (a module, or a state dict to load into
        ``build()``, with or without its answers to the reference records): checked, then
        cached at once. Returns the model and the answers that came with it."""
        answers = trained.logits if isinstance(trained, WithLogits) else None
        weights = trained.weights if isinstance(trained, WithLogits) else trained
        model = weights if isinstance(weights, nn.Module) else self._load(records, weights, what)
        model = model.to(self.device).eval()
        self._check(model, records)
        self.cache.store(self._parts(records, seed), model, self._buildable())
        return model, answers

    def store_answers(self, records: torch.Tensor, seed: int, queried: torch.Tensor,
                      answers: torch.Tensor) -> None:
        """Cache the model's answers to the ``queried`` dataset records."""
        if self._buildable():
            self.cache.store_answers(self._parts(records, seed), queried, answers)

    def cached_answers(self, records: torch.Tensor, seed: int,
                       queried: torch.Tensor) -> torch.Tensor | None:
        """The model's cached answers to the ``queried`` records, if well-formed."""
        found = self.cache.load_answers(self._parts(records, seed), queried)
        if found is None or self.answers.problem(found, self.pool.subset(queried)) is not None:
            return None
        return found

    def _load(self, records: torch.Tensor, state: Mapping[str, torch.Tensor],
              what: str) -> nn.Module:
        if not self._buildable():
            raise PluginError(f"{self.who} has no build() method, so its weights cannot be "
                              "loaded from another process; use --executor local --workers 1")
        try:
            return load_weights(self._whole.build(records), state)
        except (RuntimeError, KeyError) as exc:
            raise PluginError(f"the weights returned for {what} do not fit {self.who}'s "
                              f"build(): {describe(exc)}") from None

    def _check(self, model: nn.Module, records: torch.Tensor) -> None:
        check_model_outputs(self.who, model, self.pool.subset(records[:64]), self.device,
                            self.answers)

    def _parts(self, indices: torch.Tensor, seed: int) -> dict[str, Any]:
        return {**self._base, "seed": seed, "records": indices}

    def _buildable(self) -> bool:
        return capable(self.target.instance, BuildableTarget)

    def _builder(self, records: torch.Tensor) -> Callable[[], nn.Module] | None:
        return (lambda: self._whole.build(records)) if self._buildable() else None


class ReferenceTrainer:
    """Trains the reference models on first use and hands the same set to every attack.

    Model i's records and seed depend only on the experiment's seed and sizes, never on the
    executor or on the order in which models finish. Models already in the cache are loaded;
    the rest go to the executor, and each is cached the moment it comes back.
    """

    def __init__(self, models: ModelFactory, executor: Component, env: ExecEnv,
                 index: torch.Tensor, n_population: int, count: int, seed: int) -> None:
        self._models, self._executor, self._env = models, executor, env
        self._index = index  # dataset indices: population records, then evaluation records
        self._n_population = n_population
        self.count, self._seed = count, seed
        self._trained: ReferenceModels | None = None

    def get(self) -> ReferenceModels:
        if self._trained is None:
            self._trained = self._train()
        return self._trained

    @property
    def queries(self) -> int:
        """Reference models the driver queried on their records (none when their answers came
        with them or from the cache)."""
        return self._trained.queries if self._trained is not None else 0

    def _train(self) -> ReferenceModels:
        mask, jobs = reference_jobs(self.count, len(self._index), self._seed)
        models: list[nn.Module | None] = [
            self._models.cached(self._index[job.records], job.seed) for job in jobs]
        answers: list[torch.Tensor | None] = [
            self._models.cached_answers(self._index[job.records], job.seed, self._index)
            if model is not None else None for job, model in zip(jobs, models, strict=True)]
        missing = [job for job, model in zip(jobs, models, strict=True) if model is None]
        progress = self._env.progress
        if len(missing) < len(jobs):
            progress.message(f"reference models: {len(jobs) - len(missing)} of {len(jobs)} "
                             "from the model cache")
        reference = self._models.pool.subset(self._index)  # job records are positions in it
        if missing:  # an executor (say, a Ray instance) starts only when there is work
            progress.message(f"reference models: training {len(missing)} on executor "
                             f"'{self._executor.name}', about {len(missing[0].records)} "
                             "reference records each")
            self._train_missing(missing, models, answers, reference)
        ready = [m for m in models if m is not None]
        return ReferenceModels(reference, self._n_population, mask, ready, self._env.device,
                               answers, self._remember(jobs, answers), self._models.answers)

    def _remember(self, jobs: list[TrainJob],
                  answers: list[torch.Tensor | None]) -> Callable[[int, torch.Tensor], None]:
        """What ReferenceModels calls with the answers it had to compute: cache them."""
        def remember(number: int, computed: torch.Tensor) -> None:
            job = jobs[number]
            self._models.store_answers(self._index[job.records], job.seed, self._index, computed)
        return remember

    def _train_missing(self, missing: list[TrainJob], models: list[nn.Module | None],
                       answers: list[torch.Tensor | None], reference: Records) -> None:
        """Hand ``missing`` to the executor; cache and place each model as it comes back."""
        start = time.perf_counter()
        finished = run_jobs(self._executor.instance, self._executor.name,
                            self._models.task(reference), missing, self._env)
        for done, (job, trained) in enumerate(finished, start=1):
            records = self._index[job.records]
            models[job.number], answers[job.number] = self._models.keep(
                records, job.seed, trained, f"reference model {job.number + 1}")
            if answers[job.number] is not None:
                self._models.store_answers(records, job.seed, self._index, answers[job.number])
            self._env.progress.message(f"reference model {job.number + 1} done: {done}/"
                                       f"{len(missing)}" + _pace(done, len(missing),
                                                                 time.perf_counter() - start))


def _pace(done: int, total: int, elapsed: float) -> str:
    """', 1m04s elapsed, about 3m12s left' (nothing before the first model is done)."""
    if done == 0:
        return ""
    left = elapsed / done * (total - done)
    return f", {_duration(elapsed)} elapsed, about {_duration(left)} left"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def check_model_outputs(who: str, model: nn.Module, data: Records, device: torch.device,
                        answers: Answers = CLASS_LOGITS) -> None:
    """The model's answers to a few training records, well-formed as ``answers`` says
    (classifiers: finite logits of shape (N, classes)): a broken model is the target plugin's
    fault, found here rather than as an attack's crash later."""
    try:
        found = answers.answer(model, data, device)
    except Exception as exc:
        raise PluginError(f"{who}: its trained model fails on the training records: "
                          f"{describe(exc)}") from exc
    problem = (answers.problem(found, data) if isinstance(found, torch.Tensor)
               else f"its model answers with {type(found).__name__}, not a tensor")
    if problem is not None:
        raise PluginError(f"{who}: {problem}")


def target_step_format(target: Component, pool: Records, device: torch.device,
                       progress: Progress) -> StepFormat | None:
    """The precision and layout the target's ``fit_classifier`` trains with on this machine
    (measured once per machine and model shape; see mia_core.training.formats), for targets
    whose training the core knows (``build`` and ``recipe``); DP-SGD always uses fp32."""
    if not capable(target.instance, RecipeTarget):
        return None
    recipe = target.call("recipe")
    if recipe.dp:
        return None
    sample = pool.subset(torch.arange(min(recipe.batch_size, len(pool))))
    with torch.random.fork_rng(devices=[]):
        model = target.call("build", sample)
    return choose_format(model, sample.x, sample.y, recipe, device, progress)


def model_key_parts(dataset: Component, target: Component, pool: Records,
                    device: torch.device) -> dict[str, Any]:
    """Everything besides records and seed that determines a trained model's weights (the
    model-cache key): the data itself, the dataset and target with their options, torch and the
    device type. Attack options are not part of it: attacks never change the models."""
    parts = {
        "dataset": dataset.name, "dataset_options": as_dict(dataset.options),
        "data": pool.fingerprint(), "target": target.name,
        "target_options": as_dict(target.options),
        "target_version": f"{target.entry.origin.distribution} {target.entry.origin.version}",
        "torch": torch.__version__, "device": device.type,
    }
    if capable(target.instance, FingerprintedTarget):  # only then: other keys stay as they were
        parts["target_code"] = target.call("fingerprint")
    return parts
