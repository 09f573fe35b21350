"""Bootstrap intervals: they cover the true AUC about 95 % of the time on simulated scores,
narrow as the evaluation set grows, and are part of every attack's metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mia_core.results.bootstrap import bootstrap
from mia_core.testing import run


def _scores(rng, n, shift):
    return np.r_[rng.normal(shift, 1, n), rng.normal(0, 1, n)], np.r_[[True] * n, [False] * n]


def test_the_intervals_are_the_2_5th_and_97_5th_percentiles_of_stratified_resamples():
    """What the module promises, recomputed with scikit-learn: ``rounds`` draws of as many
    members and as many non-members (with replacement, members first, from one generator of
    the seed), and the 2.5th / 97.5th percentile of each metric over them."""
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(3)
    scores, truth = _scores(rng, 60, 0.7)
    members, others = np.flatnonzero(truth), np.flatnonzero(~truth)
    draw = np.random.default_rng(11)
    aucs, tprs = [], []
    for _ in range(50):
        pick = np.r_[draw.choice(members, len(members)), draw.choice(others, len(others))]
        labels = np.r_[np.ones(len(members)), np.zeros(len(others))]
        aucs.append(roc_auc_score(labels, scores[pick]))
        fpr, tpr, _ = roc_curve(labels, scores[pick])
        tprs.append(tpr[fpr <= 0.01].max())
    got = bootstrap(truth, scores, seed=11, rounds=50)
    assert got.auc == pytest.approx(tuple(np.percentile(aucs, [2.5, 97.5])), abs=1e-12)
    assert got.tpr_at_1pct_fpr == pytest.approx(tuple(np.percentile(tprs, [2.5, 97.5])),
                                                abs=1e-12)
    assert got.rounds == 50


def test_the_auc_interval_covers_the_true_auc_about_95_percent_of_the_time():
    shift = 0.8
    true_auc = 0.5 * (1 + math.erf(shift / 2))  # Φ(shift / √2) for two unit Gaussians
    rng = np.random.default_rng(0)
    trials, covered = 120, 0
    for t in range(trials):
        scores, truth = _scores(rng, 150, shift)
        low, high = bootstrap(truth, scores, seed=t, rounds=200).auc
        covered += low <= true_auc <= high
    assert 0.88 <= covered / trials <= 0.99, covered / trials


def test_intervals_hold_the_estimate_and_narrow_with_more_records():
    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 1600):
        scores, truth = _scores(rng, n, 1.0)
        found = bootstrap(truth, scores, seed=0)
        assert found.auc[0] < found.auc[1] and found.tpr_at_1pct_fpr[0] <= \
            found.tpr_at_1pct_fpr[1]
        widths.append(found.auc[1] - found.auc[0])
    assert widths[1] < widths[0] / 2.5  # about 1/sqrt(16) of the width


def test_intervals_are_seeded():
    scores, truth = _scores(np.random.default_rng(2), 50, 0.5)
    assert bootstrap(truth, scores, seed=4) == bootstrap(truth, scores, seed=4)
    assert bootstrap(truth, scores, seed=4) != bootstrap(truth, scores, seed=5)


def test_every_attack_reports_its_intervals():
    result = run(dataset="tiny-images", attacks=["loss-threshold"], members=100,
                 options={"target": {"epochs": 2}})
    m = result.attacks[0].metrics
    low, high = m.intervals.auc
    assert low <= m.auc <= high and 0 <= low < high <= 1
    assert m.intervals.rounds == 200
    assert result.to_dict()["attacks"][0]["metrics"]["intervals"]["auc"] == pytest.approx(
        [low, high])
