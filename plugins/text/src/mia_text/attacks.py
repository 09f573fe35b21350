"""The language-model attacks that need no reference model, and a blind baseline.

Each scores a record from the target's answers (or, for the blind baseline, from the text
alone) and picks its threshold on the attacker's known members and non-members, like the
core's loss attack. Higher is more member-like throughout.

- ``zlib`` (Carlini et al. 2021, "Extracting Training Data from Large Language Models"): the
  log-likelihood over the text's zlib-compressed length, so text that is merely easy
  (repetitive, common) does not pass for memorised.
- ``min-k`` (Shi et al. 2024, "Detecting Pretraining Data from Large Language Models"): the
  mean log-probability of the record's k % least likely tokens.
- ``min-k-plus-plus`` (Zhang et al. 2024, "Min-K%++"): the same over each token's log-probability
  standardised by the mean and standard deviation of log p under the model's next-token
  distribution.
- ``blind-ngram`` (after Das et al. 2024, "Blind Baselines Beat Membership Inference Attacks
  for Foundation Models"): a classifier of byte n-grams trained on the known members and
  non-members, that never queries the model. On a random split it can only be at chance; where
  it wins, members and non-members differ as texts (dates, sources), and the benchmark's
  ground truth, not the model, is being measured.
"""

from __future__ import annotations

import zlib

import attrs
import torch

from mia_core import AttackContext, AttackOutput, Records, ThreatModel, best_threshold, option

from .encoding import bytes_of


def _fraction(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{attribute.name} must be in (0, 1], got {value}")


class _Thresholded:
    """Score the known records, pick the best threshold there, score the evaluation."""

    threat_model = ThreatModel.KNOWN_MEMBERS

    def statistic(self, ctx: AttackContext, records: Records) -> torch.Tensor:
        raise NotImplementedError

    def score(self, ctx: AttackContext) -> AttackOutput:
        assert ctx.known is not None
        known = self.statistic(ctx, ctx.known.data)
        threshold = best_threshold(known, ctx.known.is_member)
        return AttackOutput(self.statistic(ctx, ctx.evaluation), threshold=threshold)


def zlib_length(text: bytes) -> int:
    """Bytes of ``text`` compressed by zlib at its default level."""
    return len(zlib.compress(text))


class Zlib(_Thresholded):
    needs_signals = ("log_likelihood",)

    def statistic(self, ctx: AttackContext, records: Records) -> torch.Tensor:
        lengths = torch.tensor([zlib_length(bytes_of(records, i)) for i in range(len(records))],
                               dtype=torch.float64)
        return ctx.target.signal("log_likelihood", records) / lengths


def lowest_mean(values: torch.Tensor, k: float) -> torch.Tensor:
    """(N,) the mean of each row's ceil-free share ``k`` of lowest values, at least one,
    ignoring NaN (positions past a record's end)."""
    count = (~values.isnan()).sum(-1)
    take = (count.double() * k).floor().long().clamp_min(1)
    ordered = values.sort(-1).values  # NaN sort last
    keep = torch.arange(values.shape[-1]) < take[..., None]
    return torch.where(keep, ordered, 0.0).sum(-1) / take


@attrs.frozen
class MinKOptions:
    k: float = option(0.2, "share of the record's tokens, least likely first (paper: 0.2)",
                      _fraction)


class MinK(_Thresholded):
    needs_signals = ("token_log_probs",)
    signal = "token_log_probs"

    def __init__(self, options: MinKOptions) -> None:
        self.options = options

    def statistic(self, ctx: AttackContext, records: Records) -> torch.Tensor:
        return lowest_mean(ctx.target.signal(self.signal, records), self.options.k)


class MinKPlusPlus(MinK):
    needs_signals = ("token_zscores",)
    signal = "token_zscores"


def _at_least_one(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen
class BlindOptions:
    n: int = option(3, "longest character n-gram counted", _at_least_one)
    features: int = option(2**16, "hashed feature columns", _at_least_one)


class BlindNgram(_Thresholded):
    """Never queries the model: ``needs_signals`` is empty and the oracle counts no query."""

    needs_signals: tuple[str, ...] = ()

    def __init__(self, options: BlindOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> AttackOutput:
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.linear_model import LogisticRegression

        assert ctx.known is not None
        vectorise = HashingVectorizer(analyzer="char", ngram_range=(1, self.options.n),
                                      n_features=self.options.features, lowercase=False,
                                      alternate_sign=False, norm="l2")
        known = vectorise.transform(_texts(ctx.known.data))
        classifier = LogisticRegression(C=1.0, max_iter=1000)
        truth = ctx.known.is_member.numpy().astype(int)
        classifier.fit(known, truth)
        on_known = torch.from_numpy(classifier.decision_function(known)).double()
        scores = torch.from_numpy(
            classifier.decision_function(vectorise.transform(_texts(ctx.evaluation)))).double()
        return AttackOutput(scores, threshold=best_threshold(on_known, ctx.known.is_member),
                            details={"known_accuracy": round(float(
                                classifier.score(known, truth)), 4)})


def _texts(records: Records) -> list[str]:
    return [bytes_of(records, i).decode("utf-8", errors="replace") for i in range(len(records))]


