"""Empirical privacy auditing: a statistically valid lower bound on epsilon from an attack.

An (epsilon, delta)-DP training algorithm bounds every membership test: with false-positive
rate FPR and false-negative rate FNR, ``FPR + e^eps * FNR >= 1 - delta`` and
``FNR + e^eps * FPR >= 1 - delta`` (Kairouz et al. 2015; used for auditing by Jagielski et al.
2020 and Nasr et al. 2021). An attack that reaches low FPR and FNR therefore proves
``eps >= max(log((1 - delta - FPR) / FNR), log((1 - delta - FNR) / FPR))``.

The rates are estimated from finitely many records, so they are replaced by one-sided
Clopper-Pearson upper bounds (level alpha/2 each, Bonferroni over the two rates). The decision
threshold is picked on one random half of the evaluation records and the bound is computed on
the other half: picking the best of many thresholds on the same records it is judged on would
overstate epsilon (a multiple-comparisons effect), and a held-out half keeps the 1 - alpha
guarantee exact at the cost of half the records. The result holds with probability at least
1 - alpha over the draw of the evaluation records; it says "the model leaks at least this
much", never "at most".
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from scipy.special import betaincinv

from mia_core.fieldmap import FieldMap
from mia_core.results.gdp import fdp_one_run_mu, gdp_epsilon

DEFAULT_DELTA = 1e-5  # the delta the bound is stated at when the target is not trained with DP
DEFAULT_ALPHA = 0.05  # one-sided 95 % confidence


@attrs.frozen
class EpsilonBound:
    """``epsilon``: the lower bound (0 when the attack proves nothing); ``threshold``: the
    decision threshold chosen on the selection half; counts on the held-out half."""

    epsilon: float
    delta: float
    alpha: float
    threshold: float
    false_positives: int
    nonmembers: int
    false_negatives: int
    members: int


def clopper_pearson_upper(k: np.ndarray | int, n: np.ndarray | int,
                          alpha: float) -> np.ndarray:
    """One-sided upper confidence bound (level 1 - alpha) on a binomial rate, k of n."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = betaincinv(k + 1, np.maximum(n - k, 1e-300), 1 - alpha)
    return np.where(k >= n, 1.0, upper)


def epsilon_from_rates(fpr: np.ndarray, fnr: np.ndarray, delta: float) -> np.ndarray:
    """The epsilon that rates (FPR, FNR) of one test prove at delta (0: they prove nothing)."""
    fpr, fnr = np.asarray(fpr, dtype=np.float64), np.asarray(fnr, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        one = np.log((1 - delta - fpr) / fnr)
        two = np.log((1 - delta - fnr) / fpr)
    best = np.fmax(np.nan_to_num(one, nan=0.0, posinf=np.inf, neginf=0.0),
                   np.nan_to_num(two, nan=0.0, posinf=np.inf, neginf=0.0))
    return np.maximum(best, 0.0)


def _bounds_per_threshold(labels: np.ndarray, scores: np.ndarray, delta: float,
                          alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct score t (guess "member" when score >= t): the bound, and t."""
    order = np.argsort(-scores, kind="mergesort")
    s, lab = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(lab)[last]
    fp = (last + 1) - tp
    n_pos, n_neg = int(lab.sum()), int((~lab).sum())
    fn = n_pos - tp
    fpr_u = clopper_pearson_upper(fp, n_neg, alpha / 2)
    fnr_u = clopper_pearson_upper(fn, n_pos, alpha / 2)
    return epsilon_from_rates(fpr_u, fnr_u, delta), s[last]


def epsilon_lower_bound(is_member: np.ndarray, scores: np.ndarray,
                        delta: float = DEFAULT_DELTA, alpha: float = DEFAULT_ALPHA,
                        seed: int = 0) -> EpsilonBound:
    """A 1 - alpha lower bound on epsilon at ``delta`` from membership scores (higher =
    member)."""
    labels = np.asarray(is_member, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if not 0 <= delta < 1 or not 0 < alpha < 1:
        raise ValueError(f"need 0 <= delta < 1 and 0 < alpha < 1, got {delta}, {alpha}")
    rng = np.random.default_rng(seed)
    select = np.zeros(len(labels), dtype=bool)  # half of each class picks the threshold
    for cls in (True, False):
        rows = np.flatnonzero(labels == cls)
        select[rng.permutation(rows)[: len(rows) // 2]] = True
    held = ~select
    n_pos, n_neg = int(labels[held].sum()), int((~labels[held]).sum())
    if min(int(labels[select].sum()), int((~labels[select]).sum()), n_pos, n_neg) == 0:
        return EpsilonBound(0.0, delta, alpha, math.inf, 0, n_neg, n_pos, n_pos)
    bounds, thresholds = _bounds_per_threshold(labels[select], scores[select], delta,
                                                     alpha)
    threshold = float(thresholds[int(np.argmax(bounds))])
    guess = scores[held] >= threshold
    fp = int((guess & ~labels[held]).sum())
    fn = int((~guess & labels[held]).sum())
    epsilon = float(epsilon_from_rates(clopper_pearson_upper(fp, n_neg, alpha / 2),
                                       clopper_pearson_upper(fn, n_pos, alpha / 2), delta))
    return EpsilonBound(epsilon, delta, alpha, threshold, fp, n_neg, fn, n_pos)


# --- one-run audit with canaries (Steinke, Nasr & Jagielski 2023) ---------------------------
CANARY_GUESS_FRACTION = 0.1  # guess "IN" for the top 10 % of canary scores, "OUT" for the bottom


@attrs.frozen
class CanaryAudit(FieldMap):
    """``canaries`` records, each trained on with probability 1/2; the attack guessed on
    ``guesses`` of them (top and bottom scores) and got ``correct`` right. ``epsilon`` is
    Steinke et al.'s bound (any (ε, δ) claim); ``fdp_mu`` the f-DP bound on μ-GDP claims from
    the same guesses and ``fdp_epsilon`` its ε at ``delta`` (mia_core.results.gdp).
    ``mean_included`` / ``mean_excluded``: the attack's mean score on the canaries trained on
    and on the others (with an exposure score, the Secret Sharer's comparison)."""

    epsilon: float
    delta: float
    alpha: float
    canaries: int
    guesses: int
    correct: int
    fdp_mu: float = 0.0
    fdp_epsilon: float = 0.0
    mean_included: float | None = None
    mean_excluded: float | None = None


def one_run_p_value(canaries: int, guesses: int, correct: int, epsilon: float,
                    delta: float) -> float:
    """P[at least ``correct`` right of ``guesses``] if training were (epsilon, delta)-DP.

    With delta = 0 the number right is dominated by Binomial(guesses, e^eps / (1 + e^eps));
    delta adds at most 2 * canaries * delta * max_i P[correct > Binomial >= correct - i] / i
    (the paper's Theorem 3.3 and its Algorithm 2).
    """
    from scipy.stats import binom

    if not 0 <= correct <= guesses <= canaries:
        raise ValueError(f"need 0 <= correct <= guesses <= canaries, got {correct}, {guesses}, "
                         f"{canaries}")
    q = 1 / (1 + math.exp(-epsilon))
    tail = float(binom.sf(correct - 1, guesses, q))
    if delta == 0 or correct == 0:
        return min(tail, 1.0)
    below = np.cumsum(binom.pmf(correct - np.arange(1, correct + 1), guesses, q))
    worst = float((below / np.arange(1, correct + 1)).max())
    return min(tail + 2 * canaries * delta * worst, 1.0)


def one_run_epsilon(canaries: int, guesses: int, correct: int, delta: float = DEFAULT_DELTA,
                    alpha: float = DEFAULT_ALPHA) -> float:
    """The largest epsilon rejected at level alpha: a 1 - alpha lower bound (0 if none)."""
    if one_run_p_value(canaries, guesses, correct, 0.0, delta) >= alpha:
        return 0.0
    low, high = 0.0, 1.0
    while one_run_p_value(canaries, guesses, correct, high, delta) < alpha:
        low, high = high, high * 2
        if high > 1e3:
            return math.inf
    for _ in range(60):  # bisection: p-value grows with epsilon
        mid = (low + high) / 2
        if one_run_p_value(canaries, guesses, correct, mid, delta) < alpha:
            low = mid
        else:
            high = mid
    return low


def canary_audit(included: np.ndarray, scores: np.ndarray, delta: float = DEFAULT_DELTA,
                 alpha: float = DEFAULT_ALPHA,
                 fraction: float = CANARY_GUESS_FRACTION) -> CanaryAudit:
    """Guess IN for the top ``fraction`` of canary scores and OUT for the bottom ``fraction``
    (fixed in advance, so no choice is fitted to the outcome), count the right guesses and
    turn them into an epsilon lower bound."""
    included = np.asarray(included, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    k = int(len(scores) * fraction)
    order = np.argsort(-scores, kind="mergesort")
    correct = int(included[order[:k]].sum()) + int((~included[order[len(scores) - k:]]).sum())
    guesses = 2 * k if k else 0
    epsilon = one_run_epsilon(len(scores), guesses, correct, delta, alpha) if guesses else 0.0
    mu = fdp_one_run_mu(len(scores), guesses, correct, alpha)
    return CanaryAudit(epsilon, delta, alpha, len(scores), guesses, correct, mu,
                       gdp_epsilon(mu, delta), _mean(scores[included]), _mean(scores[~included]))


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None
