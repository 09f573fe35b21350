"""The training options every recipe-based target shares, declared once.

A target plugin subclasses :class:`RecipeOptions` (redeclaring a field to change its default)
and gets epochs, batch size, learning rate, precision, augmentation and the DP-SGD settings
with one validation and one help text each; :meth:`RecipeOptions.recipe` turns them into
the :class:`~mia_core.training.recipe.TrainRecipe` its ``fit`` trains with.
"""

from __future__ import annotations

import attrs

from mia_core.options import option, positive
from mia_core.training.recipe import (
    AUGMENTATIONS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    TrainRecipe,
)

DEFAULT_DP_DELTA = 1e-5  # below 1 / members for the demo's 12,000
_non_negative = attrs.validators.ge(0.0)


@attrs.frozen
class RecipeOptions:
    """Adam or SGD on shuffled mini-batches, optionally augmented, optionally DP-SGD."""

    epochs: int = option(30, "training epochs", positive)
    batch_size: int = option(256, "mini-batch size", positive)
    lr: float = option(1e-3, "learning rate", positive)
    weight_decay: float = option(0.0, "weight decay (L2)", _non_negative)
    optimizer: str = option("adam", "adam, or sgd (with Nesterov momentum)", choices=OPTIMIZERS)
    momentum: float = option(0.9, "SGD momentum", _non_negative)
    schedule: str = option("constant", "learning rate: constant, or cosine (annealed to 0)",
                           choices=SCHEDULES)
    precision: str = option("auto", "auto (bf16 where the hardware has it natively), fp32 or "
                            "bf16", choices=PRECISIONS)
    channels_last: bool = option(True, "train images with channels-last memory format")
    augment: str = option("none", "training-time augmentation of images: none, flip, or "
                          "crop-flip (random 4-pixel crop and horizontal flip)",
                          choices=AUGMENTATIONS)
    dp_epsilon: float = option(0.0, "DP-SGD: epsilon the accountant spends over all epochs "
                               "(0: no DP)", _non_negative)
    dp_delta: float = option(0.0, "DP-SGD: delta (0: 1e-5 when DP is on)", _non_negative)
    noise_multiplier: float = option(0.0, "DP-SGD: fixed noise multiplier instead of "
                                     "dp_epsilon (0: unset)", _non_negative)
    max_grad_norm: float = option(1.0, "DP-SGD: per-sample gradient clipping norm", positive)

    def recipe(self) -> TrainRecipe:
        """The recipe these options describe (checked: a bad DP combination raises)."""
        dp_on = bool(self.dp_epsilon or self.noise_multiplier)
        return TrainRecipe(self.epochs, self.batch_size, self.lr, self.weight_decay,
                           self.precision, self.channels_last,
                           dp_epsilon=self.dp_epsilon or None,
                           dp_delta=self.dp_delta or (DEFAULT_DP_DELTA if dp_on else None),
                           noise_multiplier=self.noise_multiplier or None,
                           max_grad_norm=self.max_grad_norm, augment=self.augment,
                           optimizer=self.optimizer, momentum=self.momentum,
                           schedule=self.schedule)
