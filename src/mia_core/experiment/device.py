"""Choosing the torch device from ``--device``."""

from __future__ import annotations

import re

import torch

from mia_core.errors import ConfigError, MiaError

_SPEC = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(spec: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; an explicit device must exist."""
    if not _SPEC.match(spec):
        raise ConfigError(f"unknown device '{spec}'; use auto, cpu, cuda, cuda:N or mps")
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise MiaError(f"device '{spec}' requested but CUDA is not available here; "
                           "use --device cpu or auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise MiaError(f"device '{spec}' requested but only {count} CUDA device(s) exist "
                           f"(cuda:0..cuda:{count - 1})")
    if device.type == "mps" and not _mps_available():
        raise MiaError(f"device '{spec}' requested but MPS is not available here; "
                       "use --device cpu or auto")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
