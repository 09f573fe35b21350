"""Bootstrap 95 % intervals for AUC and TPR at low FPR: how much a metric could move with
another draw of the same number of members and non-members.

Members and non-members are resampled separately (a stratified bootstrap keeps the balance
of the evaluation set), ``ROUNDS`` times from one seeded generator, and the interval is the
2.5th to 97.5th percentile of the metric over the resamples. This is an estimate of sampling
noise, not a bound: it says nothing about another target trained on other records.
"""

from __future__ import annotations

import attrs
import numpy as np

from mia_core.fieldmap import FieldMap
from mia_core.results.metrics import roc_auc, roc_curve, tpr_at_fpr

ROUNDS = 200
LEVEL = 0.95


@attrs.frozen
class Intervals(FieldMap):
    """(low, high) 95 % bootstrap intervals of three metrics."""

    auc: tuple[float, float]
    tpr_at_1pct_fpr: tuple[float, float]
    tpr_at_01pct_fpr: tuple[float, float]
    rounds: int = ROUNDS


def bootstrap(is_member: np.ndarray, scores: np.ndarray, seed: int,
              rounds: int = ROUNDS) -> Intervals:
    """Intervals of AUC and TPR at 1 % and 0.1 % FPR from ``rounds`` stratified resamples."""
    labels = np.asarray(is_member, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    members, others = np.flatnonzero(labels), np.flatnonzero(~labels)
    rng = np.random.default_rng(seed)
    truth = np.r_[np.ones(len(members), bool), np.zeros(len(others), bool)]
    values = np.empty((rounds, 3))
    for r in range(rounds):
        pick = np.r_[rng.choice(members, len(members)), rng.choice(others, len(others))]
        drawn = scores[pick]
        fpr, tpr, _ = roc_curve(truth, drawn)
        values[r] = (roc_auc(truth, drawn), tpr_at_fpr(fpr, tpr, 0.01),
                     tpr_at_fpr(fpr, tpr, 0.001))
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail], axis=0)
    return Intervals(*((float(lo), float(hi)) for lo, hi in zip(low, high, strict=True)),
                     rounds=rounds)
