"""Quantile-regression membership inference (Bertran et al., NeurIPS 2023, "Scalable
Membership Inference Attacks via Quantile Regression").

No reference models: a small regressor learns, from population records (non-members, which
the target never saw), how high the target's score on a record tends to be when the record is
*not* a member. It predicts a Gaussian, mean and spread, of the target's score given the
record (its input and label), so every quantile follows from one fit. A record whose score
exceeds its predicted ``quantile`` is guessed a member, at a false-positive rate of about
1 - ``quantile`` on every record alike; the membership score is how many predicted standard
deviations the record's score lies above its predicted mean. The score is LiRA's
log(p / (1 - p)) of the true class, the "hinge"-like statistic the paper uses.
"""

from __future__ import annotations

import copy
import math

import attrs
import torch
from scipy.special import ndtri
from torch import nn
from torch.nn import functional as F

from mia_core import (
    AttackContext,
    AttackOutput,
    ConfigError,
    ThreatModel,
    fraction,
    option,
    positive,
)

from .signals import scaled_confidence


@attrs.frozen
class QmiaOptions:
    quantile: float = option(0.99, "quantile of a non-member's score that a member must "
                             "exceed (its decisions' false-positive rate is about 1 - this)",
                             fraction)
    regressor: str = option("mlp", "the regressor: mlp on the flattened input, or cnn (images "
                            "only; on MNIST's LeNet the mlp did better)", choices=("mlp", "cnn"))
    hidden: int = option(256, "width of the regressor's hidden layers", positive)
    epochs: int = option(50, "most training epochs of the regressor", positive)
    patience: int = option(5, "stop after this many epochs without a better held-out loss",
                           positive)
    batch_size: int = option(128, "mini-batch size", positive)
    lr: float = option(1e-3, "Adam learning rate", positive)
    weight_decay: float = option(1e-4, "Adam weight decay (keeps the regressor smooth)",
                                 attrs.validators.ge(0.0))


class Regressor(nn.Module):
    """Input and one-hot label -> (mean, log standard deviation) of the target's score: an
    MLP on the flattened input, or two convolutions first for images (N, C, H, W)."""

    def __init__(self, shape: tuple[int, ...], classes: int, hidden: int, kind: str) -> None:
        super().__init__()
        self.classes = classes
        if kind == "cnn":
            self.features: nn.Module = nn.Sequential(
                nn.Conv2d(shape[0], 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                nn.Flatten())
            width = 64 * 16
        else:
            self.features, width = nn.Flatten(), math.prod(shape)
        self.head = nn.Sequential(nn.Linear(width + classes, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(torch.cat([self.features(x), F.one_hot(y, self.classes).to(x.dtype)],
                                  1))
        return out[:, 0], out[:, 1].clamp(-7.0, 7.0)


def decide(score: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
           quantile: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The membership score (score - mean) / std, the decisions (score above the predicted
    ``quantile``) and the threshold on the membership score they amount to."""
    z = (score - mean) / std
    threshold = float(ndtri(quantile))
    return z, z >= threshold, threshold


class Qmia:
    threat_model = ThreatModel.POPULATION
    needs_reference_models = False

    def __init__(self, options: QmiaOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> AttackOutput:
        assert ctx.population is not None
        pop, ev = ctx.population, ctx.evaluation
        centre = pop.x.float().mean(0, keepdim=True)  # per feature, the attacker's data only
        scale = pop.x.float().std(0, keepdim=True).clamp_min(1e-6)
        kind = self.options.regressor
        if kind == "cnn" and pop.x.dim() != 4:
            raise ConfigError(f"attack '{ctx.attack}': regressor=cnn needs images (N, C, H, "
                              f"W), these records are {tuple(pop.x.shape[1:])}; use mlp")
        ctx.progress.message(f"qmia: fitting a {kind} regressor of the target's scores on "
                             f"{len(pop)} population records")
        regressor, fitted = self.fit(ctx, (pop.x.float() - centre) / scale, pop.y,
                                     scaled_confidence(ctx.target.logits(pop.x), pop.y).float(),
                                     kind)
        with torch.no_grad():
            mean, log_std = regressor((ev.x.float() - centre) / scale, ev.y)
        target_score = scaled_confidence(ctx.target.logits(ev.x), ev.y)
        z, _, threshold = decide(target_score, mean.double(), log_std.double().exp(),
                                 self.options.quantile)
        return AttackOutput(z, threshold=threshold, details={"regressor": kind, **fitted})

    def fit(self, ctx: AttackContext, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor,
            kind: str) -> tuple[nn.Module, dict[str, float | int]]:
        """Gaussian negative log-likelihood of the (standardised) target scores, Adam, seeded
        batches; a seeded fifth of the population is held out and the epoch with its lowest
        loss is kept, since a regressor that memorises its records' scores predicts new
        records worse, and new records are all it is used on."""
        o = self.options
        generator = ctx.generator()
        order = torch.randperm(len(x), generator=generator)
        held, fitted = order[: len(x) // 5], order[len(x) // 5:]
        centre, scale = target[fitted].mean(), target[fitted].std().clamp_min(1e-6)
        t = (target - centre) / scale
        model = Regressor(tuple(x.shape[1:]), ctx.num_classes, o.hidden, kind)
        optimiser = torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        best, best_loss, best_epoch, since = copy.deepcopy(model.state_dict()), math.inf, 0, 0
        for epoch in range(1, o.epochs + 1):
            model.train()
            for rows in fitted[torch.randperm(len(fitted), generator=generator)].split(
                    o.batch_size):
                loss = gaussian_nll(*model(x[rows], y[rows]), t[rows])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
            with torch.no_grad():
                held_loss = float(gaussian_nll(*model.eval()(x[held], y[held]), t[held]))
            if held_loss < best_loss:
                best, best_loss, best_epoch = copy.deepcopy(model.state_dict()), held_loss, epoch
                since = 0
            elif (since := since + 1) >= o.patience:
                break
        model.load_state_dict(best)
        return Scaled(model.eval(), float(centre), float(scale)), {
            "epochs_kept": best_epoch, "held_out_nll": best_loss}


def gaussian_nll(mean: torch.Tensor, log_std: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``target`` under N(mean, exp(log_std)^2), constants
    dropped."""
    return (log_std + 0.5 * ((target - mean) / log_std.exp()) ** 2).mean()


class Scaled(nn.Module):
    """A regressor of standardised scores, answering on the scores' own scale."""

    def __init__(self, regressor: Regressor, centre: float, scale: float) -> None:
        super().__init__()
        self.regressor, self.centre, self.scale = regressor, centre, scale

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.regressor(x, y)
        return mean * self.scale + self.centre, log_std + math.log(self.scale)
