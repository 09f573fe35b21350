"""Report files (ROC, per-class metrics) and repeated seeds."""

import csv
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from mia_core.cli.mia_run import run
from mia_core.results.metrics import ClassMetrics, per_class_metrics
from mia_core.results.repeats import interval

BASE = ["--dataset", "blobs", "--attack", "loss-threshold", "--attack", "coin-flip",
        "--members", "200", "-o", "target.epochs=3", "--quiet", "--no-cache"]


def test_output_has_roc_curves_plot_and_per_class_metrics(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(run, [*BASE, "--output", str(out)])
    assert result.exit_code == 0, result.output
    png = (out / "roc.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    rows = list(csv.DictReader((out / "roc.csv").open()))
    assert {r["attack"] for r in rows} == {"loss-threshold", "coin-flip"}
    curve = [(float(r["fpr"]), float(r["tpr"])) for r in rows if r["attack"] == "coin-flip"]
    assert curve[0] == (0.0, 0.0) and curve[-1] == (1.0, 1.0)
    results = json.loads((out / "results.json").read_text())
    per_class = results["attacks"][0]["per_class"]
    assert sum(c["members"] for c in per_class.values()) == 100
    evaluation = list(csv.DictReader((out / "evaluation.csv").open()))
    cls0 = [r for r in evaluation if r["label"] == "0"]
    expected = roc_auc_score([int(r["is_member"]) for r in cls0],
                             [float(r["score:loss-threshold"]) for r in cls0])
    assert per_class["0"]["auc"] == pytest.approx(expected)


def test_without_matplotlib_results_are_written_with_a_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now fails
    out = tmp_path / "out"
    result = CliRunner().invoke(run, [*BASE[:-2], "--no-cache", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert ("roc.png not drawn: matplotlib is not installed (it is a dependency of mia-core: "
            "pip install matplotlib)") in result.output
    assert (out / "roc.csv").exists() and not (out / "roc.png").exists()
    html = (out / "report.html").read_text()  # the report, without its pictures
    assert "<img" not in html and "The strongest attack" in html


def test_per_class_skips_classes_without_both_sides():
    out = per_class_metrics(np.array([True, False, True]), np.array([0, 0, 1]),
                            np.array([0.9, 0.1, 0.5]), 0.5)
    assert out["0"].auc == 1.0
    assert out["1"] == ClassMetrics(members=1, nonmembers=0)  # no metrics without both sides
    assert out["1"].auc is None


def test_seeds_report_mean_and_interval(tmp_path):
    out = tmp_path / "seeds"
    result = CliRunner().invoke(run, [*BASE, "--seeds", "3", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("3 seeds (0, 1, 2): mean [95% interval]")
    summary = json.loads((out / "seeds.json").read_text())
    aucs = [json.loads((out / f"seed-{s}" / "results.json").read_text())["attacks"][0][
        "metrics"]["auc"] for s in range(3)]
    auc = summary["attacks"]["loss-threshold"]["auc"]
    assert auc["mean"] == pytest.approx(np.mean(aucs))
    half = 4.303 * np.std(aucs, ddof=1) / np.sqrt(3)
    assert auc["high"] - auc["mean"] == pytest.approx(half)
    # the printed table: each column under its title holds that metric's mean [interval]
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("attack "))
    assert header.split() == ["attack", "AUC", "adv", "acc", "TPR@1%", "TPR@.1%", "TPR@0%",
                              "ε_lb"]
    row = next(line for line in lines if line.startswith("loss-threshold ")).split()
    keys = ["auc", "advantage", "accuracy", "tpr_at_1pct_fpr", "tpr_at_01pct_fpr",
            "tpr_at_0_fpr", "epsilon_lb"]
    step = json.loads((out / "seed-0" / "results.json").read_text())["attacks"][0][
        "metrics"]["fpr_step"]
    assert 0.001 < step <= 0.01  # so TPR at 0.1 % FPR is not resolvable, and at 1 % it is
    assert summary["attacks"]["loss-threshold"]["tpr_at_01pct_fpr"] is None
    cells = iter(row[1:])
    for key in keys:
        m = summary["attacks"]["loss-threshold"][key]
        if m is None:
            assert next(cells) == "n/r", key
            continue
        cell = f"{next(cells)} {next(cells)}"
        assert cell == f"{m['mean']:.4f} [{m['low']:.4f},{m['high']:.4f}]", key
    assert "n/r: not resolvable: in some seed one false positive" in result.output
    report = (out / "report.html").read_text()
    assert '<td class="name">tpr_at_01pct_fpr</td><td colspan="2">not resolvable</td>' in report
    train = summary["target_train_accuracy"]
    assert (f"target: train accuracy {train['mean']:.4f} [{train['low']:.4f},"
            f"{train['high']:.4f}]") in result.output


def test_interval_of_one_value_is_a_point():
    i = interval([0.7])
    assert (i.mean, i.low, i.high) == (0.7, 0.7, 0.7)


def test_the_roc_plot_is_part_of_the_default_install():
    from importlib import metadata

    requires = metadata.requires("mia-core") or []
    core = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("matplotlib") for r in core), core


def test_the_summary_says_how_many_non_members_leave_a_rate_unresolved():
    from mia_core.results.metrics import compute_metrics
    from mia_core.results.summary import attack_table
    from mia_core.results.types import AttackReport

    rng = np.random.default_rng(0)
    truth = np.r_[[True] * 250, [False] * 250]
    metrics = compute_metrics(truth, rng.random(500), None)
    lines = attack_table([AttackReport("coin", metrics, 0.0, 0)], 1e-5)
    assert lines[-1] == "n/r: not resolvable: with 250 non-members one false positive is " \
                        "already 0.40 % FPR"
    assert lines[1].split()[7] == "n/r" and lines[1].split()[6] != "n/r"  # 0.1 %, not 1 %


def test_a_label_only_run_says_what_the_attacker_knows_and_results_json_keeps_its_lists():
    from mia_core.results.summary import format_summary
    from mia_core.testing import run as run_in_process

    result = run_in_process(attacks=["gap"], dataset="tiny-images", members=100,
                            options={"target": {"epochs": 2}})
    sizes = result.split_sizes
    assert (f"attacker knows {sizes['known_members']} + {sizes['known_nonmembers']}; "
            in format_summary(result))
    saved = result.to_dict()
    assert saved["warnings"] == [] and saved["privacy_violations"] == []
