"""On-disk cache of trained models, keyed by everything that determines their weights.

Training dominates a run on the CPU (the target and every reference model), and reruns with a
new attack or more seeds should not pay for it again. Weights are stored as a plain state dict
read back with ``weights_only=True`` (no pickle of arbitrary objects). A damaged entry is
reported in one line and retrained, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mia_core.atomic import atomic_write
from mia_core.progress import QUIET, Progress

FORMAT = 1


def default_cache_dir() -> Path:
    """$MIA_CACHE_DIR, else the per-user cache folder."""
    env = os.environ.get("MIA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mia-core" / "models"


def cache_key(parts: Mapping[str, Any]) -> str:
    """A stable hash of JSON-able ``parts`` (tensors are hashed by their bytes)."""
    canonical = json.dumps(parts, sort_keys=True, default=_tensor_digest)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _tensor_digest(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous()
        return f"{data.dtype}:{tuple(data.shape)}:" + hashlib.sha256(
            data.numpy().tobytes()).hexdigest()
    return str(value)


def describe_entry(parts: Mapping[str, Any]) -> dict[str, Any]:
    """What ``mia cache list`` shows of an entry: the readable parts of its key."""
    about = {k: v for k, v in parts.items()
             if k in ("dataset", "dataset_options", "target", "target_options", "seed",
                      "device", "torch")}
    records = parts.get("records")
    if isinstance(records, torch.Tensor):
        about["records"] = int(records.numel())
    about["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return about


def load_weights(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """``model`` with the weights ``state``, in the memory format they were trained in: a
    channels-last model must compute with the same kernels (and roundings) as when trained."""
    if any(t.dim() == 4 and not t.is_contiguous() and
           t.is_contiguous(memory_format=torch.channels_last) for t in state.values()):
        model = model.to(memory_format=torch.channels_last)
    model.load_state_dict(state)
    return model


class ModelCache:
    """``fit`` returns cached weights when present, else trains and stores them."""

    def __init__(self, root: Path | None, progress: Progress = QUIET) -> None:
        self.root = root  # None: caching off
        self.progress = progress
        self.hits = 0  # models loaded from the cache
        self.trained = 0  # models trained in this run

    def fit(self, parts: Mapping[str, Any], build: Callable[[], nn.Module] | None,
            train: Callable[[], nn.Module], device: torch.device) -> nn.Module:
        model = self.load(parts, build, device)
        if model is not None:
            return model
        model = train()
        self.store(parts, model, build is not None)
        return model

    def load(self, parts: Mapping[str, Any], build: Callable[[], nn.Module] | None,
             device: torch.device) -> nn.Module | None:
        """The cached model for ``parts``, or ``None`` (no entry, damaged, caching off, or a
        target without ``build``)."""
        if self.root is None or build is None:
            return None
        path = self._path(parts)
        model = self._load(path, build, device) if path.exists() else None
        if model is not None:
            self.hits += 1
        return model

    def store(self, parts: Mapping[str, Any], model: nn.Module, cacheable: bool = True) -> None:
        """Count a freshly trained model and keep it (when caching is on and ``cacheable``)."""
        self.trained += 1
        if self.root is not None and cacheable:
            self._store(self._path(parts), model, parts)

    def store_answers(self, parts: Mapping[str, Any], queried: torch.Tensor,
                      answers: torch.Tensor) -> None:
        """Keep a model's answers to the ``queried`` records (for classifiers, its logits)
        beside the model, so a rerun queries nothing (caching on only)."""
        if self.root is None:
            return
        path = self._logits_path(parts, queried)
        try:
            atomic_write(path, lambda tmp: torch.save(answers.detach().cpu(), tmp))
        except OSError as exc:
            self.progress.message(f"warning: cannot write model cache {path.parent} "
                                  f"({exc.strerror or exc}); continuing without caching")

    def load_answers(self, parts: Mapping[str, Any],
                     queried: torch.Tensor) -> torch.Tensor | None:
        """The cached answers of the model ``parts`` to ``queried``, one row per record (the
        caller checks them further)."""
        if self.root is None:
            return None
        path = self._logits_path(parts, queried)
        if not path.exists():
            return None
        try:
            logits = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            return None  # damaged: the driver queries the model instead
        ok = isinstance(logits, torch.Tensor) and logits.dim() > 0 and len(logits) == len(queried)
        return logits.float() if ok else None

    def _logits_path(self, parts: Mapping[str, Any], queried: torch.Tensor) -> Path:
        assert self.root is not None
        key = cache_key({"format": FORMAT, **parts, "queried": queried})
        return self.root / f"{key}.logits"

    def _path(self, parts: Mapping[str, Any]) -> Path:
        assert self.root is not None
        return self.root / f"{cache_key({'format': FORMAT, **parts})}.pt"

    def _load(self, path: Path, build: Callable[[], nn.Module],
              device: torch.device) -> nn.Module | None:
        try:
            state = torch.load(path, map_location=device, weights_only=True)
            return load_weights(build(), state).to(device).eval()
        except Exception as exc:
            self.progress.message(f"warning: cache entry {path} is damaged "
                                  f"({type(exc).__name__}); retraining")
            return None

    def _store(self, path: Path, model: nn.Module, parts: Mapping[str, Any]) -> None:
        about = json.dumps(describe_entry(parts), indent=1, sort_keys=True, default=str)
        try:
            atomic_write(path, lambda tmp: torch.save(model.state_dict(), tmp))
            atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(about))
        except OSError as exc:
            self.progress.message(f"warning: cannot write model cache {path.parent} "
                                  f"({exc.strerror or exc}); continuing without caching")
