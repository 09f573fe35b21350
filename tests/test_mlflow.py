"""The optional MLflow reporter, read back through MLflow's own client."""

import json

import pytest
import torch
from click.testing import CliRunner

from mia_core.cli.mia_run import run

mlflow = pytest.importorskip("mlflow", reason="mia-mlflow-tracking is not installed")


def test_run_is_readable_with_mlflows_client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default ./mlruns store lands here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(run, [
        "--dataset", "blobs", "--attack", "loss-threshold", "--attack", "coin-flip",
        "--members", "200", "-o", "target.epochs=2", "--no-cache",
        "--reporter", "mlflow", "--reporter", "json", "--output", str(out),
        "-o", "mlflow.experiment=audit", "-o", "mlflow.run_name=first"])
    assert result.exit_code == 0, result.output
    assert "mlflow: wrote file://" in result.output
    summary = json.loads((out / "results.json").read_text())

    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("audit")
    (run_info,) = client.search_runs([experiment.experiment_id])
    assert run_info.info.run_name == "first" and run_info.info.status == "FINISHED"
    data = run_info.data
    assert data.metrics["loss-threshold.auc"] == pytest.approx(
        summary["attacks"][0]["metrics"]["auc"])
    gdp = summary["attacks"][0]["metrics"]["gdp"]
    assert data.metrics["loss-threshold.gdp_mu"] == pytest.approx(gdp["mu"])
    assert data.metrics["loss-threshold.gdp_mu.high"] == pytest.approx(gdp["mu_interval"][1])
    assert data.metrics["loss-threshold.auc.low"] == pytest.approx(
        summary["attacks"][0]["metrics"]["intervals"]["auc"][0])
    assert data.metrics["target_test_accuracy"] == pytest.approx(summary["target_test_accuracy"])
    assert data.params["dataset"] == "blobs" and data.params["target.epochs"] == "2"
    assert data.params["attacks"] == "loss-threshold,coin-flip"

    names = {a.path for a in client.list_artifacts(run_info.info.run_id)}
    assert {"results.json", "roc.csv", "roc.png", "target_weights.pt"} <= names
    weights = client.download_artifacts(run_info.info.run_id, "target_weights.pt",
                                        str(tmp_path))
    state = torch.load(weights, weights_only=True)
    assert state["conv1.weight"].shape == (20, 1, 5, 5)


def test_unusable_tracking_store_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    uri = (blocker / "mlruns").as_uri()
    result = CliRunner().invoke(run, [
        "--dataset", "blobs", "--attack", "coin-flip", "--members", "100", "-o",
        "target.epochs=1", "--no-cache", "--quiet", "--reporter", "mlflow",
        "-o", f"mlflow.tracking_uri={uri}"])
    assert result.exit_code == 1
    assert result.stdout.startswith("mia-core: dataset=blobs")  # the finished work is shown
    assert "coin-flip" in result.stdout
    assert result.stderr.startswith(f"Error: reporter 'mlflow' could not deliver the results: "
                                    f"MLflow logging to {uri} failed: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_language_model_audit_reaches_mlflow_with_the_same_numbers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(run, [
        "--dataset", "wordnet-glosses", "-o", "wordnet-glosses.records=300", "--members", "60",
        "--target", "gpt", "-o", "gpt.epochs=3", "--attack", "loss-threshold",
        "--attack", "min-k-plus-plus", "--no-cache", "--reporter", "mlflow",
        "--reporter", "json", "--output", str(out), "-o", "mlflow.experiment=text"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run_info,) = client.search_runs([client.get_experiment_by_name("text").experiment_id])
    for attack in summary["attacks"]:
        assert run_info.data.metrics[f"{attack['name']}.auc"] == pytest.approx(
            attack["metrics"]["auc"])
    assert run_info.data.params["target"] == "gpt"
    assert run_info.data.metrics["target_train_accuracy"] == pytest.approx(
        summary["target_train_accuracy"])
