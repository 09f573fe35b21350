"""Reference (shadow) models for the population threat model: what attacks get, and who is IN.

The attacker holds population records (never members, never evaluation records) and may
query the evaluation records. Reference models are trained with the *target plugin's own
recipe* on random halves of those *reference records* (population + evaluation records),
arranged so every reference record is IN for exactly half of the models, as in LiRA.
Attacks that only need models trained without a record (offline LiRA, RMIA, shadow MLPs) use
the models where it is OUT.
They are trained by :class:`mia_core.experiment.models.ReferenceTrainer`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from mia_core.answers import CLASS_LOGITS, Answers, predict_logits
from mia_core.data import Records
from mia_core.queries import IDENTITY, QueryAugmentation
from mia_core.training.executors import TrainJob


class ReferenceModels:
    """The run's reference models, handed to population attacks by
    ``ctx.reference_models()`` (trained on first use, shared by every attack).

    - ``count`` (int): number of models M.
    - ``records`` (:class:`Records`): the P reference records the models were trained on
      halves of, as the dataset gives them (e.g. ``records.x`` float32 (P, 1, 28, 28),
      ``records.y`` int64 (P,)). (``pool`` is its name before 0.2.0, deprecated: the run's
      pool is the dataset's records.)
    - ``n_population`` (int): positions ``[0, n_population)`` are the attacker's
      population records, in the order of ``ctx.population``; the remaining positions are the
      evaluation records, in the order of ``ctx.evaluation``.
    - ``population_positions``, ``evaluation_positions``: those two ranges as ``slice``
      objects (not index tensors), usable on the records dimension of every array here.
    - ``in_mask``: bool tensor (M, P); ``in_mask[i, r]`` is True when model i trained on
      reference record r. Each record is IN for exactly ``M // 2`` models.
    - ``signal(name, positions, view)``: (M, n, ...) signal ``name`` (see
      :data:`mia_core.SIGNALS`) of every model on the reference records at ``positions``, as the
      target's models answer (``answering``); the modality-free way to read the models.
    - ``answers()``: every model's answers to every reference record, (M, P, ...), computed
      once and cached (on the CPU); answers that came back from where a model was trained, or
      from the model cache, are used as they are (``queries`` counts the models queried here
      instead). For classifiers these are ``pool_logits()``, float32 (M, P, classes).
    - ``logits(i, x)``: float32 tensor (N, classes), classifier model i on any inputs ``x``.
    - ``view_logits(view, positions)``: (M, n, classes), every classifier on one query view
      of the reference records at ``positions`` (a slice or an index tensor), computed once per
      view and positions and shared by the attacks; the identity view is ``pool_logits()``.
    """

    def __init__(self, records: Records, n_population: int, in_mask: torch.Tensor,
                 models: list[nn.Module], device: torch.device,
                 known: Sequence[torch.Tensor | None] = (),
                 remember: Callable[[int, torch.Tensor], None] | None = None,
                 answers: Answers = CLASS_LOGITS) -> None:
        self.records = records
        self.n_population = n_population
        self.in_mask = in_mask
        self.answering = answers
        self._models = models
        self._device = device
        self._known = list(known) or [None] * len(models)
        self._remember = remember
        self._answers: torch.Tensor | None = None
        self._views: dict[tuple[str, object], torch.Tensor] = {}
        self.queries = 0  # models queried on the reference records here (not given their answers)

    @property
    def count(self) -> int:
        return len(self._models)

    @property
    def pool(self) -> Records:
        """Deprecated name of :attr:`records`."""
        warnings.warn("ReferenceModels.pool is deprecated; use ReferenceModels.records (the "
                      "reference records: population, then evaluation)", DeprecationWarning,
                      stacklevel=2)
        return self.records

    @property
    def population_positions(self) -> slice:
        return slice(0, self.n_population)

    @property
    def evaluation_positions(self) -> slice:
        return slice(self.n_population, len(self.records))

    def answers(self) -> torch.Tensor:
        """Answers of every reference model to every reference record: (count, records, ...)."""
        if self._answers is None:
            self._answers = torch.stack([self._answers_of(i) for i in range(self.count)])
        return self._answers

    def pool_logits(self) -> torch.Tensor:
        """Logits of every reference model on every reference record: (count, records, classes)."""
        self.answering.require("logits")
        return self.answers()

    def _answers_of(self, index: int) -> torch.Tensor:
        known = self._known[index]
        if known is not None:
            return known
        self.queries += 1
        answers = self.answering.answer(self._models[index], self.records, self._device)
        if self._remember is not None:
            self._remember(index, answers)
        return answers

    def signal(self, name: str, positions: slice | torch.Tensor,
               view: QueryAugmentation = IDENTITY) -> torch.Tensor:
        """Signal ``name`` of every model on ``view`` of the reference records at ``positions``:
        (M, n, ...)."""
        self.answering.require(name)
        return self.answering.signal(name, self.view_answers(view, positions),
                                     self.records.subset(_index(positions, len(self.records))))

    def view_answers(self, view: QueryAugmentation,
                     positions: slice | torch.Tensor) -> torch.Tensor:
        """Every model's answers to ``view`` of the reference records at ``positions``:
        (M, n, ...)."""
        if view == IDENTITY:
            return self.answers()[:, positions]
        where = ((positions.start, positions.stop, positions.step)
                 if isinstance(positions, slice) else tuple(positions.tolist()))
        key = (view.name, where)
        if key not in self._views:
            records = self.records.subset(_index(positions, len(self.records)))
            records = records.with_inputs(view(records.x))
            self._views[key] = torch.stack([
                self.answering.answer(self._models[i], records, self._device)
                for i in range(self.count)])
        return self._views[key]

    def view_logits(self, view: QueryAugmentation,
                    positions: slice | torch.Tensor) -> torch.Tensor:
        """Every model on ``view`` of the reference records at ``positions``: (M, n, classes)."""
        self.answering.require("logits")
        return self.view_answers(view, positions)

    def logits(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Query reference model ``index`` on arbitrary inputs: (N, classes) float32."""
        self.answering.require("logits")
        return predict_logits(self._models[index], x, self._device)


def _index(positions: slice | torch.Tensor, size: int) -> torch.Tensor:
    if isinstance(positions, slice):
        return torch.arange(size)[positions]
    return positions


def balanced_in_mask(count: int, records: int, generator: torch.Generator) -> torch.Tensor:
    """(count, records) bool mask: each record IN for exactly ``count // 2`` models."""
    keys = torch.rand(count, records, generator=generator)
    ranks = keys.argsort(dim=0).argsort(dim=0)
    return ranks < count // 2


def reference_jobs(count: int, records: int, seed: int) -> tuple[torch.Tensor, list[TrainJob]]:
    """The IN mask and one job per model, drawn from ``seed`` alone; a job's records are
    positions in the reference records (population, then evaluation records)."""
    generator = torch.Generator().manual_seed(seed)
    mask = balanced_in_mask(count, records, generator)
    seeds = [int(torch.randint(0, 2**62, (1,), generator=generator)) for _ in range(count)]
    return mask, [TrainJob(i, torch.nonzero(mask[i])[:, 0], seeds[i]) for i in range(count)]
