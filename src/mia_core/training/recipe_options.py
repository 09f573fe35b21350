"""What every recipe-based target shares: its training options and its methods, once.

A target plugin subclasses :class:`RecipeOptions` (redeclaring a field to change its default)
and gets epochs, batch size, learning rate, optimizer, schedule, precision, augmentation and
the DP-SGD settings with one validation and one help text each. Subclassing
:class:`ClassifierTarget` too, it writes only ``build(data)``: ``recipe``, ``privacy`` and
``fit`` (through :func:`~mia_core.training.fit.fit_classifier`) come with it, so executors may
batch it and the DP accounting is the one the training uses.
"""

from __future__ import annotations

import attrs
from torch import nn

from mia_core.data import LabeledData
from mia_core.options import option, positive
from mia_core.training.dp import PrivacySpent, plan_dp
from mia_core.training.fit import fit_classifier
from mia_core.training.recipe import (
    AUGMENTATIONS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    TrainEnv,
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
    precision: str = option("auto", "auto (on a CPU the fastest of fp32/bf16 x layouts, "
                            "measured once per machine and model shape; bf16 on GPUs that "
                            "have it), fp32 or bf16", choices=PRECISIONS)
    channels_last: bool = option(True, "allow channels-last memory for images (auto measures "
                                 "whether it helps; fp32/bf16 use it)")
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
        """The recipe these options describe, field by field of the same name (checked: a bad
        DP combination raises). An option of 0 for a DP setting means unset, which the
        recipe spells ``None``."""
        dp_on = bool(self.dp_epsilon or self.noise_multiplier)
        same = {f.name: getattr(self, f.name) for f in attrs.fields(TrainRecipe)}
        return TrainRecipe(**{
            **same, "dp_epsilon": self.dp_epsilon or None,
            "dp_delta": self.dp_delta or (DEFAULT_DP_DELTA if dp_on else None),
            "noise_multiplier": self.noise_multiplier or None})


class ClassifierTarget:
    """A target trained by ``fit_classifier`` with the recipe of its :class:`RecipeOptions`;
    a subclass supplies ``build(data) -> nn.Module``. A bad DP combination fails when the
    target is made, before any work."""

    options: RecipeOptions

    def __init__(self, options: RecipeOptions) -> None:
        self.options = options
        self.recipe()

    def build(self, data: LabeledData) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must define build(data)")

    def recipe(self) -> TrainRecipe:
        return self.options.recipe()

    def privacy(self, data: LabeledData) -> PrivacySpent | None:
        """What DP-SGD spends training on ``data`` (``None`` without DP)."""
        return plan_dp(self.recipe(), len(data))

    def fit(self, data: LabeledData, env: TrainEnv) -> nn.Module:
        return fit_classifier(self.build(data), data, self.recipe(), env, label="target")
