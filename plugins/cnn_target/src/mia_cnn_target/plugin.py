"""The ``cnn`` target: Dioptra's LeNet, trained with its recipe (Adam 1e-3, batch 256, 30 epochs).

Unlike the demo, the model outputs logits: the demo applied softmax inside the model and then
again in the loss, which flattens gradients and distorts every confidence an attack sees.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn
from torch.nn import functional as F

from mia_core import (
    PRECISIONS,
    LabeledData,
    PrivacySpent,
    TrainEnv,
    TrainRecipe,
    fit_classifier,
    hookimpl,
    option,
    plan_dp,
    positive,
)

DEFAULT_DP_DELTA = 1e-5  # below 1 / members for the demo's 12,000


class LeNet(nn.Module):
    """conv 5x5 (20) -> pool -> conv 5x5 (50) -> pool -> fc 500 -> fc classes; ReLU between.

    ReLU is applied after pooling: max-pool and ReLU commute, so the function is the demo's,
    with a quarter of the ReLU work.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"LeNet needs images of at least 16x16 pixels, got {image_size}")
        self.fc1 = nn.Linear(50 * side * side, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@attrs.frozen
class CnnOptions:
    epochs: int = option(30, "training epochs", positive)
    batch_size: int = option(256, "mini-batch size", positive)
    lr: float = option(1e-3, "Adam learning rate", positive)
    weight_decay: float = option(0.0, "Adam weight decay (L2)", attrs.validators.ge(0.0))
    precision: str = option("auto", "auto (bf16 where the hardware has it natively), fp32 or "
                            "bf16", choices=PRECISIONS)
    channels_last: bool = option(True, "train with channels-last memory format")
    dp_epsilon: float = option(0.0, "DP-SGD: epsilon the accountant spends over all epochs "
                               "(0: no DP)", attrs.validators.ge(0.0))
    dp_delta: float = option(0.0, "DP-SGD: delta (0: 1e-5 when DP is on)",
                             attrs.validators.ge(0.0))
    noise_multiplier: float = option(0.0, "DP-SGD: fixed noise multiplier instead of "
                                     "dp_epsilon (0: unset)", attrs.validators.ge(0.0))
    max_grad_norm: float = option(1.0, "DP-SGD: per-sample gradient clipping norm", positive)


class CnnTarget:
    """Builds and trains LeNet on the members it is given."""

    def __init__(self, options: CnnOptions) -> None:
        self.options = options
        self.recipe()  # a bad DP combination is a usage error now, before any work

    def recipe(self) -> TrainRecipe:
        o = self.options
        return TrainRecipe(o.epochs, o.batch_size, o.lr, o.weight_decay, o.precision,
                           o.channels_last, dp_epsilon=o.dp_epsilon or None,
                           dp_delta=o.dp_delta or (DEFAULT_DP_DELTA if o.dp_epsilon or
                                                   o.noise_multiplier else None),
                           noise_multiplier=o.noise_multiplier or None,
                           max_grad_norm=o.max_grad_norm)

    def privacy(self, data: LabeledData) -> PrivacySpent | None:
        """What DP-SGD spends training on ``data`` (``None`` without DP)."""
        return plan_dp(self.recipe(), len(data))

    def build(self, data: LabeledData) -> LeNet:
        if data.x.dim() != 4 or data.x.shape[2] != data.x.shape[3]:
            raise ValueError(f"LeNet needs square images (N, C, H, H), got {tuple(data.x.shape)}")
        return LeNet(data.x.shape[1], data.x.shape[2], data.num_classes)

    def fit(self, data: LabeledData, env: TrainEnv) -> nn.Module:
        return fit_classifier(self.build(data), data, self.recipe(), env, label="target")


@hookimpl
def register_targets(register):
    register("cnn", CnnTarget, description="LeNet CNN (Dioptra MNIST demo): 2 conv + 2 fc, "
             "Adam 1e-3, batch 256, 30 epochs", options=CnnOptions)
