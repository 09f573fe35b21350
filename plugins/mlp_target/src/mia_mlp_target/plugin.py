"""The ``mlp`` target: the fully connected network of the tabular MIA literature.

Shokri et al. (2017) and Nasr et al. (2018, 2019) audit Purchase100 and Texas100 with hidden
layers 1024-512-256-128 and tanh; those are the defaults. Inputs are flattened, so small
images (digits) work too.

``standardize`` puts the feature scaling inside the model: mean and standard deviation are
computed from the records the model is trained on (the target's members, a reference model's
IN records) and kept as buffers, so the evaluation records never leak into the scaling and a
saved model takes raw features. The state dict is ``mean``, ``std`` (with ``standardize``),
then ``layers.0.weight``, ``layers.0.bias``, ``layers.2.weight`` ... as in an
``nn.Sequential`` of Linear and activation layers; a model trained elsewhere with that layout
can be audited with ``--model``.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from mia_core import (
    ClassifierTarget,
    ConfigError,
    LabeledData,
    RecipeOptions,
    hookimpl,
    option,
    positive,
)

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


def parse_widths(text: str) -> tuple[int, ...]:
    """``"1024,512"`` -> ``(1024, 512)``; empty: no hidden layer (logistic regression)."""
    try:
        widths = tuple(int(w) for w in text.replace(" ", "").split(",") if w)
    except ValueError:
        raise ConfigError(f"mlp.hidden must be comma-separated layer widths such as "
                          f"1024,512,256,128, got {text!r}") from None
    if any(w < 1 for w in widths):
        raise ConfigError(f"mlp.hidden widths must be >= 1, got {text!r}")
    return widths


class MLP(nn.Module):
    """Optional standardisation, then Linear + activation per hidden layer, then Linear."""

    def __init__(self, features: int, hidden: tuple[int, ...], classes: int,
                 activation: str = "tanh", scale: tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> None:
        super().__init__()
        self.standardize = scale is not None
        if scale is not None:
            self.register_buffer("mean", scale[0].reshape(features).clone())
            self.register_buffer("std", scale[1].reshape(features).clone())
        layers: list[nn.Module] = []
        width = features
        for size in hidden:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            width = size
        layers.append(nn.Linear(width, classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.standardize:
            x = (x - self.mean) / self.std
        return self.layers(x)


def feature_scale(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and standard deviation of ``x`` (constant features: std 1)."""
    flat = x.flatten(1).double()
    std = flat.std(0, unbiased=False)
    return flat.mean(0).float(), torch.where(std > 1e-12, std, torch.ones_like(std)).float()


@attrs.frozen
class MlpOptions(RecipeOptions):
    hidden: str = option("1024,512,256,128", "hidden layer widths, comma-separated (empty: "
                         "logistic regression)")
    activation: str = option("tanh", "activation between layers", choices=tuple(ACTIVATIONS))
    standardize: bool = option(True, "scale features by the training records' mean and "
                               "std, inside the model")
    epochs: int = option(30, "training epochs", positive)
    batch_size: int = option(128, "mini-batch size", positive)


class MlpTarget(ClassifierTarget):
    """Builds and trains the MLP on the records it is given."""

    options: MlpOptions

    def __init__(self, options: MlpOptions) -> None:
        super().__init__(options)
        self.widths = parse_widths(options.hidden)

    def build(self, data: LabeledData) -> MLP:
        features = int(data.x[0].numel()) if len(data) else 0
        if features < 1:
            raise ConfigError("the mlp target needs records with at least one feature")
        scale = feature_scale(data.x) if self.options.standardize else None
        return MLP(features, self.widths, data.num_classes, self.options.activation, scale)


@hookimpl
def register_targets(register):
    register("mlp", MlpTarget, description="fully connected network (Purchase/Texas MIA "
             "standard: 1024-512-256-128, tanh), features standardised on its training records",
             options=MlpOptions)
