"""LiRA (Carlini et al. 2022, "Membership Inference Attacks From First Principles").

For each evaluation record, fit Gaussians to the logit-scaled confidence of reference models
trained with it (IN) and without it (OUT), then score the target's confidence by likelihood
ratio (online) or by how far above the OUT distribution it lies (offline).
"""

from __future__ import annotations

import attrs
import torch
from torch.distributions import Normal

from mia_core import AttackContext, ThreatModel, option

from .signals import scaled_confidence


@attrs.frozen
class LiraOptions:
    mode: str = option("online", "online (IN and OUT models) or offline (OUT models only)",
                       choices=("online", "offline"))
    variance: str = option("per-example", "per-example variances, or one global variance "
                           "(better with few reference models)", choices=("per-example",
                                                                          "global"))


@attrs.frozen
class LiraOfflineOptions:
    variance: str = option("per-example", "per-example variances, or one global variance",
                           choices=("per-example", "global"))


class Lira:
    threat_model = ThreatModel.POPULATION

    def __init__(self, options: LiraOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> torch.Tensor:
        refs = ctx.reference_models()
        ev = refs.evaluation_positions
        y = ctx.evaluation.y
        ref_conf = scaled_confidence(refs.pool_logits()[:, ev], y)  # (models, eval)
        in_mask = refs.in_mask[:, ev]
        target_conf = scaled_confidence(ctx.target.logits(ctx.evaluation.x), y)
        out_mean, out_std = masked_stats(ref_conf, ~in_mask)
        if self.options.variance == "global":
            out_std = torch.full_like(out_std, global_std(ref_conf, ~in_mask))
        if self.options.mode == "offline":
            return (target_conf - out_mean) / out_std  # one-sided: higher = more member-like
        in_mean, in_std = masked_stats(ref_conf, in_mask)
        if self.options.variance == "global":
            in_std = torch.full_like(in_std, global_std(ref_conf, in_mask))
        return (Normal(in_mean, in_std).log_prob(target_conf)
                - Normal(out_mean, out_std).log_prob(target_conf))


def masked_stats(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and std over the rows where ``mask`` holds (std floored for stability)."""
    m = mask.double()
    count = m.sum(0).clamp_min(1)
    mean = (values * m).sum(0) / count
    var = (((values - mean) ** 2) * m).sum(0) / count
    return mean, var.sqrt().clamp_min(1e-3)


def global_std(values: torch.Tensor, mask: torch.Tensor) -> float:
    """One standard deviation over every masked value of every record (population form, as
    the per-example one), floored like it."""
    return max(float(values[mask].std(correction=0)), 1e-3)


def lira_offline(options: LiraOfflineOptions) -> Lira:
    """``lira`` fixed to offline mode, so both modes can run side by side in one table."""
    return Lira(LiraOptions(mode="offline", variance=options.variance))
