"""Repeating an experiment over seeds: mean and 95 % confidence interval per metric."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import attrs

from mia_core.results.metrics import unresolved
from mia_core.results.types import ExperimentResult

METRICS = ("auc", "advantage", "accuracy", "tpr_at_1pct_fpr", "tpr_at_01pct_fpr",
           "tpr_at_0_fpr", "epsilon_lb")
# Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@attrs.frozen
class Interval:
    mean: float
    low: float
    high: float
    n: int


def interval(values: Sequence[float]) -> Interval:
    """Mean with a 95 % t-interval (the interval is the mean itself for one value)."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return Interval(mean, mean, mean, n)
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    half = t * statistics.stdev(values) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


@attrs.frozen
class SeedSummary:
    """A metric-by-metric summary of the same experiment over several seeds."""

    seeds: list[int]
    target_train_accuracy: Interval
    target_test_accuracy: Interval
    # attack -> metric -> interval; None for a TPR at an FPR some seed's non-members cannot
    # resolve (one false positive is already more), which no mean can make resolvable
    attacks: dict[str, dict[str, Interval | None]]

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def aggregate(results: Sequence[ExperimentResult]) -> SeedSummary:
    """Per attack and metric, and for the target's accuracies: mean and 95 % interval (none
    for a rate some seed cannot resolve)."""
    attacks: dict[str, dict[str, Interval | None]] = {}
    for name in [a.name for a in results[0].attacks]:
        reports = [next(a for a in r.attacks if a.name == name) for r in results]
        attacks[name] = {
            m: None if any(unresolved(m, a.metrics.fpr_step) for a in reports)
            else interval([getattr(a.metrics, m) for a in reports]) for m in METRICS}
    return SeedSummary(
        seeds=[r.config.seed for r in results],
        target_train_accuracy=interval([r.target_train_accuracy for r in results]),
        target_test_accuracy=interval([r.target_test_accuracy for r in results]),
        attacks=attacks,
    )


def format_aggregate(summary: SeedSummary) -> str:
    seeds = summary.seeds
    names = list(summary.attacks)
    width = max([6, *(len(n) for n in names)])
    cols = ("AUC", "adv", "acc", "TPR@1%", "TPR@.1%", "TPR@0%", "ε_lb")
    lines = [
        f"{len(seeds)} seeds ({', '.join(map(str, seeds))}): mean [95% interval]",
        "target: train accuracy " + _fmt(summary.target_train_accuracy) +
        ", test accuracy " + _fmt(summary.target_test_accuracy),
        "",
        f"{'attack':<{width}} " + " ".join(f"{c:>23}" for c in cols),
    ]
    for name in names:
        row = summary.attacks[name]
        lines.append(f"{name:<{width}} " + " ".join(f"{_fmt(row[m]):>23}" for m in METRICS))
    if any(v is None for row in summary.attacks.values() for v in row.values()):
        lines.append("n/r: not resolvable: in some seed one false positive is already more "
                     "than that false-positive rate")
    return "\n".join(lines)


def _fmt(i: Interval | None) -> str:
    return "n/r" if i is None else f"{i.mean:.4f} [{i.low:.4f},{i.high:.4f}]"
