"""How a target's models answer records, and the per-record signals attacks read from them.

The core never assumes a model answers with logits over classes: the target says how its
models answer (an :class:`Answers`, classifiers' being :data:`CLASS_LOGITS`), and every oracle,
cache and check goes through it. Attacks read *signals*, named functions of the answers and
the records: a classifier gives ``logits``, ``labels``, ``log_likelihood`` and ``confidence``;
a language model would give ``log_likelihood`` and ``confidence`` from the log-probabilities of
a record's own tokens (never the whole vocabulary). An attack that reads only the signals a
modality defines works on that modality unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import attrs
import torch
from torch import nn
from torch.nn import functional as F

from mia_core.capabilities import capable
from mia_core.data import Records
from mia_core.errors import PluginError

# The signals with a meaning every modality shares; a modality may define more.
SIGNALS: dict[str, str] = {
    "logits": "(..., N, classes) float32: raw outputs over classes",
    "labels": "(..., N) int64: the class the model predicts (all a label-only attacker sees)",
    "log_likelihood": "(..., N) float64: the mean log-probability the model gives the "
                      "record's own answer (a class: log p(y | x); a sequence: the mean over "
                      "its tokens); higher is more member-like",
    "confidence": "(..., N) float64: LiRA's per-record statistic, roughly Gaussian over "
                  "models (a class: log(p_y / (1 - p_y)), computed stably)",
}

Answer = Callable[[nn.Module, Records, torch.device], torch.Tensor]
Signal = Callable[[torch.Tensor, Records], torch.Tensor]


def _no_problem(answers: torch.Tensor, records: Records) -> str | None:
    return None


@attrs.frozen
class Answers:
    """How one modality's models answer and what signals their answers give.

    - ``answer(model, records, device)``: the model's answers to ``records``, float32 on the
      CPU, one row per record; kept per model (cached beside reference models), so it must be
      small per record: class logits, or per-token log-probabilities, never a vocabulary.
    - ``signals``: name -> ``signal(answers, records)``, where ``answers`` may carry leading
      dimensions (models) before the records'; see :data:`SIGNALS` for the shared names.
    - ``problem(answers, records)``: why answers are malformed (wrong shape, not finite), or
      ``None``; run on every model trained, so a broken model is found at once.
    - ``accuracy(answers, records)``: the share of records answered right, where the modality
      has such a thing (``None``: it has none, and the run reports none).
    """

    name: str
    answer: Answer
    signals: Mapping[str, Signal]
    problem: Callable[[torch.Tensor, Records], str | None] = _no_problem
    accuracy: Callable[[torch.Tensor, Records], float] | None = None

    def require(self, name: str) -> None:
        """Refuse a signal these answers do not give, naming the ones they do."""
        if name not in self.signals:
            raise PluginError(f"the target's models answer with {self.name}, which give no "
                              f"'{name}' signal (they give: {', '.join(sorted(self.signals))})")

    def signal(self, name: str, answers: torch.Tensor, records: Records) -> torch.Tensor:
        """Signal ``name`` of ``answers`` on ``records``."""
        self.require(name)
        return self.signals[name](answers, records)


@runtime_checkable
class AnsweringTarget(Protocol):
    """A target whose models answer other than with logits over classes (say, a language
    model's per-token log-probabilities): ``answers`` says how."""

    answers: Answers


def answers_of(target: object) -> Answers:
    """How ``target``'s models answer: its own :class:`Answers`, else class logits."""
    if not capable(target, AnsweringTarget):
        return CLASS_LOGITS
    answers = target.answers  # type: ignore[attr-defined]
    if not isinstance(answers, Answers):
        raise PluginError(f"the target's answers is a {type(answers).__name__}, not a "
                          "mia_core.Answers")
    return answers


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, device: torch.device,
                   batch_size: int = 2048) -> torch.Tensor:
    """Logits for ``x`` (float32, on the CPU), computed in chunks in fp32 and eval mode."""
    model.eval()
    chunks = [model(x[i:i + batch_size].to(device)).float().cpu()
              for i in range(0, x.shape[0], batch_size)]
    return torch.cat(chunks) if chunks else torch.empty(0)


def true_log_prob(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p(y | x) for each record; works on (..., N, C) logits."""
    log_probs = F.log_softmax(logits.double(), dim=-1)
    return log_probs.gather(-1, y.expand(*logits.shape[:-1]).unsqueeze(-1)).squeeze(-1)


def scaled_confidence(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """LiRA's statistic log(p / (1 - p)) for the true class, computed stably from logits:
    z_y - logsumexp_{j != y} z_j (no saturation at p = 1 in float)."""
    z = logits.double()
    index = y.expand(*z.shape[:-1]).unsqueeze(-1)
    true = z.gather(-1, index).squeeze(-1)
    others = z.scatter(-1, index, float("-inf")).logsumexp(-1)
    return true - others


def _labels_of(records: Records) -> torch.Tensor:
    if records.y is None:
        raise PluginError("class logits need labelled records for this signal; the dataset's "
                          "records have no labels")
    return records.y


def _logits_problem(logits: torch.Tensor, records: Records) -> str | None:
    expected = (len(records), records.num_classes)
    if records.num_classes is not None and tuple(logits.shape) != expected:
        return (f"its model returns outputs of shape {tuple(logits.shape)} for {expected[0]} "
                f"records; expected logits of shape {expected}")
    if logits.dim() != 2 or logits.shape[0] != len(records):
        return (f"its model returns outputs of shape {tuple(logits.shape)} for "
                f"{len(records)} records; expected logits, one row per record")
    if not torch.isfinite(logits).all():
        return "its trained model outputs NaN or infinite logits"
    return None


def _accuracy(logits: torch.Tensor, records: Records) -> float:
    if len(records) == 0:
        return float("nan")
    return float((logits.argmax(-1) == _labels_of(records)).double().mean())


def _answer_logits(model: nn.Module, records: Records, device: torch.device) -> torch.Tensor:
    return predict_logits(model, records.x, device)


def _logits(z: torch.Tensor, records: Records) -> torch.Tensor:
    return z


def _predicted(z: torch.Tensor, records: Records) -> torch.Tensor:
    return z.argmax(-1)


def _log_likelihood(z: torch.Tensor, records: Records) -> torch.Tensor:
    return true_log_prob(z, _labels_of(records))


def _confidence(z: torch.Tensor, records: Records) -> torch.Tensor:
    return scaled_confidence(z, _labels_of(records))


# Named functions, not lambdas: an Answers travels to worker processes with its target.
CLASS_LOGITS = Answers(
    name="logits over classes",
    answer=_answer_logits,
    signals={"logits": _logits, "labels": _predicted, "log_likelihood": _log_likelihood,
             "confidence": _confidence},
    problem=_logits_problem,
    accuracy=_accuracy,
)
