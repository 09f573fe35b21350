"""An attack's scores measured: every metric, ε_lb, the bootstrap intervals and the GDP
estimate, one function for a run's attacks and for ``mia metrics`` on scores from any tool, so
the two give the same numbers."""

from __future__ import annotations

import attrs
import numpy as np

from mia_core.config import derive_seed
from mia_core.results.audit import epsilon_lower_bound
from mia_core.results.bootstrap import bootstrap
from mia_core.results.gdp import estimate_gdp
from mia_core.results.metrics import AttackMetrics, compute_metrics


def measure(is_member: np.ndarray, scores: np.ndarray, threshold: float | None,
            delta: float, attack_seed: int) -> AttackMetrics:
    """Metrics of one attack's scores (higher = member); ε_lb at ``delta`` from a split
    drawn with the attack's seed (in a run: :func:`audit_seed` of the run's seed)."""
    metrics = compute_metrics(is_member, scores, threshold)
    bound = epsilon_lower_bound(is_member, scores, delta, seed=attack_seed)
    intervals = bootstrap(is_member, scores, seed=attack_seed)
    return attrs.evolve(metrics, epsilon_lb=bound.epsilon, intervals=intervals,
                        gdp=estimate_gdp(metrics.auc, intervals.auc, delta))


# Members and non-members each below which no metric can tell an attack from chance: with 30
# a side, AUC's 95 % band around 0.5 is already +-0.15 (Hanley & McNeil 1982: its standard
# error is sqrt((m + n + 1) / (12 m n)) at 0.5), and one false positive is 3.3 % FPR.
MIN_PER_SIDE = 30


def sample_warning(members: int, nonmembers: int) -> str | None:
    """Why ``members`` and ``nonmembers`` are too few to measure an attack, or ``None``."""
    if min(members, nonmembers) >= MIN_PER_SIDE:
        return None
    band = 1.96 * float(np.sqrt((members + nonmembers + 1) / (12 * max(members, 1)
                                                                * max(nonmembers, 1))))
    return (f"too few records to measure an attack: {members} members and {nonmembers} "
            f"non-members were scored (at least {MIN_PER_SIDE} of each are needed); chance "
            f"alone spreads the AUC over 0.5 ± {min(band, 0.5):.2f} here, so no number below "
            "tells an attack from a coin; evaluate more records")


def audit_seed(seed: int, name: str) -> int:
    """Attack ``name``'s seed in a run of ``seed``: what its scoring and its ε audit draw."""
    return derive_seed(seed, f"attack:{name}")
