"""A population attack plugin: how far the target's confidence on a record lies above what
reference models that never trained on it say (an offline LiRA without the logit scaling)."""

import attrs
import torch

from mia_core import AttackContext, ThreatModel, hookimpl, option


@attrs.frozen
class Options:
    min_std: float = option(1e-3, "floor for the reference models' spread")


class ReferenceZScore:
    threat_model = ThreatModel.POPULATION  # the core trains reference models for it

    def __init__(self, options: Options):
        self.options = options

    def score(self, ctx: AttackContext) -> torch.Tensor:
        refs = ctx.reference_models()  # mia_core.ReferenceModels, shared by every attack
        ev = refs.evaluation_positions  # a slice: pool positions of ctx.evaluation, in order
        y = ctx.evaluation.y
        # (models, evaluation records): each reference model's log p(true label)
        ref = refs.pool_logits()[:, ev].log_softmax(-1)
        ref = ref.gather(-1, y.expand(refs.count, -1).unsqueeze(-1)).squeeze(-1)
        out = ~refs.in_mask[:, ev]  # models that did NOT train on the record
        n_out = out.sum(0).clamp_min(1)
        mean = (ref * out).sum(0) / n_out
        std = (((ref - mean) ** 2 * out).sum(0) / n_out).sqrt().clamp_min(self.options.min_std)
        target = ctx.target.logits(ctx.evaluation.x).log_softmax(-1)
        target = target.gather(-1, y.unsqueeze(-1)).squeeze(-1)
        return (target - mean) / std  # higher = more member-like


@hookimpl
def register_attacks(register):
    register("reference-zscore", ReferenceZScore,
             description="Target confidence vs reference models without the record",
             options=Options)
