"""How a model is trained (TrainRecipe) and what the core hands its ``fit`` (TrainEnv).

A recipe is checked when it is made, DP-SGD settings included, so a bad value is a usage
error before any training.
"""

from __future__ import annotations

import math

import attrs
import torch

from mia_core.errors import ConfigError
from mia_core.options import positive
from mia_core.progress import QUIET, Progress

PRECISIONS = ("auto", "fp32", "bf16")
AUGMENTATIONS = ("none", "flip", "crop-flip")  # crop: 4-pixel reflect padding, as in LiRA
OPTIMIZERS = ("adam", "sgd")  # sgd: with momentum (and Nesterov), the CIFAR ResNet recipe
SCHEDULES = ("constant", "cosine")  # cosine: learning rate annealed to 0 over all steps


@attrs.frozen
class TrainRecipe:
    """How a classifier is trained: Adam (or SGD with momentum) on shuffled mini-batches."""

    epochs: int = attrs.field(validator=positive)
    batch_size: int = attrs.field(validator=positive)
    lr: float = attrs.field(validator=positive)
    weight_decay: float = 0.0
    precision: str = attrs.field(default="auto", validator=attrs.validators.in_(PRECISIONS))
    channels_last: bool = True
    # DP-SGD (mia_core.privacy): on when dp_epsilon or noise_multiplier is set
    dp_epsilon: float | None = None
    dp_delta: float | None = None
    noise_multiplier: float | None = None
    max_grad_norm: float = 1.0
    # training-time augmentation of image batches, drawn from the model's seed
    augment: str = attrs.field(default="none", validator=attrs.validators.in_(AUGMENTATIONS))
    optimizer: str = attrs.field(default="adam", validator=attrs.validators.in_(OPTIMIZERS))
    momentum: float = 0.9  # sgd only
    schedule: str = attrs.field(default="constant", validator=attrs.validators.in_(SCHEDULES))

    def __attrs_post_init__(self) -> None:
        check_dp_recipe(self)

    @property
    def dp(self) -> bool:
        return self.dp_epsilon is not None or self.noise_multiplier is not None

    @property
    def plain(self) -> bool:
        """Adam at a constant rate, no augmentation, no DP: what batched training does."""
        return (not self.dp and self.augment == "none" and self.optimizer == "adam"
                and self.schedule == "constant")

    def make_optimizer(self, params, **kernel) -> torch.optim.Optimizer:
        """The recipe's optimizer over ``params`` (``kernel``: foreach / fused flags)."""
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum,
                                   nesterov=self.momentum > 0, weight_decay=self.weight_decay,
                                   **kernel)
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay, **kernel)

    def make_schedule(self, optimizer: torch.optim.Optimizer,
                      steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
        """The learning-rate schedule over ``steps`` optimizer steps (None: constant)."""
        if self.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
        return None


@attrs.frozen
class TrainEnv:
    """What the core gives a model's ``fit``: where to train, which seed, where to report."""

    device: torch.device
    seed: int
    progress: Progress = QUIET


def check_dp_recipe(recipe: TrainRecipe) -> None:
    """Usage errors before any training: a DP recipe needs delta, one noise source, ranges."""
    eps, delta, sigma = recipe.dp_epsilon, recipe.dp_delta, recipe.noise_multiplier
    if recipe.augment != "none" and (eps is not None or sigma is not None):
        raise ConfigError(f"augment={recipe.augment} is not supported with DP-SGD; set "
                          "augment=none for a DP target")
    if eps is None and sigma is None:
        if delta is not None:
            raise ConfigError("dp_delta is set but DP-SGD is off: also set dp_epsilon (or "
                              "noise_multiplier)")
        return
    if eps is not None and sigma is not None:
        raise ConfigError("set dp_epsilon or noise_multiplier for DP-SGD, not both")
    if delta is None:
        raise ConfigError("DP-SGD needs dp_delta (e.g. 1e-5, below 1 / number of records)")
    if not 0 < delta < 1:
        raise ConfigError(f"dp_delta must be between 0 and 1 (exclusive), got {delta}")
    for name, value in (("dp_epsilon", eps), ("noise_multiplier", sigma),
                        ("max_grad_norm", recipe.max_grad_norm)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{name} must be a finite number > 0, got {value}")
