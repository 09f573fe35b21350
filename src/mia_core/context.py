"""What an attack may see: query access to the target and the attacker's knowledge.

The attack never receives the target's weights or the evaluation records' membership; the
core keeps those and scores the attack from what it returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import torch
from torch import nn

from mia_core.answers import CLASS_LOGITS, Answers
from mia_core.data import Records
from mia_core.errors import ConfigError, PluginError
from mia_core.progress import QUIET, Progress
from mia_core.queries import IDENTITY, QueryAugmentation
from mia_core.references import ReferenceModels


class AnswersMemo:
    """The target's answers to given record sets (matched by identity of their inputs),
    each computed once, on first use."""

    def __init__(self, model: nn.Module, device: torch.device, records: list[Records],
                 answers: Answers = CLASS_LOGITS) -> None:
        self._model, self._device, self._answers = model, device, answers
        self._records = {id(r.x): r for r in records}
        self._found: dict[int, torch.Tensor] = {}

    def lookup(self, x: torch.Tensor) -> torch.Tensor | None:
        key = id(x)
        records = self._records.get(key)
        if records is None or records.x is not x:
            return None
        if key not in self._found:
            self._found[key] = self._answers.answer(self._model, records, self._device)
        return self._found[key].clone()  # a copy: one attack must not alter another's


LogitsMemo = AnswersMemo  # the name before answers were the target's


class TargetOracle:
    """Black-box query access to a trained model: its answers to records, nothing else.

    ``answers`` says how the model answers (class logits unless the target says otherwise);
    :meth:`signal` reads any signal of them, and :meth:`logits`, :meth:`probabilities` and
    :meth:`loss` are a classifier's. ``memo`` (shared by the oracles of one run) answers for
    the record sets the core hands every attack, so several attacks do not recompute them;
    each oracle counts its own queries, one per record.
    """

    def __init__(self, model: nn.Module, device: torch.device,
                 memo: AnswersMemo | None = None, answers: Answers = CLASS_LOGITS) -> None:
        self._model = model
        self._device = device
        self._memo = memo
        self.answering = answers
        self.queries = 0

    def answers(self, records: Records) -> torch.Tensor:
        """The model's raw answers to ``records`` (for a classifier, its logits)."""
        return self._answer(records)

    def _answer(self, records: Records) -> torch.Tensor:
        self.queries += len(records)
        known = self._memo.lookup(records.x) if self._memo is not None else None
        return known if known is not None else self.answering.answer(self._model, records,
                                                                     self._device)

    def signal(self, name: str, records: Records) -> torch.Tensor:
        """Signal ``name`` (see :data:`mia_core.SIGNALS`) of the model on ``records``."""
        self.answering.require(name)  # refused before any query is counted
        return self.answering.signal(name, self._answer(records), records)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Raw outputs (N, classes), float32 on the CPU."""
        return self.signal("logits", Records(x))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax of the logits (N, classes)."""
        return torch.softmax(self.logits(x), dim=1)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-record cross-entropy loss (N,) for true labels ``y``."""
        return nn.functional.cross_entropy(self.logits(x), y, reduction="none")


class LabelOracle(TargetOracle):
    """A target behind an API that returns predicted labels only: :meth:`labels` answers,
    every output that would leak scores (logits, probabilities, losses, any other signal) is
    refused, naming the attack that asked. Each record queried counts as one query."""

    def __init__(self, model: nn.Module, device: torch.device, attack: str,
                 memo: AnswersMemo | None = None, answers: Answers = CLASS_LOGITS) -> None:
        super().__init__(model, device, memo, answers)
        self._attack = attack

    def labels(self, x: torch.Tensor | Records) -> torch.Tensor:
        """The target's predicted class of each input: int64 (N,) on the CPU."""
        records = x if isinstance(x, Records) else Records(x)
        return TargetOracle.signal(self, "labels", records)

    def signal(self, name: str, records: Records) -> torch.Tensor:
        if name == "labels":
            return self.labels(records)
        raise PluginError(f"attack '{self._attack}' is label-only: the target answers "
                          "predicted labels only (ctx.target.labels(x)), never logits, "
                          f"probabilities, losses or other signals ('{name}')")

    def answers(self, records: Records) -> torch.Tensor:
        return self.signal("answers", records)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.signal("logits", Records(x))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.logits(x)


@attrs.frozen(eq=False)
class KnownRecords:
    """Records whose membership the attacker knows (``is_member[i]`` for ``data`` record i)."""

    data: Records
    is_member: torch.Tensor


@attrs.frozen(eq=False)
class AttackContext:
    """Everything an attack may use; built by the core for the attack's threat model."""

    target: TargetOracle
    evaluation: Records  # a LabeledData for labelled datasets
    known: KnownRecords | None
    device: torch.device
    seed: int
    progress: Progress = QUIET
    population: Records | None = None
    references: Callable[[], ReferenceModels] | None = attrs.field(default=None, repr=False)
    attack: str = ""  # the attack's registered name, for messages
    # the views of a record that keep its label, the record itself first (mia_core.queries)
    augmentations: tuple[QueryAugmentation, ...] = (IDENTITY,)

    @property
    def num_classes(self) -> int | None:
        """The dataset's class count (``None``: its records have no labels)."""
        return self.evaluation.num_classes

    def reference_models(self) -> ReferenceModels:
        """The run's shared reference models (population threat model only)."""
        if self.references is None:
            raise PluginError(f"attack '{self.attack}' asked for reference models, which exist "
                              "only under the population threat model; declare threat_model = "
                              "ThreatModel.POPULATION")
        return self.references()

    def query_views(self, count: int) -> tuple[QueryAugmentation, ...]:
        """The first ``count`` views of each record to query with (the record itself first);
        asking for more than the data has is the user's error, said in one line."""
        if count > len(self.augmentations):
            names = ", ".join(v.name for v in self.augmentations)
            raise ConfigError(f"attack '{self.attack}' asked for {count} queries per record, "
                              f"but these records have {len(self.augmentations)} views "
                              f"({names}); use -o {self.attack}.queries="
                              f"{len(self.augmentations)} or fewer")
        return self.augmentations[:count]

    def generator(self) -> torch.Generator:
        """A fresh CPU generator seeded for this attack."""
        return torch.Generator().manual_seed(self.seed)


@attrs.frozen(eq=False)
class AttackOutput:
    """One membership score per evaluation record (higher = member) and, optionally, the
    decision threshold the attack picked on its own data (used for accuracy/precision/recall).
    """

    scores: torch.Tensor
    threshold: float | None = None
    # what the attack chose on its own data (a fitted parameter, a calibration), kept in
    # results.json: names to numbers, strings or booleans
    details: dict[str, float | int | str | bool] = attrs.field(factory=dict)


def best_threshold(scores: torch.Tensor, is_member: torch.Tensor) -> float:
    """The threshold t maximising balanced accuracy of ``score >= t`` on the attacker's data
    (known members and non-members): what an attack that calibrates a threshold returns."""
    s = scores.double()
    order = s.argsort(descending=True)
    s, m = s[order], is_member[order].double()
    tpr = m.cumsum(0) / m.sum().clamp_min(1)
    fpr = (1 - m).cumsum(0) / (1 - m).sum().clamp_min(1)
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]  # only cut between distinct scores
    gain = torch.where(last, tpr - fpr, torch.tensor(-2.0, dtype=torch.float64))
    return float(s[int(gain.argmax())])


def normalise_output(result: object, expected: int, attack: str) -> AttackOutput:
    """Accept an AttackOutput or a bare tensor of scores; check shape and values."""
    output = result if isinstance(result, AttackOutput) else AttackOutput(result)  # type: ignore[arg-type]
    scores = output.scores
    if not isinstance(scores, torch.Tensor):
        raise PluginError(f"attack '{attack}' returned {type(scores).__name__}, not a tensor of "
                          "scores")
    scores = scores.detach().cpu().reshape(-1).double()
    if scores.numel() != expected:
        raise PluginError(f"attack '{attack}' returned {scores.numel()} scores for {expected} "
                          "evaluation records")
    if not torch.isfinite(scores).all():
        raise PluginError(f"attack '{attack}' returned NaN or infinite scores")
    threshold = output.threshold
    if threshold is not None:
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise PluginError(f"attack '{attack}' returned the threshold {threshold!r}, which "
                              "is not a number") from None
        if not math.isfinite(threshold):
            raise PluginError(f"attack '{attack}' returned a non-finite threshold")
    return AttackOutput(scores, threshold, _checked_details(output.details, attack))


def _checked_details(details: object, attack: str) -> dict[str, float | int | str | bool]:
    if not isinstance(details, dict) or not all(
            isinstance(k, str) and isinstance(v, (bool, int, float, str))
            and (not isinstance(v, float) or math.isfinite(v)) for k, v in details.items()):
        raise PluginError(f"attack '{attack}' returned details that are not a dict of names "
                          "to finite numbers, strings or booleans")
    return dict(details)
