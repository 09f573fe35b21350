"""Quantile-regression membership inference (Bertran et al., NeurIPS 2023, "Scalable
Membership Inference Attacks via Quantile Regression").

No reference models: a small regressor learns, from population records (non-members, which
the target never saw), how high the target's score on a record tends to be when the record is
*not* a member. It predicts a Gaussian, mean and spread, of the target's score given the
record (its input, and its label where records have one), so every quantile follows from one
fit. A record whose score exceeds its predicted ``quantile`` is guessed a member, at a
false-positive rate of about 1 - ``quantile`` on every record alike; the membership score is
how many predicted standard deviations the record's score lies above its predicted mean.

The score is the target's ``confidence`` signal: for a classifier LiRA's log(p / (1 - p)) of
the true class, the "hinge"-like statistic the paper uses; for a language model the record's
mean token log-probability. The regressor reads the record itself: an MLP on the flattened
input, a small CNN for images, or a mean of learned token embeddings for records of token ids
(any sequence modality whose records carry ``lengths``).
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
    Records,
    ThreatModel,
    fraction,
    option,
    positive,
)


@attrs.frozen
class QmiaOptions:
    quantile: float = option(0.99, "quantile of a non-member's score that a member must "
                             "exceed (its decisions' false-positive rate is about 1 - this)",
                             fraction)
    regressor: str = option("auto", "the regressor: mlp on the flattened input, cnn (images "
                            "only; on MNIST's LeNet the mlp did better), tokens (a mean of "
                            "learned embeddings of token-id records), or auto: tokens for "
                            "records of token ids, mlp for the rest",
                            choices=("auto", "mlp", "cnn", "tokens"))
    hidden: int = option(256, "width of the regressor's hidden layers", positive)
    epochs: int = option(50, "most training epochs of the regressor", positive)
    patience: int = option(5, "stop after this many epochs without a better held-out loss",
                           positive)
    batch_size: int = option(128, "mini-batch size", positive)
    lr: float = option(1e-3, "Adam learning rate", positive)
    weight_decay: float = option(1e-4, "Adam weight decay (keeps the regressor smooth)",
                                 attrs.validators.ge(0.0))


class Regressor(nn.Module):
    """A record (its input, its one-hot label where it has one) -> (mean, log standard
    deviation) of the target's score: an MLP on the flattened input, two convolutions first
    for images (N, C, H, W), or a length-masked mean of token embeddings for token ids."""

    def __init__(self, shape: tuple[int, ...], classes: int | None, hidden: int, kind: str,
                 vocabulary: int = 0) -> None:
        super().__init__()
        self.classes = classes or 0
        if kind == "cnn":
            self.features: nn.Module = nn.Sequential(
                nn.Conv2d(shape[0], 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                nn.Flatten())
            width = 64 * 16
        elif kind == "tokens":
            self.features, width = TokenMean(vocabulary, TOKEN_WIDTH), TOKEN_WIDTH
        else:
            self.features, width = nn.Flatten(), math.prod(shape)
        self.head = nn.Sequential(nn.Linear(width + self.classes, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        features = (self.features(x, lengths) if isinstance(self.features, TokenMean)
                    else self.features(x))
        if self.classes and y is not None:
            features = torch.cat([features, F.one_hot(y, self.classes).to(features.dtype)], 1)
        out = self.head(features)
        return out[:, 0], out[:, 1].clamp(-7.0, 7.0)


TOKEN_WIDTH = 64  # the token embeddings' width: a few thousand records fit no wider one


class TokenMean(nn.Module):
    """The mean of a record's learned token embeddings over its own length (padding unread):
    what the record is about, whatever its length."""

    def __init__(self, vocabulary: int, width: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, width)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        real = (torch.ones_like(x, dtype=torch.bool) if lengths is None
                else torch.arange(x.shape[1]) < lengths[:, None]).float()
        return (self.embedding(x) * real[..., None]).sum(1) / real.sum(1, keepdim=True).clamp(1)


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

    needs_signals = ("confidence",)

    def score(self, ctx: AttackContext) -> AttackOutput:
        assert ctx.population is not None
        pop, ev = ctx.population, ctx.evaluation
        kind = self._kind(ctx, pop)
        ctx.progress.message(f"qmia: fitting a {kind} regressor of the target's scores on "
                             f"{len(pop)} population records")
        inputs = Inputs.of(kind, pop, ev)
        regressor, fitted = self.fit(ctx, inputs, pop, ctx.target.signal("confidence", pop)
                                     .float(), kind)
        with torch.no_grad():
            mean, log_std = regressor(inputs.of_records(ev), ev.y, ev.lengths)
        z, _, threshold = decide(ctx.target.signal("confidence", ev).double(), mean.double(),
                                 log_std.double().exp(), self.options.quantile)
        return AttackOutput(z, threshold=threshold, details={"regressor": kind, **fitted})

    def _kind(self, ctx: AttackContext, pop: Records) -> str:
        kind, tokens = self.options.regressor, is_tokens(pop)
        if kind == "auto":
            return "tokens" if tokens else "mlp"
        if kind == "cnn" and (pop.x.dim() != 4 or tokens):
            raise ConfigError(f"attack '{ctx.attack}': regressor=cnn needs images (N, C, H, "
                              f"W), these records are {tuple(pop.x.shape[1:])}; use mlp")
        if kind == "tokens" and not tokens:
            raise ConfigError(f"attack '{ctx.attack}': regressor=tokens needs records of token "
                              f"ids (N, T) of an integer type, these are {pop.x.dtype} "
                              f"{tuple(pop.x.shape[1:])}; use mlp")
        return kind

    def fit(self, ctx: AttackContext, inputs: Inputs, pop: Records, target: torch.Tensor,
            kind: str) -> tuple[nn.Module, dict[str, float | int]]:
        """Gaussian negative log-likelihood of the (standardised) target scores, Adam, seeded
        batches; a seeded fifth of the population is held out and the epoch with its lowest
        loss is kept, since a regressor that memorises its records' scores predicts new
        records worse, and new records are all it is used on."""
        o = self.options
        x, y, lengths = inputs.of_records(pop), pop.y, pop.lengths
        generator = ctx.generator()
        order = torch.randperm(len(x), generator=generator)
        held, fitted = order[: len(x) // 5], order[len(x) // 5:]
        centre, scale = target[fitted].mean(), target[fitted].std().clamp_min(1e-6)
        t = (target - centre) / scale
        model = Regressor(tuple(x.shape[1:]), ctx.num_classes if y is not None else None,
                          o.hidden, kind, inputs.vocabulary)
        optimiser = torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        best, best_loss, best_epoch, since = copy.deepcopy(model.state_dict()), math.inf, 0, 0
        for epoch in range(1, o.epochs + 1):
            model.train()
            for rows in fitted[torch.randperm(len(fitted), generator=generator)].split(
                    o.batch_size):
                loss = gaussian_nll(*model(x[rows], pick(y, rows), pick(lengths, rows)),
                                    t[rows])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
            with torch.no_grad():
                held_loss = float(gaussian_nll(
                    *model.eval()(x[held], pick(y, held), pick(lengths, held)), t[held]))
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

    def forward(self, x: torch.Tensor, y: torch.Tensor | None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.regressor(x, y, lengths)
        return mean * self.scale + self.centre, log_std + math.log(self.scale)


def pick(values: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor | None:
    return None if values is None else values[rows]


def is_tokens(records: Records) -> bool:
    """Records of token ids: integer (N, T) inputs, one sequence per row."""
    return records.x.dim() == 2 and not records.x.is_floating_point()


@attrs.frozen
class Inputs:
    """How records become the regressor's input: standardised per feature with the
    population's mean and spread (the attacker's data only), or token ids as they are."""

    centre: torch.Tensor | None
    scale: torch.Tensor | None
    vocabulary: int = 0

    @classmethod
    def of(cls, kind: str, pop: Records, ev: Records) -> Inputs:
        if kind == "tokens":  # every id the regressor will meet has an embedding
            return cls(None, None, int(max(pop.x.max(), ev.x.max())) + 1)
        x = pop.x.float()
        return cls(x.mean(0, keepdim=True), x.std(0, keepdim=True).clamp_min(1e-6))

    def of_records(self, records: Records) -> torch.Tensor:
        if self.centre is None or self.scale is None:
            return records.x.long()
        return (records.x.float() - self.centre) / self.scale
