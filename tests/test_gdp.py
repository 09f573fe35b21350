"""Gaussian DP: the μ ↔ (ε, δ) conversion against a numerical integral of the privacy loss, the
AUC-based estimate's coverage on simulated μ-GDP scores, and the f-DP one-run canary bound's
level and tightness against Steinke et al.'s bound on the same canaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from mia_core.results.audit import canary_audit
from mia_core.results.bootstrap import bootstrap
from mia_core.results.gdp import (
    estimate_gdp,
    fdp_one_run_mu,
    fdp_rejects,
    gdp_delta,
    gdp_epsilon,
    gdp_mu,
    mu_from_auc,
)
from mia_core.results.metrics import roc_auc


def delta_by_integration(mu, eps):
    """δ(ε) = E_{x ~ N(μ, 1)} [(1 - e^(ε - L(x)))+] with the privacy loss L(x) = μx - μ²/2."""
    def integrand(x):
        loss = mu * x - mu * mu / 2
        return stats.norm.pdf(x, mu) * max(0.0, 1 - math.exp(eps - loss))
    return integrate.quad(integrand, (eps + mu * mu / 2) / mu, mu + 40)[0]


@pytest.mark.parametrize("mu,eps", [(0.5, 0.3), (1.0, 1.0), (2.0, 4.0), (3.0, 9.0)])
def test_gdp_delta_is_the_gaussian_privacy_loss_integral(mu, eps):
    assert gdp_delta(mu, eps) == pytest.approx(delta_by_integration(mu, eps), rel=1e-6)


def test_epsilon_and_mu_invert_each_other_and_grow_together():
    for mu in (0.2, 1.0, 2.0, 5.0):
        eps = gdp_epsilon(mu, 1e-5)
        assert gdp_delta(mu, eps) == pytest.approx(1e-5, rel=1e-5)
        assert gdp_mu(eps, 1e-5) == pytest.approx(mu, rel=1e-6)
    assert gdp_epsilon(1.0, 1e-5) == pytest.approx(4.377, abs=1e-3)
    assert gdp_epsilon(1.0, 1e-5) < gdp_epsilon(2.0, 1e-5) < gdp_epsilon(2.0, 1e-8)
    assert gdp_epsilon(0.0, 1e-5) == 0.0


def test_mu_from_auc_inverts_the_gaussian_roc():
    for mu in (0.3, 1.0, 2.5):
        assert mu_from_auc(stats.norm.cdf(mu / math.sqrt(2))) == pytest.approx(mu)
    assert mu_from_auc(0.5) == mu_from_auc(0.3) == 0.0


def _gdp_scores(rng, n, mu):
    return np.r_[rng.normal(mu, 1, n), rng.normal(0, 1, n)], np.r_[[True] * n, [False] * n]


def test_the_gdp_interval_covers_the_true_mu_about_95_percent_of_the_time():
    mu, rng = 1.0, np.random.default_rng(3)
    trials, covered, estimates = 120, 0, []
    for t in range(trials):
        scores, truth = _gdp_scores(rng, 150, mu)
        found = estimate_gdp(roc_auc(truth, scores), bootstrap(truth, scores, seed=t).auc,
                             1e-5)
        covered += found.mu_interval[0] <= mu <= found.mu_interval[1]
        estimates.append(found.mu)
        assert found.epsilon == pytest.approx(gdp_epsilon(found.mu, 1e-5))
        assert found.epsilon_interval[0] <= found.epsilon <= found.epsilon_interval[1]
    assert 0.88 <= covered / trials <= 0.99, covered / trials
    assert abs(np.mean(estimates) - mu) < 0.05  # and it is centred on the truth


def test_every_attack_reports_a_gdp_estimate_from_its_own_auc():
    from mia_core.testing import run

    result = run(dataset="tiny-images", attacks=["loss-threshold"], members=100,
                 options={"target": {"epochs": 2}})
    m = result.attacks[0].metrics
    assert m.gdp.mu == pytest.approx(mu_from_auc(m.auc))
    assert m.gdp.mu_interval == pytest.approx(tuple(mu_from_auc(a) for a in m.intervals.auc))
    assert m.gdp.delta == result.audit_delta
    assert result.to_dict()["attacks"][0]["metrics"]["gdp"]["epsilon"] == m.gdp.epsilon


# --- f-DP one-run bound ----------------------------------------------------------------------
def gdp_canaries(mu, m, rng):
    """m canaries, each IN with probability 1/2; its score N(μ, 1) when IN, N(0, 1) when OUT:
    a μ-GDP mechanism for every single canary."""
    included = rng.random(m) < 0.5
    return included, rng.normal(mu * included, 1.0)


# (canaries, guesses, right) -> ε at δ = 1e-5, alpha = 0.05, from Mahloujifar et al.'s recursion as
# google-deepmind/jax_privacy implements it (auditing.py, _epsilon_one_run_fdp, bisecting on ε
# with dp_accounting's Gaussian sigma), computed outside this repository on 2026-12-02.
FDP_REFERENCE = {(1000, 200, 200): 7.25682, (1000, 200, 180): 2.90124,
                 (1000, 200, 150): 1.29692, (500, 100, 90): 2.70679,
                 (10000, 200, 199): 4.88051, (1000, 1000, 700): 1.37198}


@pytest.mark.parametrize("counts", list(FDP_REFERENCE))
def test_fdp_bound_matches_an_independent_implementation(counts):
    assert gdp_epsilon(fdp_one_run_mu(*counts), 1e-5) == pytest.approx(
        FDP_REFERENCE[counts], abs=2e-5)


def test_fdp_rejection_is_monotone_in_mu_and_in_right_guesses():
    assert not fdp_rejects(0.0, 1000, 200, 100, 0.05)  # half right is chance
    assert fdp_rejects(0.0, 1000, 200, 140, 0.05)
    assert fdp_rejects(0.5, 1000, 200, 180, 0.05) and not fdp_rejects(3.0, 1000, 200, 180,
                                                                       0.05)
    bounds = [fdp_one_run_mu(1000, 200, c) for c in (100, 130, 160, 190, 200)]
    assert bounds[0] == 0.0 and bounds == sorted(bounds) and bounds[-1] > bounds[-2]
    assert fdp_one_run_mu(1000, 200, 180, alpha=0.01) < fdp_one_run_mu(1000, 200, 180)


def test_fdp_bound_rejects_a_true_claim_no_more_often_than_its_level():
    # μ = 0: every rejection is a false one, and the bound sits exactly at its level here
    rng = np.random.default_rng(7)
    trials = 400
    false = sum(canary_audit(*gdp_canaries(0.0, 1000, rng)).fdp_mu > 0 for _ in range(trials))
    assert false / trials <= 0.08, false / trials


def test_fdp_bound_is_below_the_true_epsilon_and_tighter_than_steinke():
    rng = np.random.default_rng(8)
    mu, delta = 2.0, 1e-5
    true_eps = gdp_epsilon(mu, delta)
    audits = [canary_audit(*gdp_canaries(mu, 1000, rng), delta=delta) for _ in range(100)]
    fdp = np.array([a.fdp_epsilon for a in audits])
    steinke = np.array([a.epsilon for a in audits])
    assert np.mean(fdp > true_eps) <= 0.08
    assert np.mean(fdp >= steinke) >= 0.95 and fdp.mean() > 1.4 * steinke.mean()
    assert all(a.fdp_epsilon == pytest.approx(gdp_epsilon(a.fdp_mu, delta)) for a in audits)


@pytest.mark.parametrize("delta", [1e-3, 1e-7])
def test_the_gdp_estimate_is_stated_at_the_delta_asked_for(delta):
    """ε_gdp (and its interval) at the run's or ``mia metrics --delta``'s δ, not a default:
    δ(ε_gdp) recomputed by integrating the privacy loss is that δ."""
    from mia_core.results.measure import measure

    rng = np.random.default_rng(2)
    truth = np.repeat([True, False], 2000)
    scores = rng.normal(1.0 * truth, 1.0)
    m = measure(truth, scores, None, delta, 0).gdp
    assert m.delta == delta
    assert delta_by_integration(m.mu, m.epsilon) == pytest.approx(delta, rel=1e-3)
    for mu, eps in zip(m.mu_interval, m.epsilon_interval, strict=True):
        assert delta_by_integration(mu, eps) == pytest.approx(delta, rel=1e-3)
    assert gdp_epsilon(m.mu, 1e-5) != pytest.approx(m.epsilon, rel=1e-3)  # δ matters here


def test_mia_metrics_states_the_gdp_estimate_at_its_delta(tmp_path):
    import json

    from click.testing import CliRunner

    from mia_core.cli.group import mia

    rng = np.random.default_rng(4)
    truth = np.repeat([1, 0], 300)
    path = tmp_path / "s.csv"
    path.write_text("is_member,score\n" + "".join(
        f"{t},{float(v)!r}\n" for t, v in zip(truth, rng.normal(truth, 1.0), strict=True)))
    out = CliRunner().invoke(mia, ["metrics", str(path), "--delta", "0.001", "--json"])
    gdp = json.loads(out.output)["attacks"][0]["metrics"]["gdp"]
    assert gdp["delta"] == 0.001
    assert delta_by_integration(gdp["mu"], gdp["epsilon"]) == pytest.approx(0.001, rel=1e-3)


def test_the_canary_audit_feeds_the_fdp_bound_its_counts():
    """1000 canaries, the top and bottom 10 % guessed: 180 of 200 guesses right gives the
    f-DP ε of the independent implementation above for (1000, 200, 180)."""
    scores = np.arange(1000, 0, -1, dtype=float)  # canary i ranks i-th
    included = np.zeros(1000, dtype=bool)
    included[:90] = True  # top 100: 90 IN (right), 10 OUT
    included[100:500] = True  # the middle is never guessed
    included[900:910] = True  # bottom 100: 10 IN (wrong), 90 OUT (right)
    audit = canary_audit(included, scores, delta=1e-5)
    assert (audit.canaries, audit.guesses, audit.correct) == (1000, 200, 180)
    assert audit.fdp_epsilon == pytest.approx(FDP_REFERENCE[(1000, 200, 180)], abs=2e-5)


def test_an_auc_of_one_gives_no_finite_gdp_estimate(tmp_path):
    """Every member above every non-member fits no finite μ: the estimate says
    "unbounded" (the capped values it holds are no estimate), in the table and the report;
    any AUC below 1 gives a finite one."""
    import json

    from click.testing import CliRunner

    from mia_core.cli.group import mia
    from mia_core.results.gdp import MU_MAX

    top = estimate_gdp(1.0, (0.98, 1.0), 1e-5)
    assert top.unbounded and top.mu == MU_MAX
    assert not estimate_gdp(0.999, (0.99, 1.0), 1e-5).unbounded
    path = tmp_path / "s.csv"
    path.write_text("is_member,score\n" + "".join(f"{i % 2},{(i % 2) + i / 1000}\n"
                                                   for i in range(40)))
    out = tmp_path / "out"
    printed = CliRunner().invoke(mia, ["metrics", str(path), "--output", str(out)]).output
    row = next(line for line in printed.splitlines() if line.startswith("score "))
    assert row.split()[10] == "unbnd"
    assert "unbnd: unbounded: an AUC of 1 fits no finite μ" in printed
    saved = json.loads((out / "results.json").read_text())["attacks"][0]["metrics"]["gdp"]
    assert saved["unbounded"] is True
    html = (out / "report.html").read_text()
    assert html.count('<span class="small">unbounded</span>') == 2
    assert 'data-key="attacks.0.metrics.gdp.epsilon"' not in html
