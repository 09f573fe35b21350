"""A modality the core was never told about (tests/sequence_modality.py: variable-length token
sequences, a tiny autoregressive model answering with its own tokens' log-probabilities)
plugs in without a core edit: it runs through mia-run, the attacks that read only signals work
on it with the right numbers, and the attacks that need class logits are refused before any
training."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from mia_core.catalog.loading import load_catalog
from mia_core.cli.mia_run import run
from mia_core.config import ExperimentConfig
from mia_core.experiment.run import run_experiment

from . import sequence_modality
from .sequence_modality import PAD, SequenceOptions, Sequences, TinyLM

SMALL = {"tiny-lm": {"epochs": "25", "width": "32"}}
ARGS = ["-p", "tests.sequence_modality", "--dataset", "sequences", "--target", "tiny-lm",
        "-o", "tiny-lm.epochs=25", "-o", "tiny-lm.width=32"]


def invoke(*args):
    return CliRunner().invoke(run, [*ARGS, *map(str, args)])


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """loss-threshold and LiRA (4 reference models) on the sequences, through mia-run, with
    a model cache; then the same command again."""
    folder = tmp_path_factory.mktemp("sequences")
    args = ["--attack", "loss-threshold", "--attack", "lira", "--attack", "rmia",
            "--attack", "reference-ratio", "--reference-models", "4"]
    first = invoke(*args, "--cache-dir", folder / "cache", "--output", folder / "first")
    again = invoke(*args, "--cache-dir", folder / "cache", "--output", folder / "again")
    workers = invoke(*args, "--no-cache", "--workers", "2", "--output", folder / "workers")
    return folder, first, again, workers


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_new_modality_runs_through_mia_run_and_its_attacks_find_members(audited):
    folder, first, *_ = audited
    assert first.exit_code == 0, first.output
    results = json.loads((folder / "first" / "results.json").read_text())
    auc = {a["name"]: a["metrics"]["auc"] for a in results["attacks"]}
    # random sequences: a model predicts a record's tokens only if it trained on it
    assert auc["loss-threshold"] > 0.8 and auc["lira"] > 0.75 and auc["rmia"] > 0.75, auc
    assert auc["reference-ratio"] > 0.75, auc
    evaluation = rows(folder / "first" / "evaluation.csv")
    truth = [int(r["is_member"]) for r in evaluation]
    for name in auc:  # the core's AUC is scikit-learn's on the scores it wrote
        scores = [float(r[f"score:{name}"]) for r in evaluation]
        assert auc[name] == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert {r["label"] for r in evaluation} == {"-1"}  # unlabelled records
    assert results["attacks"][0]["per_class"] == {}
    split = json.loads((folder / "first" / "split.json").read_text())
    members = set(split["known_members"]) | set(split["eval_members"])
    nonmembers = set(split["known_nonmembers"]) | set(split["eval_nonmembers"])
    assert not members & nonmembers and len(members) == len(nonmembers) == 100
    assert not set(split["population"]) & (members | nonmembers)
    in_eval = {int(r["record"]) for r in evaluation if r["is_member"] == "1"}
    assert in_eval == set(split["eval_members"]) and len(in_eval) == 50
    assert 0.0 <= results["target_test_accuracy"] < results["target_train_accuracy"] <= 1.0


def test_a_rerun_of_the_new_modality_comes_from_the_cache_bit_for_bit(audited):
    folder, _, again, _ = audited
    assert again.exit_code == 0, again.output
    assert "models: 5 loaded from cache, 0 trained" in again.output
    assert rows(folder / "first" / "evaluation.csv") == rows(folder / "again" / "evaluation.csv")


def test_reference_models_of_the_new_modality_train_and_answer_in_worker_processes(audited):
    """Two worker processes train the reference models and answer the pool where they
    trained (the driver queries none of them): the same scores as in this process."""
    folder, *_, workers = audited
    assert workers.exit_code == 0, workers.output
    results = json.loads((folder / "workers" / "results.json").read_text())
    assert results["reference_queries"] == 0
    assert rows(folder / "first" / "evaluation.csv") == rows(folder / "workers" / "evaluation.csv")


def test_the_loss_attack_scores_are_each_records_mean_token_log_likelihood():
    """Recomputed with a plain loop over the saved target, outside the core's answers."""
    config = ExperimentConfig(dataset="sequences", target="tiny-lm", attacks=("loss-threshold",),
                              device="cpu", options=SMALL, seed=3)
    catalog = load_catalog(extra=[("sequences", sequence_modality)])
    result, artifacts = run_experiment(config, catalog)
    pool = Sequences(SequenceOptions()).load(None)
    model = TinyLM(12, 32)
    model.load_state_dict(artifacts.target_state)
    model.eval()
    expected = []
    with torch.no_grad():
        for i in artifacts.eval_index.tolist():
            tokens = pool.x[i, :int(pool.lengths[i])]
            log_probs = model(tokens[None, :-1])[0].log_softmax(-1)
            own = [float(log_probs[t, tokens[t + 1]]) for t in range(len(tokens) - 1)]
            expected.append(math.fsum(own) / len(own))
            assert PAD not in tokens.tolist()
    got = artifacts.scores["loss-threshold"].tolist()
    assert got == pytest.approx(expected, abs=1e-5)
    assert result.attacks[0].metrics.auc > 0.8


@pytest.mark.parametrize(("attack", "reads"), [
    ("torch-mlp", "logits"), ("gap", "labels"), ("confidence-threshold", "logits"),
    ("rmia -o rmia.signal=taylor-soft-margin", "logits"), ("rmia -o rmia.temperature=2", "logits"),
])
def test_an_attack_that_needs_class_logits_is_refused_before_any_training(attack, reads):
    attack, *options = attack.split()
    result = invoke("--attack", attack, *options, "--no-cache")
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"Error: attack '{attack}' reads the target's {reads}, but target 'tiny-lm' answers "
        "with log-probabilities of each record's own tokens, which give confidence, "
        "log_likelihood; choose an attack that reads those (mia describe ATTACK says what it "
        "reads)"]


def test_a_rerun_from_results_json_loads_the_runs_p_plugins_again(audited):
    """The run was given -p tests.sequence_modality: results.json keeps it, so the report's
    rerun command (--config only) finds the dataset and target again and gives the same
    numbers (from the cache)."""
    folder, first, *_ = audited
    assert first.exit_code == 0, first.output
    results = json.loads((folder / "first" / "results.json").read_text())
    assert results["plugins"] == ["tests.sequence_modality"]
    rerun = CliRunner().invoke(run, ["--config", str(folder / "first" / "results.json"),
                                     "--cache-dir", str(folder / "cache"),
                                     "--output", str(folder / "rerun"), "-q"])
    assert rerun.exit_code == 0, rerun.output
    again = json.loads((folder / "rerun" / "results.json").read_text())
    assert again["models_trained"] == 0
    assert [a["metrics"] for a in again["attacks"]] == [a["metrics"] for a in results["attacks"]]
    report = (folder / "first" / "report.html").read_text()
    assert f"mia-run --config {folder / 'first' / 'results.json'} --output NEW_FOLDER" in report
