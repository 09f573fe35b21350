"""Result types of a run, attrs classes end to end; JSON is written from them as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import torch

from mia_core.config import ExperimentConfig
from mia_core.progress import QUIET, Progress
from mia_core.results.audit import CanaryAudit
from mia_core.results.metrics import AttackMetrics, ClassMetrics
from mia_core.splits import MembershipSplit
from mia_core.training.dp import PrivacySpent
from mia_core.training.formats import StepFormat


@attrs.frozen
class AttackReport:
    """One attack's measurement: the core's metrics from its scores, per class too."""

    name: str
    metrics: AttackMetrics
    seconds: float
    queries: int
    per_class: dict[str, ClassMetrics] = attrs.field(factory=dict)  # keyed by class label
    # a ThreatModel value; None for scores measured from a file (``mia metrics``), whose
    # attacker is unknown to the core
    threat_model: str | None = "known-members"
    canary_audit: CanaryAudit | None = None  # the one-run bound, for known-members attacks
    details: dict[str, Any] = attrs.field(factory=dict)  # what the attack chose (its output)

    @property
    def proven_epsilon(self) -> float:
        """The larger of the attack's two epsilon lower bounds (scores, canaries)."""
        return max(self.metrics.epsilon_lb,
                   self.canary_audit.epsilon if self.canary_audit else 0.0)


@attrs.frozen
class GivenModel:
    """The audited model when it was trained elsewhere (``--model``): its file, the file's
    SHA-256, the member (and heldout) lists, the membership claim in words, and why the
    model does not look trained on its listed members, if it does not (``doubts``)."""

    file: str
    sha256: str
    train_records: str
    heldout_records: str | None
    claim: str
    doubts: tuple[str, ...] = ()
    members_used: str = ""  # which of the listed members the split holds, and why


@attrs.frozen
class ExperimentResult:
    """Everything a reader needs to judge the run; serialisable as JSON."""

    config: ExperimentConfig
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
    privacy: PrivacySpent | None = None  # DP-SGD accounting of the target
    audit_delta: float = 1e-5  # the delta every attack's epsilon_lb is stated at
    given_model: GivenModel | None = None  # set when the target was trained elsewhere
    benchmark_labels: str | None = None  # why a benchmark's fixed members are doubtful
    reference_queries: int = 0  # reference models queried on the pool in the driver
    step_format: StepFormat | None = None  # the target's training precision and layout
    plugins: tuple[str, ...] = ()  # the run's -p choices: a rerun from results.json repeats them
    training_doubts: tuple[str, ...] = ()  # why a target trained here looks untrained

    @property
    def privacy_violations(self) -> list[str]:
        """Attacks whose epsilon lower bound exceeds the accountant's epsilon: the accountant,
        the training or the attack is wrong."""
        if self.privacy is None:
            return []
        return [a.name for a in self.attacks
                if a.proven_epsilon > self.privacy.epsilon + 1e-9]

    @property
    def warnings(self) -> list[str]:
        """What makes this run's numbers probably wrong, each one sentence (results.json
        ``warnings``, the summary, the report's first paragraph)."""
        from mia_core.results.measure import sample_warning

        found = list(self.given_model.doubts) if self.given_model is not None else []
        found += self.training_doubts
        few = sample_warning(self.split_sizes["eval_members"], self.split_sizes["eval_nonmembers"])
        return found + ([self.benchmark_labels] if self.benchmark_labels else []) + (
            [few] if few else [])

    def to_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "privacy_violations": self.privacy_violations,
                "warnings": self.warnings}

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
    # the strongest attack's most exposed evaluation members: dataset ids and their inputs
    exposed_records: torch.Tensor = attrs.field(factory=lambda: torch.empty(0, dtype=torch.int64))
    exposed_inputs: torch.Tensor | None = None
    exposed_text: tuple[str, ...] = ()  # the same records as text (ReadableDataset), if any


@attrs.frozen
class ReportEnv:
    """Given to reporters: the --output folder (``None`` when not given) and progress."""

    output: Path | None
    progress: Progress = QUIET
