"""LiRA (Carlini et al. 2022, "Membership Inference Attacks From First Principles").

For each evaluation record, fit Gaussians to the ``confidence`` signal (for classifiers the
logit-scaled confidence of the true class) of reference models trained with it (IN) and
without it (OUT), then score the target's confidence by likelihood ratio (online) or by how
far above the OUT distribution it lies (offline). It reads that signal only, so it works on
any modality whose models give it. With ``queries``
> 1 every record is also queried as its declared views (images: mirrored, shifted); each view
gets its own Gaussians and the score is the mean of the per-view scores, as in the paper.
"""

from __future__ import annotations

import attrs
import torch
from torch.distributions import Normal

from mia_core import AttackContext, ThreatModel, option, positive

QUERIES_HELP = ("queries per record: 1 is the record alone; more add the data's views "
                "(images: mirror, then shifts; up to 18), their scores averaged")


@attrs.frozen
class LiraOptions:
    mode: str = option("online", "online (IN and OUT models) or offline (OUT models only)",
                       choices=("online", "offline"))
    variance: str = option("per-example", "per-example variances, or one global variance "
                           "(better with few reference models)", choices=("per-example",
                                                                          "global"))
    queries: int = option(1, QUERIES_HELP, positive)


@attrs.frozen
class LiraOfflineOptions:
    variance: str = option("per-example", "per-example variances, or one global variance",
                           choices=("per-example", "global"))
    queries: int = option(1, QUERIES_HELP, positive)


class Lira:
    threat_model = ThreatModel.POPULATION
    needs_signals = ("confidence",)  # any modality whose models give it

    def __init__(self, options: LiraOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> torch.Tensor:
        refs = ctx.reference_models()
        ev = refs.evaluation_positions
        records = ctx.evaluation
        views = ctx.query_views(self.options.queries)
        # (models, eval, views) and (eval, views): one statistic per model, record and view
        ref_conf = torch.stack([refs.signal("confidence", ev, v) for v in views], -1)
        target_conf = torch.stack([
            ctx.target.signal("confidence", records.with_inputs(v(records.x))) for v in views],
            -1)
        in_mask = refs.in_mask[:, ev]
        out_mean, out_std = self._fit(ref_conf, ~in_mask)
        if self.options.mode == "offline":  # one-sided: higher = more member-like
            return ((target_conf - out_mean) / out_std).mean(-1)
        in_mean, in_std = self._fit(ref_conf, in_mask)
        return (Normal(in_mean, in_std).log_prob(target_conf)
                - Normal(out_mean, out_std).log_prob(target_conf)).mean(-1)

    def _fit(self, values: torch.Tensor,
             mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = masked_stats(values, mask)
        if self.options.variance == "global":
            std = global_std(values, mask).expand_as(std)
        return mean, std


def masked_stats(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and std over the rows where ``mask`` holds (std floored for stability);
    a trailing views dimension of ``values`` gets its own statistics."""
    m = mask.double().reshape(*mask.shape, *[1] * (values.dim() - mask.dim()))
    count = m.sum(0).clamp_min(1)
    mean = (values * m).sum(0) / count
    var = (((values - mean) ** 2) * m).sum(0) / count
    return mean, var.sqrt().clamp_min(1e-3)


def global_std(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One standard deviation over every masked value of every record (population form, as
    the per-example one), floored like it; one per view when ``values`` has views."""
    return values[mask].std(dim=0, correction=0).clamp_min(1e-3)


def lira_offline(options: LiraOfflineOptions) -> Lira:
    """``lira`` fixed to offline mode, so both modes can run side by side in one table."""
    return Lira(LiraOptions(mode="offline", variance=options.variance,
                            queries=options.queries))
