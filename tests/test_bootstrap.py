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
