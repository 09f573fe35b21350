"""mia-run end to end through click's runner: real MNIST slice, output files, errors."""

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from mia_core.cli.mia_run import run
from mia_core.config import derive_seed
from mia_core.results.audit import epsilon_lower_bound

SMALL = ["--members", "400", "-o", "target.epochs=2", "-o", "attack.epochs=5", "--device", "cpu"]


def invoke(*args, env=None):
    return CliRunner().invoke(run, list(args), env=env)


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("run") / "results"
    result = invoke("--dataset", "mnist", "--attack", "torch-mlp", "--data-dir", str(mnist_dir),
                    "--output", str(out), "--quiet", "--no-cache", *SMALL)
    assert result.exit_code == 0, result.output
    return result, out


def test_summary_reports_split_target_and_attack(mnist_run):
    result, _ = mnist_run
    out = result.output
    assert "split: 400 members / 400 non-members (pool 70000); attacker knows 200 + 200; " \
           "evaluation 200 members + 200 non-members" in out
    assert "target: train accuracy" in out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("torch-mlp ")] == [
        "torch-mlp"]


def test_results_files_allow_recomputing_metrics(mnist_run):
    _, out = mnist_run
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["members"] == 400 and results["config"]["seed"] == 0
    assert results["options"]["target"]["epochs"] == 2
    assert {"mia-core", "mia-mnist-data", "mia-cnn-target", "mia-torch-attack", "torch"} <= set(
        results["versions"])
    rows = list(csv.DictReader((out / "evaluation.csv").open()))
    assert len(rows) == 400
    labels = np.array([int(r["is_member"]) for r in rows])
    scores = np.array([float(r["score:torch-mlp"]) for r in rows])
    assert labels.sum() == 200
    metrics = results["attacks"][0]["metrics"]
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    split = json.loads((out / "split.json").read_text())
    members = set(split["known_members"]) | set(split["eval_members"])
    nonmembers = set(split["known_nonmembers"]) | set(split["eval_nonmembers"])
    assert len(members) == len(nonmembers) == 400 and not members & nonmembers
    csv_members = {int(r["record"]) for r in rows if r["is_member"] == "1"}
    assert csv_members == set(split["eval_members"])


def test_existing_results_are_never_overwritten(mnist_run, mnist_dir):
    _, out = mnist_run
    before = (out / "results.json").read_bytes()
    result = invoke("--dataset", "mnist", "--attack", "torch-mlp", "--data-dir", str(mnist_dir),
                    "--output", str(out), "--quiet", *SMALL)
    assert result.exit_code == 2  # bad input: before any work
    assert result.output.strip() == (f"Error: {out} already holds results.json; choose another "
                                     "--output folder or move it away")
    assert (out / "results.json").read_bytes() == before


def test_same_seed_gives_identical_metrics_other_seed_differs(mnist_dir, tmp_path):
    def metrics(seed, name):
        r = invoke("--dataset", "mnist", "--attack", "torch-mlp", "--data-dir", str(mnist_dir),
                   "--seed", str(seed), "--output", str(tmp_path / name), "--quiet",
                   "--cache-dir", str(tmp_path / f"cache-{name}"), *SMALL)  # own training
        assert r.exit_code == 0, r.output
        data = json.loads((tmp_path / name / "results.json").read_text())
        assert (data["models_trained"], data["models_from_cache"]) == (1, 0)
        scores = (tmp_path / name / "evaluation.csv").read_text()
        return data["attacks"][0]["metrics"], data["target_test_accuracy"], scores

    first, second, other = metrics(3, "a"), metrics(3, "b"), metrics(4, "c")
    assert first == second
    assert first[2] != other[2]


def test_json_summary_and_third_party_plugin(tmp_path):
    result = invoke("--dataset", "blobs", "--attack", "coin-flip", "--members", "300",
                    "-o", "target.epochs=2", "-o", "dataset.size=1000", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["split_sizes"]["eval_members"] == 150
    assert data["versions"]["mia-example-plugin"] == "0.3.1"
    assert data["attacks"][0]["metrics"]["threshold_source"] == "median"
    assert 0.3 < data["attacks"][0]["metrics"]["auc"] < 0.7


def test_listing_shows_installed_distributions():
    result = invoke("--list-plugins")
    assert result.exit_code == 0
    for text in ("mnist", "cnn", "torch-mlp", "[mia-mnist-data 0.1.0]",
                 "example (mia-example-plugin 0.3.1)  hooks: register_attacks, "
                 "register_datasets"):
        assert text in result.output
    data = json.loads(invoke("--list-plugins", "--json").output)
    mlp = next(a for a in data["attacks"] if a["name"] == "torch-mlp")
    assert mlp["distribution"] == "mia-torch-attack"
    assert {o["name"] for o in mlp["options"]} >= {"epochs", "hidden", "features"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--dataset", "mnsit", "--attack", "torch-mlp"], 2,
         "Error: unknown dataset 'mnsit'; did you mean 'mnist'?"),
        (["--dataset", "blobs", "--attack", "torch-mpl"], 2,
         "Error: unknown attack 'torch-mpl'; did you mean 'torch-mlp'?"),
        (["--dataset", "blobs"], 2, "Error: --dataset and --attack are required"),
        (["--dataset", "blobs", "--attack", "coin-flip", "--device", "tpu"], 2,
         "Error: unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps"),
        (["--dataset", "blobs", "--attack", "coin-flip", "--known-fraction", "1.5"], 2,
         "Error: known_fraction must be strictly between 0 and 1, got 1.5"),
        (["--dataset", "blobs", "--attack", "coin-flip", "-o", "target.epochz=3"], 2,
         "Error: unknown option 'epochz' for target 'cnn'; did you mean 'epochs'?"),
        (["--dataset", "blobs", "--attack", "coin-flip", "-o", "nonsense"], 2,
         "Error: -o expects KEY=VALUE or COMPONENT.KEY=VALUE, got 'nonsense'"),
        (["--dataset", "blobs", "--attack", "coin-flip", "--members", "5000"], 2,
         "Error: the dataset has 2000 records but the split needs 10000"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code(args, code, message):
    result = invoke(*args, "--quiet")
    assert result.exit_code == code, result.output
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_runtime_error():
    result = invoke("--dataset", "blobs", "--attack", "coin-flip", "--device", "cuda", "--quiet")
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: device 'cuda' requested but CUDA is not available "
                                     "here; use --device cpu or auto")


def test_plugin_crash_is_one_line_naming_the_plugin(monkeypatch):
    from mia_example_plugin import CoinFlip

    monkeypatch.setattr(CoinFlip, "score", lambda self, ctx: 1 / 0)
    result = invoke("--dataset", "blobs", "--attack", "coin-flip", "--members", "100",
                    "-o", "target.epochs=1", "--quiet")
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: attack 'coin-flip' (plugin 'example') failed in "
                                     "score(): ZeroDivisionError: division by zero")


def test_every_attack_runs_on_real_mnist_in_one_table(mnist_dir, tmp_path):
    attacks = ["torch-mlp", "loss-threshold", "confidence-threshold", "entropy-threshold",
               "mentropy-threshold", "shadow-mlp", "lira", "lira-offline", "rmia"]
    args = ["--dataset", "mnist", "--data-dir", str(mnist_dir), "--members", "300",
            "--reference-models", "2", "-o", "target.epochs=2", "-o", "torch-mlp.epochs=5",
            "-o", "shadow-mlp.epochs=3", "--json", "--quiet", "--output", str(tmp_path / "r")]
    for a in attacks:
        args += ["--attack", a]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [a["name"] for a in data["attacks"]] == attacks
    assert data["split_sizes"]["population"] == 300
    assert data["models_trained"] == 3  # the target and two reference models, shared
    rows = list(csv.DictReader((tmp_path / "r" / "evaluation.csv").open()))
    labels = np.array([int(r["is_member"]) for r in rows])
    for a in data["attacks"]:  # every table entry is the core's metric of that attack's scores
        scores = np.array([float(r[f"score:{a['name']}"]) for r in rows])
        assert a["metrics"]["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        bound = epsilon_lower_bound(labels.astype(bool), scores, 1e-5,
                                    seed=derive_seed(0, f"attack:{a['name']}"))
        assert a["metrics"]["epsilon_lb"] == bound.epsilon


def test_out_of_range_attack_option_is_a_usage_error():
    result = invoke("--dataset", "blobs", "--attack", "rmia", "-o", "rmia.a=1.5", "--quiet")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: bad option for attack 'rmia': 'a' must be between "
                                     "0 and 1 (or -1: chosen on the reference models): 1.5")


def test_population_only_run_does_not_claim_known_members():
    result = invoke("--dataset", "blobs", "--attack", "lira", "--members", "100",
                    "--reference-models", "2", "-o", "target.epochs=1", "--quiet", "--no-cache")
    assert result.exit_code == 0, result.output
    split = next(line for line in result.output.splitlines() if line.startswith("split:"))
    assert split == ("split: 100 members / 100 non-members (pool 2000); evaluation 50 members + "
                     "50 non-members; population 100")


def test_every_number_of_the_summary_is_the_one_in_results_json(mnist_run):
    """The printed table and the split and target lines, read as a person reads them, say
    what results.json holds (whose metrics the tests above recompute independently)."""
    result, out = mnist_run
    results = json.loads((out / "results.json").read_text())
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("attack "))
    assert lines[header].split() == ["attack", "AUC", "adv", "acc", "prec", "recall", "TPR@1%",
                                     "TPR@.1%", "TPR@0%", "ε_lb", "ε_gdp", "time"]
    columns = [("auc", 4), ("advantage", 4), ("accuracy", 4), ("precision", 4), ("recall", 4),
               ("tpr_at_1pct_fpr", 4), ("tpr_at_01pct_fpr", 4), ("tpr_at_0_fpr", 4),
               ("epsilon_lb", 3)]
    nonmembers = results["split_sizes"]["eval_nonmembers"]
    assert nonmembers == 200  # one false positive is 0.5 %: 1 % resolves, 0.1 % does not
    for offset, attack in enumerate(results["attacks"], 1):
        cells = lines[header + offset].split()
        assert cells[0] == attack["name"]
        m = attack["metrics"]
        assert m["fpr_step"] == 1 / nonmembers
        for (key, digits), cell in zip(columns, cells[1:], strict=False):
            expected = "n/r" if key == "tpr_at_01pct_fpr" else f"{m[key]:.{digits}f}"
            assert cell == expected, key
        assert cells[10] == f"{m['gdp']['epsilon']:.3f}"
    assert ("n/r: not resolvable: with 200 non-members one false positive is already 0.50 % "
            "FPR") in result.output
    assert (f"target: train accuracy {results['target_train_accuracy']:.4f}, test accuracy "
            f"{results['target_test_accuracy']:.4f} (non-members)") in result.output
