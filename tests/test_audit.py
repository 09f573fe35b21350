"""The epsilon lower bound against mechanisms whose privacy is known exactly."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import beta, norm

from mia_core.results.audit import clopper_pearson_upper, epsilon_from_rates, epsilon_lower_bound


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 100), (50, 100), (99, 100), (7, 7)])
def test_clopper_pearson_upper_is_the_beta_quantile(k, n):
    expected = 1.0 if k == n else beta.ppf(0.95, k + 1, n - k)
    assert float(clopper_pearson_upper(k, n, 0.05)) == pytest.approx(expected, rel=1e-9)


def test_epsilon_from_rates_takes_the_stronger_inequality():
    assert float(epsilon_from_rates(0.1, 0.2, 0.0)) == pytest.approx(math.log(8.0))
    assert float(epsilon_from_rates(0.2, 0.1, 0.0)) == pytest.approx(math.log(8.0))
    assert float(epsilon_from_rates(0.5, 0.5, 0.0)) == 0.0  # chance proves nothing
    assert float(epsilon_from_rates(0.6, 0.6, 0.0)) == 0.0  # worse than chance: still 0
    with_delta = float(epsilon_from_rates(0.1, 0.2, 0.05))
    assert with_delta == pytest.approx(math.log(0.75 / 0.1))  # delta weakens the bound


def randomized_response(eps, n, seed):
    """Members answer 1 with probability e^eps / (1 + e^eps), non-members with the rest:
    exactly eps-DP (delta = 0), and the best test reaches it."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2 == 0
    p = math.exp(eps) / (1 + math.exp(eps))
    truthful = rng.random(n) < p
    return labels, np.where(labels, truthful, ~truthful).astype(float)


def test_bound_exceeds_the_true_epsilon_at_most_at_the_stated_rate():
    eps = 1.5
    bounds = [epsilon_lower_bound(*randomized_response(eps, 2000, seed), delta=0.0,
                                  seed=seed).epsilon for seed in range(200)]
    assert np.mean(np.array(bounds) > eps) <= 0.05
    assert np.mean(bounds) > 0.6 * eps  # and it is not vacuous


def test_bound_comes_close_with_many_samples():
    eps = 2.0
    bound = epsilon_lower_bound(*randomized_response(eps, 400_000, 7), delta=0.0)
    assert 0.93 * eps < bound.epsilon <= eps
    assert bound.threshold == 1.0 and bound.members == bound.nonmembers == 100_000


def gaussian_epsilon(mu, delta):
    """Exact epsilon(delta) of a Gaussian mechanism whose outputs differ by mu standard
    deviations (Balle & Wang 2018)."""
    def excess(eps):
        return norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2) - delta
    return brentq(excess, 0.0, 50.0)


def test_gaussian_scores_never_prove_more_than_the_mechanism_allows():
    mu, delta = 2.0, 1e-5
    true_eps = gaussian_epsilon(mu, delta)
    bounds = []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        labels = np.arange(4000) % 2 == 0
        scores = rng.normal(np.where(labels, mu, 0.0), 1.0)
        bounds.append(epsilon_lower_bound(labels, scores, delta=delta, seed=seed).epsilon)
    assert np.mean(np.array(bounds) > true_eps) <= 0.05
    assert 0 < np.median(bounds) < true_eps


def test_chance_level_and_degenerate_scores_prove_nothing():
    rng = np.random.default_rng(0)
    labels = np.arange(1000) % 2 == 0
    assert epsilon_lower_bound(labels, rng.random(1000)).epsilon < 0.2
    assert epsilon_lower_bound(labels, np.zeros(1000)).epsilon == 0.0
    tiny = epsilon_lower_bound(np.array([True, False]), np.array([1.0, 0.0]))
    assert tiny.epsilon == 0.0  # one record per class cannot be split in two halves


def test_the_threshold_is_chosen_without_the_records_it_is_judged_on():
    labels, scores = randomized_response(1.0, 1000, 3)
    a = epsilon_lower_bound(labels, scores, delta=0.0, seed=1)
    b = epsilon_lower_bound(labels, scores, delta=0.0, seed=2)
    assert a.members + b.members == 500  # each uses a half of the 500 members
    assert (a.false_positives, a.false_negatives) != (b.false_positives, b.false_negatives)
    with pytest.raises(ValueError):
        epsilon_lower_bound(labels, scores, delta=1.0)


def test_a_perfect_attack_is_capped_by_the_number_of_records():
    labels = np.arange(12_000) % 2 == 0
    bound = epsilon_lower_bound(labels, labels.astype(float))  # no errors at all
    assert bound.false_positives == bound.false_negatives == 0
    assert bound.epsilon == pytest.approx(6.70, abs=0.01)  # as docs/auditing.md says


# --- one-run audit with canaries ------------------------------------------------------------
from scipy.stats import binom  # noqa: E402

from mia_core.results.audit import canary_audit, one_run_epsilon, one_run_p_value  # noqa: E402


def test_one_run_bound_matches_the_closed_form_when_every_guess_is_right():
    # delta = 0 and v = r: P[Binomial(r, q) >= r] = q^r = alpha  ->  q = alpha^(1/r)
    q = 0.05 ** (1 / 100)
    assert one_run_epsilon(100, 100, 100, delta=0.0) == pytest.approx(math.log(q / (1 - q)),
                                                                      abs=1e-9)
    assert one_run_epsilon(100, 100, 100, delta=0.0) == pytest.approx(3.4930, abs=1e-4)
    assert one_run_p_value(1000, 200, 150, 1.0, 0.0) == pytest.approx(
        binom.sf(149, 200, 1 / (1 + math.exp(-1.0))))


def test_one_run_bound_shrinks_with_delta_and_with_wrong_guesses():
    strict = one_run_epsilon(1000, 200, 190, delta=0.0)
    assert one_run_epsilon(1000, 200, 190, delta=1e-5) <= strict
    assert one_run_epsilon(1000, 200, 190, delta=1e-3) < one_run_epsilon(1000, 200, 190, 1e-5)
    assert one_run_epsilon(1000, 200, 150, delta=0.0) < strict
    assert one_run_epsilon(1000, 200, 100, delta=0.0) == 0.0  # half right is chance
    with pytest.raises(ValueError):
        one_run_p_value(10, 20, 5, 1.0, 0.0)


def test_a_one_run_bound_below_one_is_found_not_rounded_to_zero():
    # 118 right of 200 guesses rejects epsilon = 0 but not epsilon = 1: the bound lies between,
    # where the p-value crosses alpha
    assert one_run_p_value(1000, 200, 118, 0.0, 0.0) < 0.05 < one_run_p_value(1000, 200, 118,
                                                                               1.0, 0.0)
    bound = one_run_epsilon(1000, 200, 118, delta=0.0)
    assert 0.0 < bound < 1.0
    assert one_run_p_value(1000, 200, 118, bound, 0.0) == pytest.approx(0.05, abs=1e-6)


def test_the_canary_audit_states_its_fdp_bound_at_the_level_asked_for():
    from mia_core.results.gdp import fdp_one_run_mu

    included, scores = rr_canaries(2.0, 2000, 5)
    for alpha in (0.05, 0.2):
        audit = canary_audit(included, scores, alpha=alpha)
        assert audit.fdp_mu == fdp_one_run_mu(audit.canaries, audit.guesses, audit.correct,
                                              alpha)
    assert canary_audit(included, scores, alpha=0.2).fdp_mu > canary_audit(
        included, scores, alpha=0.05).fdp_mu  # a looser level rejects more


def test_a_runs_epsilon_bound_draws_its_split_with_the_attacks_seed():
    from mia_core.results.audit import epsilon_lower_bound
    from mia_core.results.measure import measure

    rng = np.random.default_rng(0)
    truth = np.r_[[True] * 300, [False] * 300]
    scores = np.r_[rng.normal(1.5, 1, 300), rng.normal(0, 1, 300)]
    bounds = {seed: measure(truth, scores, None, 1e-5, seed).epsilon_lb for seed in (0, 7, 8)}
    for seed, bound in bounds.items():
        assert bound == epsilon_lower_bound(truth, scores, 1e-5, seed=seed).epsilon
    assert len(set(bounds.values())) > 1  # the split really depends on the seed


def rr_canaries(eps, m, seed):
    rng = np.random.default_rng(seed)
    included = rng.random(m) < 0.5
    truthful = rng.random(m) < math.exp(eps) / (1 + math.exp(eps))
    guess_in = np.where(truthful, included, ~included)
    return included, guess_in + 0.01 * rng.random(m)  # ties broken at random


def test_one_run_bound_on_randomized_response_canaries_respects_the_true_epsilon():
    eps = 2.0
    bounds = [canary_audit(*rr_canaries(eps, 1000, seed), delta=0.0).epsilon
              for seed in range(200)]
    # at most 5 % in expectation; 0.08 leaves room for the sampling noise of 200 repetitions
    assert np.mean(np.array(bounds) > eps) <= 0.08
    assert np.median(bounds) > 0.5 * eps
    audit = canary_audit(*rr_canaries(eps, 1000, 0), delta=0.0)
    assert audit.guesses == 200 and audit.canaries == 1000 and 0 < audit.correct <= 200
