"""RMIA, offline (Zarifzadeh et al. 2024, "Low-Cost High-Power Membership Inference Attacks").

Compares the target's likelihood ratio on a record, p(x | target) / p(x), with the same ratio on
population records z: the score is the fraction of z with LR(x, z) >= gamma.
Offline, p(x) is approximated from OUT reference models as ((1 + a) p_out(x) + (1 - a)) / 2.
"""

from __future__ import annotations

import attrs
import torch

from mia_core import AttackContext, ThreatModel, option, positive

from .signals import true_log_prob


@attrs.frozen
class RmiaOptions:
    a: float = option(0.3, "offline approximation of p(x) from OUT models (0..1)",
                      attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0)))
    gamma: float = option(1.0, "likelihood-ratio factor a record must beat z by", positive)
    comparisons: int = option(2500, "population records z to compare with", positive)


class Rmia:
    threat_model = ThreatModel.POPULATION

    def __init__(self, options: RmiaOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> torch.Tensor:
        refs = ctx.reference_models()
        assert ctx.population is not None
        pop = ctx.population
        g = ctx.generator()
        z = torch.randperm(len(pop), generator=g)[: self.options.comparisons]
        ratio_x = self._ratio(ctx, refs, refs.evaluation_positions, ctx.evaluation.x,
                              ctx.evaluation.y)
        pop_positions = torch.arange(refs.n_population)[z]
        ratio_z = self._ratio(ctx, refs, pop_positions, pop.x[z], pop.y[z])
        sorted_z = ratio_z.sort().values
        # LR(x, z) = ratio_x / ratio_z >= gamma  <=>  ratio_z <= ratio_x / gamma
        beaten = torch.searchsorted(sorted_z, ratio_x / self.options.gamma, side="right")
        return beaten.double() / len(sorted_z)

    def _ratio(self, ctx: AttackContext, refs, positions, x, y) -> torch.Tensor:
        """p(x | target) / p(x) with p(x) from the reference models that did not train on x."""
        p_target = true_log_prob(ctx.target.logits(x), y).exp()
        p_refs = true_log_prob(refs.pool_logits()[:, positions], y).exp()
        out = ~refs.in_mask[:, positions]
        p_out = (p_refs * out).sum(0) / out.sum(0).clamp_min(1)
        a = self.options.a
        return p_target / (0.5 * ((1 + a) * p_out + (1 - a))).clamp_min(1e-30)
