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

import attrs
import torch
from scipy.special import ndtri
from torch import nn
from torch.nn import functional as F

from mia_core import AttackContext, AttackOutput, ThreatModel, fraction, option, positive

from .signals import scaled_confidence


@attrs.frozen
class QmiaOptions:
    quantile: float = option(0.99, "quantile of a non-member's score that a member must "
                             "exceed (its decisions' false-positive rate is about 1 - this)",
                             fraction)
    hidden: int = option(256, "width of the regressor's two hidden layers", positive)
    epochs: int = option(30, "training epochs of the regressor", positive)
    batch_size: int = option(128, "mini-batch size", positive)
    lr: float = option(1e-3, "Adam learning rate", positive)
    weight_decay: float = option(1e-4, "Adam weight decay (keeps the regressor smooth)",
                                 attrs.validators.ge(0.0))


class Regressor(nn.Module):
    """Input and one-hot label -> (mean, log standard deviation) of the target's score."""

    def __init__(self, inputs: int, classes: int, hidden: int) -> None:
        super().__init__()
        self.classes = classes
        self.net = nn.Sequential(nn.Linear(inputs + classes, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(torch.cat([x, F.one_hot(y, self.classes).to(x.dtype)], 1))
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
        flat = pop.x.flatten(1).float()
        centre, scale = flat.mean(0), flat.std(0).clamp_min(1e-6)  # the attacker's data only
        ctx.progress.message(f"qmia: fitting the score regressor on {len(pop)} population "
                             "records")
        regressor = self.fit(ctx, (flat - centre) / scale, pop.y,
                             scaled_confidence(ctx.target.logits(pop.x), pop.y).float())
        with torch.no_grad():
            mean, log_std = regressor((ev.x.flatten(1).float() - centre) / scale, ev.y)
        target_score = scaled_confidence(ctx.target.logits(ev.x), ev.y)
        z, _, threshold = decide(target_score, mean.double(), log_std.double().exp(),
                                 self.options.quantile)
        return AttackOutput(z, threshold=threshold)

    def fit(self, ctx: AttackContext, x: torch.Tensor, y: torch.Tensor,
            target: torch.Tensor) -> Regressor:
        """Gaussian negative log-likelihood of the target's scores, Adam, seeded batches."""
        o = self.options
        model = Regressor(x.shape[1], ctx.num_classes, o.hidden)
        optimiser = torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        generator = ctx.generator()
        for _ in range(o.epochs):
            for rows in torch.randperm(len(x), generator=generator).split(o.batch_size):
                mean, log_std = model(x[rows], y[rows])
                loss = (log_std + 0.5 * ((target[rows] - mean) / log_std.exp()) ** 2).mean()
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
        return model.eval()

