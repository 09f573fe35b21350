"""Attack metrics, computed by the core from membership scores (higher = more likely member).

Exact ROC and AUC with ties handled (tied scores form one ROC point; AUC counts a tied
member/non-member pair as one half), matching scikit-learn's ``roc_curve``/``roc_auc_score``.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from mia_core.fieldmap import FieldMap

LOW_FPRS = (0.01, 0.001, 0.0)


@attrs.frozen
class AttackMetrics:
    """How well one attack's scores separate members from non-members."""

    accuracy: float
    precision: float
    recall: float
    auc: float
    advantage: float
    tpr_at_1pct_fpr: float
    tpr_at_01pct_fpr: float
    tpr_at_0_fpr: float
    threshold: float
    threshold_source: str
    epsilon_lb: float = 0.0  # 95 % lower bound on epsilon at the run's delta (mia_core.audit)
    intervals: Any = None  # 95 % bootstrap intervals (mia_core.results.bootstrap.Intervals)
    gdp: Any = None  # μ-GDP estimate from the AUC (mia_core.results.gdp.GdpEstimate)
    fpr_step: float = 0.0  # one false positive's share of the non-members (0: not recorded)


# The false-positive rate each TPR is read at. With N non-members the FPR moves in steps of
# 1/N: a rate below one step cannot be told from 0 ("not resolvable").
RATES = {"tpr_at_1pct_fpr": 0.01, "tpr_at_01pct_fpr": 0.001}


def resolves(rate: float, fpr_step: float) -> bool:
    """Whether a false-positive ``rate`` is at least one false positive (``fpr_step``)."""
    return fpr_step <= rate * (1 + 1e-9)


def unresolved(key: str, fpr_step: float) -> bool:
    """Whether metric ``key`` asks for an FPR below one false positive (``fpr_step``)."""
    return key in RATES and not resolves(RATES[key], fpr_step)


@attrs.frozen
class ClassMetrics(FieldMap):
    """One attack on the evaluation records of one true class (metrics ``None`` when the
    class lacks members or non-members there)."""

    members: int
    nonmembers: int
    auc: float | None = None
    advantage: float | None = None
    accuracy: float | None = None
    tpr_at_1pct_fpr: float | None = None


def roc_curve(is_member: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """(fpr, tpr, thresholds), one point per distinct score, starting at (0, 0) with +inf."""
    labels = np.asarray(is_member, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    _require_both_classes(labels)
    order = np.argsort(-scores, kind="mergesort")
    s, lab = scores[order], labels[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(lab)[last_of_run]
    fps = (last_of_run + 1) - tps
    tpr = np.r_[0.0, tps / labels.sum()]
    fpr = np.r_[0.0, fps / (~labels).sum()]
    return fpr, tpr, np.r_[np.inf, s[last_of_run]]


def roc_auc(is_member: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a member > score of a non-member) + ties / 2."""
    labels = np.asarray(is_member, dtype=bool)
    _require_both_classes(labels)
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    n_pos, n_neg = labels.sum(), (~labels).sum()
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, max_fpr: float) -> float:
    """Highest TPR among thresholds whose FPR is at most ``max_fpr``."""
    return float(tpr[fpr <= max_fpr + 1e-12].max())


def compute_metrics(is_member: np.ndarray, scores: np.ndarray,
                    threshold: float | None) -> AttackMetrics:
    """All metrics for one attack; predictions are ``score >= threshold``.

    Without a threshold from the attack, the higher-scoring half of the (balanced) evaluation
    set is predicted to be members.
    """
    labels = np.asarray(is_member, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    source = "attack"
    if threshold is None:
        threshold, source = float(np.median(scores)), "median"
    predicted = scores >= threshold
    tp = int((predicted & labels).sum())
    fpr, tpr, _ = roc_curve(labels, scores)
    return AttackMetrics(
        accuracy=float((predicted == labels).mean()),
        precision=tp / int(predicted.sum()) if predicted.any() else 0.0,
        recall=tp / int(labels.sum()),
        auc=roc_auc(labels, scores),
        advantage=float((tpr - fpr).max()),
        tpr_at_1pct_fpr=tpr_at_fpr(fpr, tpr, 0.01),
        tpr_at_01pct_fpr=tpr_at_fpr(fpr, tpr, 0.001),
        tpr_at_0_fpr=tpr_at_fpr(fpr, tpr, 0.0),
        threshold=float(threshold),
        threshold_source=source,
        fpr_step=1.0 / max(int((~labels).sum()), 1),
    )


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_vals)) + 1]
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _require_both_classes(labels: np.ndarray) -> None:
    if labels.all() or not labels.any():
        raise ValueError("metrics need at least one member and one non-member")


def per_class_metrics(is_member: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                      threshold: float | None) -> dict[str, ClassMetrics]:
    """Metrics of one attack on the evaluation records of each true class."""
    out: dict[str, ClassMetrics] = {}
    for cls in np.unique(labels):
        rows = labels == cls
        members = int(is_member[rows].sum())
        nonmembers = int(rows.sum()) - members
        entry = ClassMetrics(members, nonmembers)
        if members and nonmembers:
            m = compute_metrics(is_member[rows], scores[rows], threshold)
            entry = ClassMetrics(members, nonmembers, m.auc, m.advantage, m.accuracy,
                                 m.tpr_at_1pct_fpr)
        out[str(int(cls))] = entry
    return out
