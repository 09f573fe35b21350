"""The built-in ``torchscript`` target: audit a model that ships without its Python code.

An exported TorchScript archive (``torch.jit.save``) holds the forward pass but no way to
build or train another model like it, so this target trains nothing (``trains = False``):
known-members attacks and threshold attacks audit it; population attacks, control runs and
canaries, which all train models, are refused before any work.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from mia_core.data import LabeledData
from mia_core.errors import ConfigError
from mia_core.hookspecs import hookimpl
from mia_core.training.recipe import TrainEnv


class TorchScriptTarget:
    """A given TorchScript model (``--model FILE``, ``torch.jit.load``) or ``torch.export``
    program (``FILE.pt2``, ``torch.export.load``)."""

    trains = False

    def load_model(self, path: Path, data: LabeledData) -> nn.Module:
        if path.suffix == ".pt2":
            return load_exported(path)
        try:
            with warnings.catch_warnings():  # torch.jit's deprecation is not the user's news
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError, OSError) as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else "unreadable"
            raise ConfigError(f"--model {path} is not a TorchScript archive ({first}); save "
                              "it with torch.jit.save, or give its state dict with the target "
                              "that builds its architecture") from None
        return model.eval()

    def fit(self, data: LabeledData, env: TrainEnv) -> nn.Module:
        raise ConfigError("the torchscript target trains no models; it audits the one given "
                          "with --model FILE")


def load_exported(path: Path) -> nn.Module:
    """A ``torch.export`` program (``.pt2``) as a module; export it with a dynamic batch
    dimension, since the audit queries batches of every size."""
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else "unreadable"
        raise ConfigError(f"--model {path} is not a torch.export program ({first}); save it "
                          "with torch.export.save") from None
    return Exported(program.module())


class Exported(nn.Module):
    """An exported program's module; it was traced in eval mode and refuses ``eval()``
    itself, so switching modes stops at this wrapper."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def train(self, mode: bool = True) -> Exported:
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


@hookimpl
def register_targets(register):
    register("torchscript", TorchScriptTarget, description="a given TorchScript or "
             "torch.export model (--model FILE): no training code, so known-members and "
             "threshold attacks only")
