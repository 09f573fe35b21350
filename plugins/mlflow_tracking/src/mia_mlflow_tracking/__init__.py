"""The ``mlflow`` reporter: one MLflow run per experiment, with params, metrics and artifacts.

Logs the configuration and effective plugin options as params, target accuracies, every
attack's metrics and the phase timings as metrics, and results.json, the ROC curve (CSV and
plot) and the target's trained weights (a plain state dict, readable with
``torch.load(..., weights_only=True)``) as artifacts. Uses ``MLFLOW_TRACKING_URI`` when set,
else a local ``./mlruns`` store, so no server is needed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import torch

from mia_core import (
    ExperimentResult,
    MiaError,
    ReportEnv,
    RunArtifacts,
    hookimpl,
    option,
    write_roc,
)

ATTACK_METRICS = ("auc", "advantage", "accuracy", "precision", "recall", "tpr_at_1pct_fpr",
                  "tpr_at_01pct_fpr", "tpr_at_0_fpr", "epsilon_lb")


@attrs.frozen
class MlflowOptions:
    experiment: str = option("mia-core", "MLflow experiment name")
    tracking_uri: str = option("", "tracking URI (default: $MLFLOW_TRACKING_URI, else "
                               "./mlruns)")
    run_name: str = option("", "run name (default: DATASET-TARGET-seedN)")


class MlflowReporter:
    def __init__(self, options: MlflowOptions) -> None:
        self.options = options

    def report(self, result: ExperimentResult, artifacts: RunArtifacts,
               env: ReportEnv) -> list[str]:
        try:
            from mlflow.entities import Metric, Param
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MiaError("the mlflow reporter needs MLflow: pip install mlflow-skinny") from None
        uri = self.tracking_uri()
        try:
            client = MlflowClient(tracking_uri=uri)
            experiment = client.get_experiment_by_name(self.options.experiment)
            experiment_id = (experiment.experiment_id if experiment else
                             client.create_experiment(self.options.experiment))
            cfg = result.config
            name = self.options.run_name or f"{cfg['dataset']}-{cfg['target']}-seed{cfg['seed']}"
            run = client.create_run(experiment_id, run_name=name,
                                    tags={"mia-core.attacks": ",".join(cfg["attacks"])})
            now = int(time.time() * 1000)
            client.log_batch(
                run.info.run_id,
                metrics=[Metric(k, v, now, 0) for k, v in metrics(result).items()],
                params=[Param(k, v) for k, v in params(result).items()],
            )
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                self._write_artifacts(folder, result, artifacts)
                client.log_artifacts(run.info.run_id, str(folder))
            client.set_terminated(run.info.run_id)
        except MiaError:
            raise
        except Exception as exc:
            raise MiaError(f"MLflow logging to {uri} failed: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
        return [f"{uri} (experiment '{self.options.experiment}', run {run.info.run_id})"]

    def tracking_uri(self) -> str:
        uri = self.options.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            uri = Path("mlruns").resolve().as_uri()
        if uri.startswith("file:") or "://" not in uri:
            # MLflow 3 keeps the plain-folder store only on request; it is what a user without
            # a server expects, so ask for it (an explicit setting of the variable wins).
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return uri

    @staticmethod
    def _write_artifacts(folder: Path, result: ExperimentResult,
                         artifacts: RunArtifacts) -> None:
        (folder / "results.json").write_text(json.dumps(result.to_dict(), indent=2))
        scores = {name: s.numpy() for name, s in artifacts.scores.items()}
        write_roc(folder, artifacts.eval_is_member.numpy(), scores)
        if artifacts.target_state:
            torch.save(artifacts.target_state, folder / "target_weights.pt")


def params(result: ExperimentResult) -> dict[str, str]:
    """Flat params: the experiment config and every component's effective options."""
    out = {k: _text(v) for k, v in result.config.items() if k != "options"}
    for component, values in result.options.items():
        out.update({f"{component}.{k}": _text(v) for k, v in values.items()})
    out["device"] = result.device
    return out


def metrics(result: ExperimentResult) -> dict[str, float]:
    out = {"target_train_accuracy": result.target_train_accuracy,
           "target_test_accuracy": result.target_test_accuracy}
    for attack in result.attacks:
        for name in ATTACK_METRICS:
            out[f"{attack.name}.{name}"] = float(getattr(attack.metrics, name))
        out.update(_estimates(attack))
    for phase, seconds in result.timings.items():
        out[f"seconds.{phase.replace(':', '.')}"] = seconds
    return out


def _estimates(attack: Any) -> dict[str, float]:
    """The attack's bootstrap intervals, GDP estimate and canary bounds, as flat metrics."""
    out: dict[str, float] = {}
    m, prefix = attack.metrics, attack.name
    if m.intervals is not None:
        for name in ("auc", "tpr_at_1pct_fpr", "tpr_at_01pct_fpr"):
            low, high = getattr(m.intervals, name)
            out.update({f"{prefix}.{name}.low": low, f"{prefix}.{name}.high": high})
    if m.gdp is not None:
        out.update({f"{prefix}.gdp_mu": m.gdp.mu, f"{prefix}.gdp_epsilon": m.gdp.epsilon,
                    f"{prefix}.gdp_mu.low": m.gdp.mu_interval[0],
                    f"{prefix}.gdp_mu.high": m.gdp.mu_interval[1]})
    audit = attack.canary_audit
    if audit is not None:
        out.update({f"{prefix}.canary_epsilon": audit.epsilon,
                    f"{prefix}.canary_fdp_mu": audit.fdp_mu,
                    f"{prefix}.canary_fdp_epsilon": audit.fdp_epsilon})
    return out


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


@hookimpl
def register_reporters(register):
    register("mlflow", MlflowReporter, description="Log the run to MLflow tracking (params, "
             "metrics, ROC plot, target weights)", options=MlflowOptions)
