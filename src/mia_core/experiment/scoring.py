"""Scoring: an attack's answer on its context, measured by the core, never by the attack."""

from __future__ import annotations

import time

import attrs
import torch

from mia_core.context import AttackContext, AttackOutput, normalise_output
from mia_core.data import Records
from mia_core.experiment.plan import Component
from mia_core.results.measure import measure
from mia_core.results.metrics import per_class_metrics
from mia_core.results.types import AttackReport
from mia_core.threats import ThreatModel
from mia_core.training.fit import seeded


def ask(attack: Component, ctx: AttackContext, records: Records) -> AttackOutput:
    """The attack's scores for ``records`` (the context's evaluation records, or others such
    as canaries), drawn under the attack's own seed and checked."""
    if records is not ctx.evaluation:
        ctx = attrs.evolve(ctx, evaluation=records)
    with seeded(ctx.seed):
        return normalise_output(attack.call("score", ctx), len(records), attack.name)


def score(attack: Component, ctx: AttackContext, is_member: torch.Tensor,
          delta: float) -> tuple[AttackReport, torch.Tensor]:
    """Run one attack and measure it: every metric, ε_lb at ``delta`` and the per-class
    table, from its scores and the membership truth it never saw."""
    clock = time.perf_counter()
    ctx.progress.message(f"running attack '{attack.name}'")
    answer = ask(attack, ctx, ctx.evaluation)
    seconds = time.perf_counter() - clock
    truth, scores = is_member.numpy(), answer.scores.numpy()
    metrics = measure(truth, scores, answer.threshold, delta, ctx.seed)
    labels = ctx.evaluation.y
    per_class = ({} if labels is None  # records without classes have no per-class table
                 else per_class_metrics(truth, labels.numpy(), scores, answer.threshold))
    threat = ThreatModel(attack.instance.threat_model).value
    report = AttackReport(attack.name, metrics, seconds, ctx.target.queries, per_class, threat,
                          details=answer.details)
    return report, answer.scores
