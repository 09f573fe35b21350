"""The ``wrn`` target: Wide ResNet (Zagoruyko & Komodakis 2016) for CIFAR-sized images.

WRN-28-2 (depth 28, width 2, 1.5 M parameters) is the CIFAR-10 model of LiRA (Carlini et al.
2022) and RMIA (Zarifzadeh et al. 2024), trained there with SGD, cosine schedule, random crop
and flip: these are the defaults. ``norm=group`` swaps BatchNorm for GroupNorm, which has no
cross-record statistics and so trains under DP-SGD (De et al. 2022 use it for DP CIFAR).
"""

from __future__ import annotations

import attrs
import torch
from torch import nn
from torch.nn import functional as F

from mia_core import (
    ClassifierTarget,
    ConfigError,
    LabeledData,
    RecipeOptions,
    hookimpl,
    option,
    positive,
)

NORMS = ("batch", "group")


def norm_layer(kind: str, channels: int, groups: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(min(groups, channels), channels)
    return nn.BatchNorm2d(channels)


class Block(nn.Module):
    """Pre-activation basic block: norm, ReLU, 3x3 conv, norm, ReLU, 3x3 conv, plus shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str, groups: int) -> None:
        super().__init__()
        self.norm1 = norm_layer(norm, cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm2 = norm_layer(norm, cout, groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride, bias=False)
                         if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(F.relu(self.norm2(self.conv1(out))))
        return out + skip


class WideResNet(nn.Module):
    """Stem conv (16), three groups of (depth - 4) / 6 blocks at 16k, 32k, 64k channels
    (strides 1, 2, 2), norm, ReLU, global average pool, linear."""

    def __init__(self, depth: int, width: int, classes: int, in_channels: int = 3,
                 norm: str = "batch", groups: int = 16) -> None:
        super().__init__()
        if (depth - 4) % 6 or depth < 10:
            raise ConfigError(f"wrn.depth must be 6n + 4 (10, 16, 22, 28, 40 ...), got {depth}")
        blocks = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        layers = []
        for g, stride in enumerate((1, 2, 2)):
            for b in range(blocks):
                cin = widths[g] if b == 0 else widths[g + 1]
                layers.append(Block(cin, widths[g + 1], stride if b == 0 else 1, norm, groups))
        self.blocks = nn.Sequential(*layers)
        self.norm = norm_layer(norm, widths[3], groups)
        self.fc = nn.Linear(widths[3], classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm(self.blocks(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


@attrs.frozen
class WrnOptions(RecipeOptions):
    depth: int = option(28, "depth, 6n + 4 (28: WRN-28-k)", positive)
    width: int = option(2, "widening factor k (2: WRN-28-2)", positive)
    norm: str = option("batch", "batch (BatchNorm) or group (GroupNorm: DP-SGD capable)",
                       choices=NORMS)
    groups: int = option(16, "GroupNorm groups (norm=group)", positive)
    epochs: int = option(100, "training epochs (LiRA's CIFAR-10 setup: 100)", positive)
    batch_size: int = option(256, "mini-batch size", positive)
    lr: float = option(0.1, "learning rate", positive)
    weight_decay: float = option(5e-4, "weight decay (L2)", attrs.validators.ge(0.0))
    optimizer: str = option("sgd", "adam, or sgd (with Nesterov momentum)",
                            choices=("adam", "sgd"))
    schedule: str = option("cosine", "learning rate: constant, or cosine (annealed to 0)",
                           choices=("constant", "cosine"))
    augment: str = option("crop-flip", "training-time augmentation: none, flip or crop-flip",
                          choices=("none", "flip", "crop-flip"))


class WrnTarget(ClassifierTarget):
    """Builds and trains a Wide ResNet on the image records it is given."""

    options: WrnOptions

    def __init__(self, options: WrnOptions) -> None:
        if options.norm == "batch" and (options.dp_epsilon or options.noise_multiplier):
            raise ConfigError("DP-SGD needs per-record gradients, which BatchNorm mixes; "
                              "use -o wrn.norm=group with DP")
        WideResNet(options.depth, 1, 2)  # a bad depth is a usage error now
        super().__init__(options)

    def build(self, data: LabeledData) -> WideResNet:
        if data.x.dim() != 4:
            raise ConfigError(f"the wrn target needs images (N, C, H, W), got records of shape "
                              f"{tuple(data.x.shape[1:])}; use the mlp target for tabular data")
        o = self.options
        return WideResNet(o.depth, o.width, data.num_classes, data.x.shape[1], o.norm, o.groups)


@hookimpl
def register_targets(register):
    register("wrn", WrnTarget, description="Wide ResNet (default WRN-28-2: SGD, cosine, crop + "
             "flip, 100 epochs, as LiRA/RMIA on CIFAR-10); GroupNorm for DP", options=WrnOptions)
