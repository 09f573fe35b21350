"""The ``cnn`` target: Dioptra's LeNet, trained with its recipe (Adam 1e-3, batch 256, 30 epochs).

Unlike the demo, the model outputs logits: the demo applied softmax inside the model and then
again in the loss, which flattens gradients and distorts every confidence an attack sees.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn
from torch.nn import functional as F

from mia_core import ClassifierTarget, ConfigError, LabeledData, RecipeOptions, hookimpl

SMALLEST = 16  # two 5x5 convolutions and two 2x2 poolings leave at least one pixel


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
class CnnOptions(RecipeOptions):
    """The demo's recipe: Adam 1e-3, batch 256, 30 epochs (RecipeOptions' defaults)."""


class CnnTarget(ClassifierTarget):
    """Builds and trains LeNet on the members it is given."""

    def build(self, data: LabeledData) -> LeNet:
        shape = tuple(data.x.shape[1:])
        if data.x.dim() != 4 or shape[1] != shape[2] or shape[1] < SMALLEST:
            raise ConfigError(f"LeNet takes square images (C, H, H) of at least "
                              f"{SMALLEST}x{SMALLEST} pixels, not records of shape {shape}")
        return LeNet(data.x.shape[1], data.x.shape[2], data.num_classes)


@hookimpl
def register_targets(register):
    register("cnn", CnnTarget, description="LeNet CNN (Dioptra MNIST demo): 2 conv + 2 fc, "
             "Adam 1e-3, batch 256, 30 epochs", options=CnnOptions)
