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
- ``exposure`` (Carlini et al. 2019, "The Secret Sharer"): how far the record stands out among
  its neighbours, texts that differ only in its digits (a secret's), or else in a few letters:
  log2(alternatives + 1) - log2(rank of the record's likelihood among them), so an inserted
  secret the model memorised has exposure near the maximum, one it never saw about 1.
- ``blind-ngram`` (after Das et al. 2024, "Blind Baselines Beat Membership Inference Attacks
  for Foundation Models"): a classifier of byte n-grams trained on the known members and
  non-members, that never queries the model. On a random split it can only be at chance; where
  it wins, members and non-members differ as texts (dates, sources), and the benchmark's
  ground truth, not the model, is being measured.
"""

from __future__ import annotations

import math
import zlib

import attrs
import torch

from mia_core import AttackContext, AttackOutput, Records, ThreatModel, best_threshold, option

from .encoding import bytes_of, texts_of


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
class ExposureOptions:
    alternatives: int = option(63, "neighbours each record is ranked among (the largest "
                               "exposure is log2 of this + 1)", _at_least_one)
    letters: int = option(3, "letters changed in a record without digits", _at_least_one)


def neighbours(row: torch.Tensor, count: int, generator: torch.Generator,
               letters: int) -> torch.Tensor:
    """``count`` copies of one record's tokens with every digit byte redrawn (a secret's
    alternatives), or, without digits, ``letters`` of its ASCII letters redrawn; everything
    else (start, end, padding, other bytes) as it was."""
    out = row.repeat(count, 1)
    digits = torch.nonzero((row >= ord("0")) & (row <= ord("9")))[:, 0]
    if len(digits):
        out[:, digits] = torch.randint(ord("0"), ord("9") + 1, (count, len(digits)),
                                       generator=generator)
        return out
    alpha = torch.nonzero(((row >= ord("a")) & (row <= ord("z")))
                          | ((row >= ord("A")) & (row <= ord("Z"))))[:, 0]
    for k in range(count):
        picked = alpha[torch.randperm(len(alpha), generator=generator)[:letters]]
        out[k, picked] = torch.randint(ord("a"), ord("z") + 1, (len(picked),),
                                       generator=generator)
    return out


class Exposure(_Thresholded):
    needs_signals = ("log_likelihood",)

    def __init__(self, options: ExposureOptions) -> None:
        self.options = options

    def statistic(self, ctx: AttackContext, records: Records) -> torch.Tensor:
        o = self.options
        generator = ctx.generator()
        own = ctx.target.signal("log_likelihood", records)
        assert records.lengths is not None
        variants = Records(
            torch.cat([neighbours(row, o.alternatives, generator, o.letters)
                       for row in records.x]),
            lengths=records.lengths.repeat_interleave(o.alternatives))
        others = ctx.target.signal("log_likelihood", variants)
        others = others.reshape(len(records), o.alternatives)
        rank = 1 + (others >= own[:, None]).sum(-1).double()
        return math.log2(o.alternatives + 1) - torch.log2(rank)


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
        known = vectorise.transform(texts_of(ctx.known.data))
        classifier = LogisticRegression(C=1.0, max_iter=1000)
        truth = ctx.known.is_member.numpy().astype(int)
        classifier.fit(known, truth)
        on_known = torch.from_numpy(classifier.decision_function(known)).double()
        scores = torch.from_numpy(
            classifier.decision_function(vectorise.transform(texts_of(ctx.evaluation)))).double()
        return AttackOutput(scores, threshold=best_threshold(on_known, ctx.known.is_member),
                            details={"known_accuracy": round(float(
                                classifier.score(known, truth)), 4)})



