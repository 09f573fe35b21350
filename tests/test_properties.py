"""Properties that hold for every input, checked with Hypothesis on generated cases."""

import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from mia_core.cli.mia_run import run
from mia_core.errors import ConfigError
from mia_core.results.metrics import compute_metrics, roc_auc, roc_curve, tpr_at_fpr
from mia_core.splits import draw_split, known_count

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

FAST = settings(max_examples=60, deadline=None)


@st.composite
def labelled_scores(draw):
    """Labels with both classes (sometimes one of them a single record) and scores with
    ties: drawn from a few values, from floats, or all equal."""
    n = draw(st.integers(2, 80))
    labels = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    minority = draw(st.sampled_from(["none", "one-member", "one-nonmember"]))
    if minority == "one-member":
        labels = [False] * n
    elif minority == "one-nonmember":
        labels = [True] * n
    labels[draw(st.integers(0, n - 1))] = minority != "one-nonmember"
    if all(labels) or not any(labels):
        labels[0] = not labels[0]
    kind = draw(st.sampled_from(["few", "floats", "constant"]))
    if kind == "few":
        scores = draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))
    elif kind == "floats":
        scores = draw(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n))
    else:
        scores = [draw(st.floats(-10, 10))] * n
    return np.array(labels), np.array(scores, dtype=np.float64)


@FAST
@given(labelled_scores())
def test_auc_and_roc_match_sklearn(case):
    labels, scores = case
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    fpr, tpr, _ = roc_curve(labels, scores)
    sk_fpr, sk_tpr, _ = sk_roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    for limit in (0.0, 0.01, 0.1, 0.5):
        assert tpr_at_fpr(fpr, tpr, limit) == sk_tpr[sk_fpr <= limit].max()


@FAST
@given(labelled_scores(), st.floats(-3, 3) | st.none())
def test_threshold_metrics_match_sklearn(case, threshold):
    labels, scores = case
    m = compute_metrics(labels, scores, threshold)
    cut = np.median(scores) if threshold is None else threshold
    predicted = scores >= cut
    assert m.threshold == cut
    assert m.accuracy == pytest.approx(accuracy_score(labels, predicted))
    assert m.precision == pytest.approx(precision_score(labels, predicted, zero_division=0))
    assert m.recall == pytest.approx(recall_score(labels, predicted))
    sk_fpr, sk_tpr, _ = sk_roc_curve(labels, scores)
    assert m.advantage == pytest.approx((sk_tpr - sk_fpr).max())


@FAST
@given(st.integers(2, 200), st.floats(-10, 10))
def test_constant_scores_are_exactly_chance(n, value):
    labels = np.arange(n) % 2 == 0
    scores = np.full(n, value)
    m = compute_metrics(labels, scores, None)
    assert m.auc == 0.5 and m.advantage == 0.0 and m.tpr_at_0_fpr == 0.0


@st.composite
def split_request(draw):
    members = draw(st.integers(2, 300))
    fraction = draw(st.floats(0.01, 0.99))
    assume(1 <= round(members * fraction) <= members - 1)
    population = draw(st.integers(0, 300))
    control = draw(st.booleans())
    needed = 2 * members + population + (members if control else 0)
    pool = draw(st.integers(needed, needed + 500))
    return pool, members, fraction, population, control, draw(st.integers(0, 2**32))


@FAST
@given(split_request())
def test_split_is_disjoint_balanced_and_sized_for_any_valid_request(req):
    pool, members, fraction, population, control, seed = req
    split = draw_split(pool, members, fraction, population, seed, control)
    parts = [split.known_members, split.known_nonmembers, split.eval_members,
             split.eval_nonmembers, split.population, split.decoys]
    every = np.concatenate([p.numpy() for p in parts])
    assert len(set(every.tolist())) == len(every)  # disjoint
    assert every.min() >= 0 and every.max() < pool
    known = known_count(members, fraction)
    assert [len(p) for p in parts] == [known, known, members - known, members - known,
                                       population, members if control else 0]


@FAST
@given(split_request())
def test_too_small_a_pool_is_a_config_error(req):
    _, members, fraction, population, control, seed = req
    needed = 2 * members + population + (members if control else 0)
    with pytest.raises(ConfigError, match=f"split needs {needed}"):
        draw_split(needed - 1, members, fraction, population, seed, control)


finite = st.floats(1e-6, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(epochs=st.integers(1, 10**6), lr=finite, decay=st.floats(0, 1),
       seed=st.integers(0, 10**9),
       precision=st.sampled_from(["auto", "fp32", "bf16"]), channels_last=st.booleans(),
       members=st.integers(2, 10**5), features=st.sampled_from(["loss", "probabilities"]))
def test_settings_round_trip_through_print_config(tmp_path, epochs, lr, decay, seed, precision,
                                                   channels_last, members, features):
    args = ["--dataset", "blobs", "--attack", "torch-mlp", "--seed", str(seed),
            "--members", str(members), "-o", f"target.epochs={epochs}", "-o", f"target.lr={lr!r}",
            "-o", f"target.weight_decay={decay!r}", "-o", f"target.precision={precision}",
            "-o", f"target.channels_last={str(channels_last).lower()}",
            "-o", f"torch-mlp.features={features}", "--print-config"]
    printed = CliRunner().invoke(run, args)
    assert printed.exit_code == 0, printed.output
    parsed = tomllib.loads(printed.output)
    assert (parsed["seed"], parsed["members"]) == (seed, members)
    assert parsed["options"]["target"] == {"epochs": epochs, "lr": lr, "weight_decay": decay,
                                           "precision": precision,
                                           "channels_last": channels_last}
    assert parsed["options"]["torch-mlp"] == {"features": features}
    path = tmp_path / "settings.toml"
    path.write_text(printed.output)
    again = CliRunner().invoke(run, ["--config", str(path), "--print-config"])
    assert again.output == printed.output
