"""RMIA (Zarifzadeh et al. 2024, "Low-Cost High-Power Membership Inference Attacks").

Compares the target's likelihood ratio on a record, p(x | target) / p(x), with the same ratio on
population records z: the score is the fraction of z with LR(x, z) >= gamma.

- Online, p(x) is the mean of every reference model's p(x | model), IN and OUT alike.
- Offline, only OUT models are used and p(x) is approximated as ((1 + a) p_out(x) + 1 - a) / 2.
  Unless ``a`` is given it is chosen as ML Privacy Meter does: one reference model plays the
  target, the others its references, and the ``a`` whose scores separate that model's IN and
  OUT records best (AUC) is used.

With ``queries`` > 1 every probability is the mean over the record's declared views.
"""

from __future__ import annotations

import attrs
import torch

from mia_core import (
    AttackContext,
    AttackOutput,
    LabeledData,
    ReferenceModels,
    ThreatModel,
    option,
    positive,
)

from .lira import QUERIES_HELP
from .signals import rank_auc, true_log_prob

A_GRID = tuple(i / 10 for i in range(11))
CHOSEN = -1.0  # the value of ``a`` that means "choose it on the reference models"


def _a_value(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if value != CHOSEN and not 0.0 <= value <= 1.0:
        raise ValueError(f"'a' must be between 0 and 1 (or -1: chosen on the reference "
                         f"models): {value}")


@attrs.frozen
class RmiaOptions:
    mode: str = option("offline", "offline (OUT reference models, p(x) approximated with a) "
                       "or online (IN and OUT reference models)", choices=("offline", "online"))
    a: float = option(CHOSEN, "offline: p(x) = ((1 + a) p_out(x) + 1 - a) / 2, 0..1; -1: the "
                      "a that works best when one reference model plays the target", _a_value)
    gamma: float = option(1.0, "likelihood-ratio factor a record must beat z by", positive)
    comparisons: int = option(2500, "population records z to compare with", positive)
    queries: int = option(1, QUERIES_HELP, positive)


@attrs.frozen
class RmiaOnlineOptions:
    gamma: float = option(1.0, "likelihood-ratio factor a record must beat z by", positive)
    comparisons: int = option(2500, "population records z to compare with", positive)
    queries: int = option(1, QUERIES_HELP, positive)


def rmia_online(options: RmiaOnlineOptions) -> Rmia:
    """``rmia`` fixed to online mode, so both modes can run side by side in one table."""
    return Rmia(RmiaOptions(mode="online", gamma=options.gamma,
                            comparisons=options.comparisons, queries=options.queries))


@attrs.frozen(eq=False)
class Probabilities:
    """p(y | x) under the target (n,) and under every reference model (models, n), averaged
    over the queried views, with who trained on each record (models, n)."""

    target: torch.Tensor
    refs: torch.Tensor
    in_mask: torch.Tensor


class Rmia:
    threat_model = ThreatModel.POPULATION

    def __init__(self, options: RmiaOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> AttackOutput:
        refs = ctx.reference_models()
        assert ctx.population is not None
        z = torch.randperm(len(ctx.population), generator=ctx.generator())
        z = z[: self.options.comparisons]
        on_x = probabilities(ctx, refs, refs.evaluation_positions, ctx.evaluation,
                             self.options.queries)
        on_z = probabilities(ctx, refs, torch.arange(refs.n_population)[z],
                             ctx.population.subset(z), self.options.queries)
        details: dict[str, float | str] = {"mode": self.options.mode}
        a = self.options.a
        if self.options.mode == "offline" and a == CHOSEN:
            a, how = choose_a(on_x, on_z, self.options.gamma)
            details.update(a=a, a_chosen_by=how)
        elif self.options.mode == "offline":
            details["a"] = a
        ratio_x = on_x.target / self._p_x(on_x.refs, on_x.in_mask, a)
        ratio_z = on_z.target / self._p_x(on_z.refs, on_z.in_mask, a)
        return AttackOutput(beaten(ratio_x, ratio_z, self.options.gamma), details=details)

    def _p_x(self, p_refs: torch.Tensor, in_mask: torch.Tensor, a: float) -> torch.Tensor:
        if self.options.mode == "online":
            return p_refs.mean(0).clamp_min(1e-30)
        return offline_p_x(p_refs, ~in_mask, a)


def probabilities(ctx: AttackContext, refs: ReferenceModels, positions: slice | torch.Tensor,
                  records: LabeledData, queries: int) -> Probabilities:
    """The target's and every reference model's p(y | x) for pool records at ``positions``
    (``records`` are those records), each the mean over the first ``queries`` views."""
    views = ctx.query_views(queries)
    y = records.y
    target = torch.stack([true_log_prob(ctx.target.logits(v(records.x)), y).exp()
                          for v in views]).mean(0)
    p_refs = torch.stack([true_log_prob(refs.view_logits(v, positions), y).exp()
                          for v in views]).mean(0)
    return Probabilities(target, p_refs, refs.in_mask[:, positions])


def offline_p_x(p_refs: torch.Tensor, out: torch.Tensor, a: float) -> torch.Tensor:
    """((1 + a) p_out + 1 - a) / 2, with p_out the mean over the models in ``out``."""
    p_out = (p_refs * out).sum(0) / out.sum(0).clamp_min(1)
    return (0.5 * ((1 + a) * p_out + (1 - a))).clamp_min(1e-30)


def beaten(ratio_x: torch.Tensor, ratio_z: torch.Tensor, gamma: float) -> torch.Tensor:
    """For each x, the share of z with ratio_x / ratio_z >= gamma (ties count as beaten)."""
    sorted_z = ratio_z.sort().values
    return torch.searchsorted(sorted_z, ratio_x / gamma, side="right").double() / len(sorted_z)


def choose_a(on_x: Probabilities, on_z: Probabilities, gamma: float) -> tuple[float, str]:
    """The offline ``a`` whose scores best tell reference model 0's IN records from its OUT
    ones, the other models serving as its references (records that none of them left out
    are skipped). With fewer than 3 models there is nothing to choose on: 0.3."""
    if on_x.refs.shape[0] < 3:
        return 0.3, "default (fewer than 3 reference models)"
    others = ~on_x.in_mask[1:], ~on_z.in_mask[1:]
    usable = others[0].any(0)
    truth = on_x.in_mask[0][usable]
    if truth.all() or not truth.any():
        return 0.3, "default (no IN and OUT records to choose on)"
    best, best_auc = 0.3, -1.0
    for a in A_GRID:
        ratio_x = on_x.refs[0] / offline_p_x(on_x.refs[1:], others[0], a)
        ratio_z = on_z.refs[0] / offline_p_x(on_z.refs[1:], others[1], a)
        auc = rank_auc(beaten(ratio_x, ratio_z, gamma)[usable], truth)
        if auc > best_auc + 1e-12:
            best, best_auc = a, auc
    return best, f"reference model 0 as the target (AUC {best_auc:.4f})"
