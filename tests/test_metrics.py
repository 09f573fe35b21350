"""The core's metrics against scikit-learn as an oracle."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from mia_core.results.metrics import compute_metrics, roc_auc, roc_curve, tpr_at_fpr


def cases():
    rng = np.random.default_rng(0)
    for i in range(30):
        n = int(rng.integers(2, 400))
        labels = rng.random(n) < 0.5
        labels[0], labels[1] = True, False
        if i % 3 == 0:  # heavy ties
            scores = rng.integers(0, 4, n).astype(float)
        elif i % 3 == 1:
            scores = rng.normal(labels * 0.5, 1.0)
        else:  # ties and separation
            scores = np.round(rng.normal(labels * 1.0, 1.0), 1)
        yield labels, scores


@pytest.mark.parametrize(("labels", "scores"), list(cases()))
def test_auc_matches_sklearn(labels, scores):
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize(("labels", "scores"), list(cases()))
def test_roc_curve_matches_sklearn(labels, scores):
    fpr, tpr, thr = roc_curve(labels, scores)
    sk_fpr, sk_tpr, sk_thr = sk_roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])


@pytest.mark.parametrize(("labels", "scores"), list(cases()))
def test_derived_metrics_match_sklearn(labels, scores):
    threshold = float(np.median(scores))
    m = compute_metrics(labels, scores, threshold)
    pred = scores >= threshold
    assert m.accuracy == pytest.approx(accuracy_score(labels, pred))
    assert m.precision == pytest.approx(precision_score(labels, pred, zero_division=0))
    assert m.recall == pytest.approx(recall_score(labels, pred))
    sk_fpr, sk_tpr, _ = sk_roc_curve(labels, scores)
    assert m.advantage == pytest.approx(np.max(sk_tpr - sk_fpr))
    for target, value in ((0.01, m.tpr_at_1pct_fpr), (0.001, m.tpr_at_01pct_fpr),
                          (0.0, m.tpr_at_0_fpr)):
        assert value == pytest.approx(sk_tpr[sk_fpr <= target].max())


def test_perfect_and_inverted_attacks():
    labels = np.array([1, 1, 0, 0], dtype=bool)
    perfect = compute_metrics(labels, np.array([0.9, 0.8, 0.2, 0.1]), 0.5)
    assert (perfect.auc, perfect.accuracy, perfect.advantage, perfect.tpr_at_0_fpr) == (
        1.0, 1.0, 1.0, 1.0)
    inverted = compute_metrics(labels, np.array([0.1, 0.2, 0.8, 0.9]), 0.5)
    assert inverted.auc == 0.0 and inverted.accuracy == 0.0


def test_tpr_at_low_fpr_uses_only_points_within_the_budget():
    fpr = np.array([0.0, 0.0005, 0.002, 0.5, 1.0])
    tpr = np.array([0.0, 0.1, 0.3, 0.9, 1.0])
    assert tpr_at_fpr(fpr, tpr, 0.001) == 0.1
    assert tpr_at_fpr(fpr, tpr, 0.01) == 0.3


def test_without_threshold_the_top_half_is_predicted_member():
    labels = np.array([1, 1, 0, 0], dtype=bool)
    m = compute_metrics(labels, np.array([4.0, 3.0, 2.0, 1.0]), None)
    assert m.threshold_source == "median" and m.accuracy == 1.0


def test_metrics_need_both_classes():
    with pytest.raises(ValueError, match="at least one member and one non-member"):
        roc_auc(np.array([True, True]), np.array([0.1, 0.2]))


def test_threshold_source_and_label_types():
    given = compute_metrics(np.array([1.0, 0.0, 1.0, 0.0]), [0.9, 0.2, 0.4, 0.6], 0.5)
    assert given.threshold_source == "attack" and given.threshold == 0.5
    assert given.recall == 0.5
    assert given.accuracy == 0.5 and given.precision == 0.5
    median = compute_metrics([True, False, True, False], [4, 1, 3, 2], None)
    assert median.threshold_source == "median" and median.threshold == 2.5
    assert median.accuracy == 1.0


def test_labels_as_numbers_and_unsigned_scores():
    labels = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
    scores = np.array([3, 1, 2, 0, 2], dtype=np.uint8)  # negating these would wrap around
    fpr, tpr, thr = roc_curve(labels, scores)
    sk_fpr, sk_tpr, _ = sk_roc_curve(labels, scores.astype(float), drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert thr.tolist()[1:] == [3.0, 2.0, 1.0, 0.0]
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_one_class_only_is_an_error():
    with pytest.raises(ValueError) as err:
        roc_auc(np.array([True, True]), np.array([0.1, 0.2]))
    assert str(err.value) == "metrics need at least one member and one non-member"


@pytest.mark.parametrize("nonmembers,one_pct,tenth_pct", [
    (99, False, False), (100, True, False), (999, True, False), (1000, True, True)])
def test_a_tpr_is_resolvable_only_where_one_false_positive_is_within_its_rate(
        nonmembers, one_pct, tenth_pct):
    """With N non-members the FPR moves in steps of 1/N: TPR at x % FPR is marked not
    resolvable where 1/N > x (100 non-members resolve 1 % exactly, 1,000 resolve 0.1 %)."""
    from mia_core.results.metrics import unresolved

    labels = np.r_[np.ones(50, bool), np.zeros(nonmembers, bool)]
    m = compute_metrics(labels, np.arange(len(labels), dtype=float), None)
    assert m.fpr_step == 1 / nonmembers
    assert unresolved("tpr_at_1pct_fpr", m.fpr_step) is not one_pct
    assert unresolved("tpr_at_01pct_fpr", m.fpr_step) is not tenth_pct
    assert not unresolved("auc", m.fpr_step) and not unresolved("tpr_at_0_fpr", m.fpr_step)
