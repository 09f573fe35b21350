"""RMIA (Zarifzadeh et al. 2024, "Low-Cost High-Power Membership Inference Attacks").

Compares the target's likelihood ratio on a record, p(x | target) / p(x), with the same ratio on
population records z: the score is the fraction of z with LR(x, z) >= gamma.

- Online, p(x) is the mean of every reference model's p(x | model), IN and OUT alike.
- Offline, only OUT models are used and p(x) is approximated as ((1 + a) p_out(x) + 1 - a) / 2.
  Unless ``a`` is given it is chosen as ML Privacy Meter does: one reference model plays the
  target, the others its references, and the ``a`` whose scores separate that model's IN and
  OUT records best (AUC) is used.

p(x | model) is by default the softmax probability of the true class; the paper's CIFAR
set-ups use a temperature, the Taylor soft-margin signal and a trimmed mean over reference
models, all options here (``configs/cifar10-rmia-paper.toml`` sets them as the paper's released
config does). With ``queries`` > 1 every probability is the mean over the record's declared
views.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import torch

from mia_core import (
    AttackContext,
    AttackOutput,
    Records,
    ReferenceModels,
    ThreatModel,
    option,
    positive,
)

from .lira import QUERIES_HELP
from .signals import rank_auc, taylor_soft_margin, true_log_prob

A_GRID = tuple(i / 10 for i in range(11))
CHOSEN = -1.0  # the value of ``a`` that means "choose it on the reference models"
SIGNALS = ("softmax", "taylor-soft-margin")


def _a_value(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if value != CHOSEN and not 0.0 <= value <= 1.0:
        raise ValueError(f"'a' must be between 0 and 1 (or -1: chosen on the reference "
                         f"models): {value}")


def _trim(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value < 0.5:
        raise ValueError(f"trim must be at least 0 and below 0.5 (the share cut from each end): "
                         f"{value}")


def _margin(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"taylor_m must be a finite number: {value}")


@attrs.frozen
class RmiaSignalOptions:
    """What both modes share: the statistic p(x | model) and how it is averaged and compared.
    The defaults are today's plain set-up; the paper's CIFAR-10 values are in each help."""

    gamma: float = option(1.0, "likelihood-ratio factor a record must beat z by (paper, "
                          "CIFAR-10: 2)", positive)
    comparisons: int = option(2500, "population records z to compare with", positive)
    queries: int = option(1, QUERIES_HELP + " (paper, CIFAR-10: 18)", positive)
    signal: str = option("softmax", "p(x | model): softmax (the true class's probability) or "
                         "taylor-soft-margin (paper, CIFAR-10: a Taylor-expanded softmax with "
                         "the true logit lowered by taylor_m)", choices=SIGNALS)
    temperature: float = option(1.0, "logits are divided by it first (paper, CIFAR-10: 2)",
                                positive)
    taylor_m: float = option(0.6, "taylor-soft-margin: the margin taken off the true class's "
                             "scaled logit (paper: 0.6)", _margin)
    taylor_n: int = option(4, "taylor-soft-margin: terms of exp's Taylor series, "
                           "1 + u + ... + u^(n-1)/(n-1)! (paper: 4)", positive)
    trim: float = option(0.0, "share of reference models cut from each end before averaging "
                         "their p(x | model), as scipy's trim_mean (paper, CIFAR-10: 0.2)",
                         _trim)


@attrs.frozen
class RmiaOptions(RmiaSignalOptions):
    mode: str = option("offline", "offline (OUT reference models, p(x) approximated with a) "
                       "or online (IN and OUT reference models)", choices=("offline", "online"))
    a: float = option(CHOSEN, "offline: p(x) = ((1 + a) p_out(x) + 1 - a) / 2, 0..1; -1: the "
                      "a that works best when one reference model plays the target (paper, "
                      "CIFAR-10: 0.3)", _a_value)


def rmia_online(options: RmiaSignalOptions) -> Rmia:
    """``rmia`` fixed to online mode, so both modes can run side by side in one table."""
    return Rmia(RmiaOptions(mode="online", **attrs.asdict(options)))


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
        # the plain softmax is exp(log_likelihood), a signal of any modality; the rest are
        # functions of a classifier's logits
        signal = signal_of(options)
        self.needs_signals = (signal,) if isinstance(signal, str) else ("logits",)

    def score(self, ctx: AttackContext) -> AttackOutput:
        refs = ctx.reference_models()
        assert ctx.population is not None
        o = self.options
        z = torch.randperm(len(ctx.population), generator=ctx.generator())
        z = z[: o.comparisons]
        signal = signal_of(o)
        on_x = probabilities(ctx, refs, refs.evaluation_positions, ctx.evaluation, o.queries,
                             signal)
        on_z = probabilities(ctx, refs, torch.arange(refs.n_population)[z],
                             ctx.population.subset(z), o.queries, signal)
        details: dict[str, float | str] = {"mode": o.mode}
        if o.signal != "softmax":
            # a truncated series can leave (0, 1] (e.g. n = 4 on very negative logits), where
            # the signal stops ordering records as a probability would: say how often
            values = torch.cat([t.reshape(-1) for t in (on_x.target, on_x.refs, on_z.target,
                                                        on_z.refs)])
            details["signal_outside_0_1"] = round(float(((values <= 0) | (values > 1))
                                                        .double().mean()), 4)
        a = o.a
        if o.mode == "offline" and a == CHOSEN:
            a, how = choose_a(on_x, on_z, o.gamma, o.trim)
            details.update(a=a, a_chosen_by=how)
        elif o.mode == "offline":
            details["a"] = a
        ratio_x = on_x.target / self._p_x(on_x.refs, on_x.in_mask, a)
        ratio_z = on_z.target / self._p_x(on_z.refs, on_z.in_mask, a)
        return AttackOutput(beaten(ratio_x, ratio_z, o.gamma), details=details)

    def _p_x(self, p_refs: torch.Tensor, in_mask: torch.Tensor, a: float) -> torch.Tensor:
        if self.options.mode == "online":
            return trimmed_mean(p_refs, torch.ones_like(in_mask),
                                self.options.trim).clamp_min(1e-30)
        return offline_p_x(p_refs, ~in_mask, a, self.options.trim)


Signal = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def signal_of(options: RmiaSignalOptions) -> Signal | str:
    """p(x | model) as the options choose: a function of (..., N, C) logits and the true
    labels, or, for the plain softmax, the name of the core signal whose exp it is."""
    t = options.temperature
    if options.signal == "taylor-soft-margin":
        return lambda logits, y: taylor_soft_margin(logits, y, t, options.taylor_m,
                                                    options.taylor_n)
    if t == 1.0:
        return "log_likelihood"  # exp(log p(y | x)): the softmax of the true class
    return lambda logits, y: true_log_prob(logits / t, y).exp()


def probabilities(ctx: AttackContext, refs: ReferenceModels, positions: slice | torch.Tensor,
                  records: Records, queries: int, signal: Signal | str) -> Probabilities:
    """The target's and every reference model's p(x | model) for pool records at
    ``positions`` (``records`` are those records), each the mean over the first ``queries``
    views."""
    views = ctx.query_views(queries)
    if isinstance(signal, str):
        target = torch.stack([ctx.target.signal(signal, records.with_inputs(v(records.x)))
                              for v in views]).exp().mean(0)
        p_refs = torch.stack([refs.signal(signal, positions, v) for v in views]).exp().mean(0)
    else:
        y = records.y
        target = torch.stack([signal(ctx.target.logits(v(records.x)), y)
                              for v in views]).mean(0)
        p_refs = torch.stack([signal(refs.view_logits(v, positions), y)
                              for v in views]).mean(0)
    return Probabilities(target, p_refs, refs.in_mask[:, positions])


def trimmed_mean(values: torch.Tensor, use: torch.Tensor, cut: float) -> torch.Tensor:
    """For each record (column), the mean of ``values`` over the models (rows) in ``use``
    after dropping the lowest and the highest int(cut * count) of them, scipy.stats.trim_mean's
    rule; 0 for a record no model may be used on. Cutting nothing is the plain mean, summed in
    the models' order (the scores of a run without ``trim`` are those of before it existed)."""
    count = use.sum(0)
    if cut == 0:
        return (values * use).sum(0) / count.clamp_min(1)
    drop = (cut * count.double()).floor()
    ordered = torch.where(use, values.double(), math.inf).sort(0).values
    rank = torch.arange(values.shape[0], dtype=torch.float64).unsqueeze(1)
    keep = (rank >= drop) & (rank < count - drop)
    return torch.where(keep, ordered, 0.0).sum(0) / keep.sum(0).clamp_min(1)


def offline_p_x(p_refs: torch.Tensor, out: torch.Tensor, a: float,
                trim: float = 0.0) -> torch.Tensor:
    """((1 + a) p_out + 1 - a) / 2, with p_out the (trimmed) mean over the models in
    ``out``."""
    p_out = trimmed_mean(p_refs, out, trim)
    return (0.5 * ((1 + a) * p_out + (1 - a))).clamp_min(1e-30)


def beaten(ratio_x: torch.Tensor, ratio_z: torch.Tensor, gamma: float) -> torch.Tensor:
    """For each x, the share of z with ratio_x / ratio_z >= gamma (ties count as beaten)."""
    sorted_z = ratio_z.sort().values
    return torch.searchsorted(sorted_z, ratio_x / gamma, side="right").double() / len(sorted_z)


def choose_a(on_x: Probabilities, on_z: Probabilities, gamma: float,
             trim: float = 0.0) -> tuple[float, str]:
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
        ratio_x = on_x.refs[0] / offline_p_x(on_x.refs[1:], others[0], a, trim)
        ratio_z = on_z.refs[0] / offline_p_x(on_z.refs[1:], others[1], a, trim)
        auc = rank_auc(beaten(ratio_x, ratio_z, gamma)[usable], truth)
        if auc > best_auc + 1e-12:
            best, best_auc = a, auc
    return best, f"reference model 0 as the target (AUC {best_auc:.4f})"
