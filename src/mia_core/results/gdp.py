"""Gaussian differential privacy (Dong, Roth & Su 2022): an estimate of μ from an attack's
scores, and the f-DP one-run canary bound (Mahloujifar, Melis & Chaudhuri 2024).

A mechanism is μ-GDP when no test tells "record in" from "record out" better than telling
N(μ, 1) from N(0, 1). DP-SGD's privacy curve is close to Gaussian, which is why both numbers
are stated as μ and as the ε a μ-GDP mechanism has at δ.

- :func:`estimate_gdp` is an **estimate under an assumption**: if the attack's ROC is the
  Gaussian trade-off curve (member and non-member scores two unit-variance normals), its AUC
  is Φ(μ / √2), so μ = √2 Φ⁻¹(AUC); the 95 % interval maps the AUC's bootstrap interval the
  same way. It uses the whole curve, so it is far less noisy than a bound, and it can lie in
  either direction when the curve is not Gaussian.
- :func:`fdp_one_run_mu` is a **bound** (95 %) on μ-GDP claims from one training run with
  canaries: the largest μ whose trade-off curve makes the observed number of right guesses
  improbable. It rejects "the training is μ-GDP", and through :func:`gdp_epsilon` the claim
  "the training has the privacy curve of a Gaussian mechanism with ε at δ"; it is not a bound
  on every (ε, δ) claim (``ε_lb`` and the Steinke bound are).
"""

from __future__ import annotations

import math

import attrs
from scipy.optimize import brentq
from scipy.special import log_ndtr, ndtr, ndtri

from mia_core.fieldmap import FieldMap

MU_MAX = 50.0  # beyond this every ε the conversions return is meaningless anyway


def gdp_delta(mu: float, epsilon: float) -> float:
    """The δ(ε) of a μ-GDP mechanism: Φ(-ε/μ + μ/2) - e^ε Φ(-ε/μ - μ/2)."""
    if mu <= 0:
        return 0.0
    first = ndtr(-epsilon / mu + mu / 2)
    second = math.exp(epsilon + log_ndtr(-epsilon / mu - mu / 2))
    return max(float(first - second), 0.0)


def gdp_epsilon(mu: float, delta: float) -> float:
    """The smallest ε with δ(ε) ≤ ``delta`` for a μ-GDP mechanism (0 when μ = 0)."""
    if mu <= 0 or gdp_delta(mu, 0.0) <= delta:
        return 0.0
    if not 0 < delta < 1:
        return math.inf
    high = 1.0
    while gdp_delta(mu, high) > delta:
        high *= 2
    return float(brentq(lambda e: gdp_delta(mu, e) - delta, 0.0, high, xtol=1e-9))


def gdp_mu(epsilon: float, delta: float) -> float:
    """The largest μ whose mechanism is (ε, δ)-DP: the inverse of :func:`gdp_epsilon`."""
    if gdp_delta(MU_MAX, epsilon) <= delta:
        return MU_MAX
    return float(brentq(lambda m: gdp_delta(m, epsilon) - delta, 1e-12, MU_MAX, xtol=1e-10))


def mu_from_auc(auc: float) -> float:
    """μ of the Gaussian trade-off curve with this AUC (0 at or below chance)."""
    if auc <= 0.5:
        return 0.0
    if auc >= 1.0:
        return MU_MAX
    return min(math.sqrt(2) * float(ndtri(auc)), MU_MAX)


@attrs.frozen
class GdpEstimate(FieldMap):
    """μ and ε at ``delta`` estimated from one attack's AUC, each with its 95 % interval.
    ``unbounded``: the AUC is 1 (every member above every non-member), which no finite μ
    gives; ``mu`` and ``epsilon`` then hold the largest μ computed (``MU_MAX``) and its ε, a
    cap rather than an estimate, and are shown as "unbounded"."""

    mu: float
    mu_interval: tuple[float, float]
    epsilon: float
    epsilon_interval: tuple[float, float]
    delta: float
    unbounded: bool = False


def estimate_gdp(auc: float, auc_interval: tuple[float, float], delta: float) -> GdpEstimate:
    """The GDP estimate from an AUC and its bootstrap interval (both mapped by μ(AUC), which
    is monotone, so the interval keeps its coverage)."""
    mus = [mu_from_auc(a) for a in (auc, *auc_interval)]
    eps = [gdp_epsilon(m, delta) for m in mus]
    return GdpEstimate(mus[0], (mus[1], mus[2]), eps[0], (eps[1], eps[2]), delta,
                       unbounded=mus[0] >= MU_MAX)


def _blow_up_inverse(mu: float, x: float) -> float:
    """The inverse of x ↦ 1 - f(x) for the Gaussian trade-off f of μ: Φ(Φ⁻¹(x) - μ)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    return float(ndtr(ndtri(x) - mu))


def fdp_rejects(mu: float, canaries: int, guesses: int, correct: int, alpha: float) -> bool:
    """Whether ``correct`` right of ``guesses`` guesses on ``canaries`` canaries (each trained
    on with probability 1/2) rejects "the training is μ-GDP" at level ``alpha``.

    Mahloujifar et al.'s recursion: starting from the masses alpha·correct/m (right) and
    alpha·wrong/m (wrong), walk down one right guess at a time; the trade-off curve forces the
    wrong mass up to at least Φ(Φ⁻¹(right) - μ), and each rise moves right mass in proportion.
    The claim is rejected when the two masses together would exceed the share guessed.
    """
    if not 0 <= correct <= guesses <= canaries or guesses == 0:
        return False
    right = alpha * correct / canaries
    wrong = alpha * (guesses - correct) / canaries
    for i in range(correct - 1, -1, -1):
        raised = max(wrong, _blow_up_inverse(mu, right))
        if raised == wrong:
            break  # neither mass can change again
        right = min(right + i / (guesses - i) * (raised - wrong), 1.0)
        wrong = raised
    return right + wrong > guesses / canaries


def fdp_one_run_mu(canaries: int, guesses: int, correct: int, alpha: float = 0.05) -> float:
    """The largest μ rejected at level ``alpha`` (0 when even μ = 0 stands)."""
    if not fdp_rejects(0.0, canaries, guesses, correct, alpha):
        return 0.0
    if fdp_rejects(MU_MAX, canaries, guesses, correct, alpha):
        return MU_MAX
    low, high = 0.0, MU_MAX
    for _ in range(50):  # bisection: a larger μ is harder to reject
        mid = (low + high) / 2
        low, high = (mid, high) if fdp_rejects(mid, canaries, guesses, correct, alpha) \
            else (low, mid)
    return low
