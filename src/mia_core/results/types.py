"""Experiment results: the summary, the per-record artefacts, and writing them to disk."""

from __future__ import annotations

import csv
import json
import platform
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import torch

from mia_core.catalog.registry import Entry
from mia_core.errors import MiaError
from mia_core.experiment.splits import MembershipSplit
from mia_core.progress import QUIET, Progress
from mia_core.results.metrics import AttackMetrics
from mia_core.results.report import write_roc

RESULTS_FILE = "results.json"
SCORES_FILE = "evaluation.csv"
SPLIT_FILE = "split.json"


@attrs.frozen
class AttackReport:
    name: str
    metrics: AttackMetrics
    seconds: float
    queries: int
    per_class: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    threat_model: str = "known-members"
    canary_audit: dict[str, Any] | None = None  # the one-run bound (mia_core.audit.CanaryAudit)

    @property
    def proven_epsilon(self) -> float:
        """The larger of the attack's two epsilon lower bounds (scores, canaries)."""
        return max(self.metrics.epsilon_lb, (self.canary_audit or {}).get("epsilon", 0.0))


@attrs.frozen
class ExperimentResult:
    """Everything a reader needs to judge the run; serialisable as JSON."""

    config: dict[str, Any]
    options: dict[str, dict[str, Any]]
    device: str
    versions: dict[str, str]
    split_sizes: dict[str, int]
    pool_size: int
    target_train_accuracy: float
    target_test_accuracy: float
    attacks: tuple[AttackReport, ...]
    timings: dict[str, float]
    models_trained: int = 0
    models_from_cache: int = 0
    threads: int = 0  # torch's CPU threads during the run (results may differ between counts)
    privacy: dict[str, Any] | None = None  # DP-SGD accounting of the target (PrivacySpent)
    audit_delta: float = 1e-5  # the delta every attack's epsilon_lb is stated at

    @property
    def privacy_violations(self) -> list[str]:
        """Attacks whose epsilon lower bound exceeds the accountant's epsilon: the accountant,
        the training or the attack is wrong."""
        if not self.privacy:
            return []
        return [a.name for a in self.attacks
                if a.proven_epsilon > self.privacy["epsilon"] + 1e-9]

    def to_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "privacy_violations": self.privacy_violations}

    def attack(self, name: str) -> AttackReport:
        """The report of attack ``name`` (its metrics, time and query count)."""
        for report in self.attacks:
            if report.name == name:
                return report
        raise KeyError(f"no attack {name!r} in this result; it has "
                       f"{', '.join(a.name for a in self.attacks)}")


@attrs.frozen(eq=False)
class RunArtifacts:
    """Per-record data to recompute every metric: which records, their truth, their scores."""

    split: MembershipSplit
    eval_index: torch.Tensor
    eval_is_member: torch.Tensor
    eval_labels: torch.Tensor
    scores: dict[str, torch.Tensor]
    target_state: dict[str, torch.Tensor] = attrs.field(factory=dict)  # trained weights (CPU)


@attrs.frozen
class ReportEnv:
    """Given to reporters: the --output folder (``None`` when not given) and progress."""

    output: Path | None
    progress: Progress = QUIET


def versions(entries: Iterable[Entry]) -> dict[str, str]:
    """Versions of Python, torch, mia-core and every distribution that provided a component."""
    found = {"python": platform.python_version(), "torch": torch.__version__,
             "mia-core": _version("mia-core")}
    for entry in entries:
        found[entry.origin.distribution] = entry.origin.version
    return found


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def write_output(directory: Path, result: ExperimentResult, artifacts: RunArtifacts,
                 progress: Progress = QUIET) -> list[Path]:
    """Write results.json, evaluation.csv, split.json, roc.csv and roc.png into ``directory``.

    Refuses to overwrite earlier results: a finished run is evidence, not scratch space.
    """
    files = [directory / name for name in (RESULTS_FILE, SCORES_FILE, SPLIT_FILE)]
    hint: str | None = None
    existing = [f.name for f in files if f.exists()]
    if existing:
        raise MiaError(f"{directory} already holds {', '.join(existing)}; "
                       "choose another --output folder or move those files away")
    if directory.exists() and not directory.is_dir():
        raise MiaError(f"--output {directory} exists and is not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        files[0].write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        _write_scores(files[1], artifacts)
        files[2].write_text(json.dumps(_split_dict(artifacts.split)) + "\n")
        scores = {name: s.numpy() for name, s in artifacts.scores.items()}
        roc_files, hint = write_roc(directory, artifacts.eval_is_member.numpy(), scores)
    except OSError as exc:
        raise MiaError(f"cannot write results to {directory}: {exc.strerror or exc}") from None
    if hint:
        progress.message(hint)
    return files + roc_files


def _write_scores(path: Path, artifacts: RunArtifacts) -> None:
    names = list(artifacts.scores)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["record", "label", "is_member", *(f"score:{n}" for n in names)])
        columns = [artifacts.scores[n].tolist() for n in names]
        for i, (record, label, member) in enumerate(zip(
                artifacts.eval_index.tolist(), artifacts.eval_labels.tolist(),
                artifacts.eval_is_member.tolist(), strict=True)):
            writer.writerow([record, label, int(member), *(repr(col[i]) for col in columns)])


def _split_dict(split: MembershipSplit) -> dict[str, list[int]]:
    return {name: getattr(split, name).tolist() for name in
            ("known_members", "known_nonmembers", "eval_members", "eval_nonmembers",
             "population")}


def _privacy_lines(result: ExperimentResult) -> list[str]:
    p = result.privacy
    if not p:
        return []
    return [f"DP-SGD: ε = {p['epsilon']:.3f} at δ = {p['delta']:g} (Opacus RDP accountant); "
            f"noise multiplier {p['noise_multiplier']:.4f}, sampling rate "
            f"{p['sample_rate']:.4g}, {p['steps']} steps, clipping norm {p['max_grad_norm']:g}"]


def _canary_lines(result: ExperimentResult) -> list[str]:
    audits = [(a.name, a.canary_audit) for a in result.attacks if a.canary_audit]
    if not audits:
        return (["one-run audit: only known-members attacks score the canaries; add one, e.g. "
                 "--attack loss-threshold"] if result.config.get("canaries") else [])
    return [f"one-run audit, {audits[0][1]['canaries']} canaries each trained on with "
            "probability 1/2 (Steinke et al. 2023):"] + [
        f"  {name}: ε_lb {audit['epsilon']:.3f} ({audit['correct']} of {audit['guesses']} "
        "guesses right)" for name, audit in audits]


def format_summary(result: ExperimentResult) -> str:
    """The human-readable summary printed on stdout."""
    cfg, sizes = result.config, result.split_sizes
    width = max([6, *(len(a.name) for a in result.attacks)])
    lines = [
        f"mia-core: dataset={cfg['dataset']} target={cfg['target']} seed={cfg['seed']} "
        f"device={result.device}" + ("  CONTROL RUN: target never saw the members"
                                     if cfg.get("control") else ""),
        f"split: {sizes['members']} members / {sizes['nonmembers']} non-members "
        f"(pool {result.pool_size}); "
        + (f"attacker knows {sizes['known_members']} + {sizes['known_nonmembers']}; "
           if any(a.threat_model == "known-members" for a in result.attacks) else "")
        + f"evaluation {sizes['eval_members']} members + {sizes['eval_nonmembers']} non-members"
        + (f"; population {sizes['population']}" if sizes["population"] else ""),
        f"target: train accuracy {result.target_train_accuracy:.4f}, "
        f"test accuracy {result.target_test_accuracy:.4f} (non-members)",
        *_privacy_lines(result),
        "",
        f"{'attack':<{width}} {'AUC':>6} {'adv':>6} {'acc':>6} {'prec':>6} {'recall':>6} "
        f"{'TPR@1%':>7} {'TPR@.1%':>8} {'TPR@0%':>7} {'ε_lb':>6} {'time':>7}",
    ]
    for a in result.attacks:
        m = a.metrics
        lines.append(
            f"{a.name:<{width}} {m.auc:>6.4f} {m.advantage:>6.4f} {m.accuracy:>6.4f} "
            f"{m.precision:>6.4f} {m.recall:>6.4f} {m.tpr_at_1pct_fpr:>7.4f} "
            f"{m.tpr_at_01pct_fpr:>8.4f} {m.tpr_at_0_fpr:>7.4f} {m.epsilon_lb:>6.3f} "
            f"{a.seconds:>6.1f}s"
        )
    lines.append(f"ε_lb: one-sided 95 % lower bound on ε at δ = {result.audit_delta:g} from each "
                 "attack's scores (see docs/auditing.md)")
    lines += _canary_lines(result)
    for name in result.privacy_violations:
        spent = (result.privacy or {}).get("epsilon", 0.0)
        lines.append(f"WARNING: attack '{name}' proves ε >= "
                     f"{result.attack(name).proven_epsilon:.3f}, above the accountant's ε = "
                     f"{spent:.3f}: the accountant, the training or the attack is wrong")
    t = result.timings
    lines += ["", "timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items())]
    if result.models_from_cache:
        lines.append(f"models: {result.models_from_cache} loaded from cache, "
                     f"{result.models_trained} trained")
    return "\n".join(lines)
