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


@attrs.frozen
class TrainRecipe:
    """How a classifier is trained: Adam with these settings on shuffled mini-batches."""

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

    def __attrs_post_init__(self) -> None:
        check_dp_recipe(self)

    @property
    def dp(self) -> bool:
        return self.dp_epsilon is not None or self.noise_multiplier is not None


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
