"""The typed values a run's phases hand each other: its records, its target, its session."""

from __future__ import annotations

import time

import attrs
import torch
from torch import nn

from mia_core.data import Records
from mia_core.experiment.canaries import Canaries
from mia_core.progress import Progress
from mia_core.results.audit import DEFAULT_DELTA
from mia_core.splits import MembershipSplit
from mia_core.training.cache import ModelCache
from mia_core.training.dp import PrivacySpent


@attrs.frozen(eq=False)
class RunRecords:
    """The data of a run and who is what: the split, the canaries, the evaluation order."""

    pool: Records
    split: MembershipSplit
    canaries: Canaries | None
    trained_index: torch.Tensor  # the target's records in the pool (members, or decoys)
    eval_index: torch.Tensor  # evaluation records, in the order the attacks see them
    is_member: torch.Tensor

    def training_pool(self) -> Records:
        """The pool with the canaries after its records."""
        if self.canaries is None:
            return self.pool
        return self.pool.then(self.canaries.data)

    def target_index(self) -> torch.Tensor:
        """Indices into :meth:`training_pool` the target trains on: its records, then the
        included canaries."""
        if self.canaries is None:
            return self.trained_index
        picked = torch.nonzero(self.canaries.included)[:, 0]
        return torch.cat([self.trained_index, len(self.pool) + picked])


@attrs.frozen(eq=False)
class TrainedTarget:
    """The model under audit and what is known about its training."""

    model: nn.Module
    train_accuracy: float  # NaN where the target's answers have no accuracy
    test_accuracy: float
    privacy: PrivacySpent | None
    doubts: tuple[str, ...] = ()  # why its training looks wrong (a WARNING each)

    @property
    def audit_delta(self) -> float:
        """The δ every ε lower bound is stated at: the accountant's, else the default."""
        return self.privacy.delta if self.privacy is not None else DEFAULT_DELTA


@attrs.frozen(eq=False)
class Session:
    """What the phases share: the device, the cache, progress and the clock."""

    device: torch.device
    cache: ModelCache
    progress: Progress
    timings: dict[str, float] = attrs.field(factory=dict)

    def timed(self, phase: str, started: float) -> None:
        self.timings[phase] = time.perf_counter() - started
