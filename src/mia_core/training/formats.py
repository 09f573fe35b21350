"""The step format: which arithmetic (fp32 or bf16 autocast) and memory layout (contiguous or
channels-last) a training step uses, chosen by measurement where CPU flags mislead.

CPU flags say whether bf16 is native (AVX512-BF16, AMX), not whether it pays: on an AMX Xeon
a small convolution may run no faster in bf16, and channels-last helps some layers and hurts
others. So with ``precision=auto`` on a CPU, the first training of a model shape on a machine
times a few steps of every candidate (on a copy of the model and the first batch, the global
RNG untouched), and the fastest is stored in a small JSON file: ``$MIA_FORMATS``, else
``~/.cache/mia-core/step-formats.json``. Every later training of that shape on that machine,
in any process, reads the same choice, so runs stay bit-identical for a given machine and
file. ``MIA_FORMATS=off`` (as the test suite sets) keeps the flag rule: bf16 where it is
native, channels-last for images.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import hashlib
import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import torch
from torch import nn

from mia_core.atomic import atomic_write
from mia_core.fieldmap import FieldMap
from mia_core.progress import QUIET, Progress
from mia_core.training.precision import cpu_flags, resolve_precision
from mia_core.training.recipe import TrainRecipe

WARM, STEPS, ROUNDS = 2, 5, 2
SLOW_STEP = 0.25  # seconds per fp32 step above which a model is measured briefly
PROBE = 16  # records of the first step, which sizes the timed batch
MAX_RECORDS = 512  # records per timed step at most, whatever the recipe's batch size
MAX_STEP = 1.0  # seconds a timed step should take at most (fewer records for big models)
DEADLINE = 30.0  # seconds after which candidates not yet timed are left out
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


@attrs.frozen
class StepFormat(FieldMap):
    """``precision`` "fp32" or "bf16", ``channels_last``, and ``how`` they were chosen:
    "measured" (now), "stored" (an earlier measurement on this machine), "asked" (the recipe
    fixed the precision), "cpu flags" (no store), or "device" (GPU rule); ``images_per_s``
    holds the measured speed of every candidate."""

    precision: str
    channels_last: bool
    how: str
    images_per_s: dict[str, float] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        return format_name(self.precision, self.channels_last)


def format_name(precision: str, channels_last: bool) -> str:
    """``bf16+channels-last``, ``fp32``: how formats are named in messages and the store."""
    return precision + ("+channels-last" if channels_last else "")


def speeds_text(images_per_s: dict[str, float]) -> str:
    """The measured candidates, fastest first: ``bf16+channels-last 14,900, fp32 6,818``."""
    return ", ".join(f"{k} {v:,.0f}" for k, v in sorted(images_per_s.items(),
                                                        key=lambda kv: -kv[1]))


def formats_file() -> Path | None:
    """Where measured choices are kept (``None``: measurement is off)."""
    env = os.environ.get("MIA_FORMATS")
    if env:
        return None if env.strip().lower() == "off" else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mia-core" / "step-formats.json"


def machine_key(device: torch.device) -> str:
    """The CPU (model name and the flags that matter) or GPU, and the torch version."""
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        flags = cpu_flags()
        what = f"{cpu_model()} [{' '.join(f for f in FLAGS if f in flags)}]"
    return f"{what}; torch {torch.__version__}"


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def shape_key(model: nn.Module, x: torch.Tensor, recipe: TrainRecipe) -> str:
    """The model's class and parameter shapes, the per-record input shape, the batch size
    and the optimizer: what a step's speed depends on besides the machine."""
    shapes = ";".join(f"{n}:{tuple(p.shape)}" for n, p in model.named_parameters())
    digest = hashlib.sha256(shapes.encode()).hexdigest()[:12]
    return (f"{type(model).__qualname__} {digest} input {tuple(x.shape[1:])} batch "
            f"{recipe.batch_size} {recipe.optimizer}")


def choose_format(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: TrainRecipe,
                  device: torch.device, progress: Progress = QUIET) -> StepFormat:
    """The format to train ``model`` on batches like ``x``, ``y`` (the first batch) with."""
    images = x.dim() == 4 and device.type != "mps"
    layouts = (True, False) if recipe.channels_last and images else (False,)
    if recipe.precision != "auto":
        return StepFormat(recipe.precision, layouts[0], "asked")
    flagged = "bf16" if resolve_precision("auto", device) is not None else "fp32"
    path = formats_file()
    if device.type != "cpu" or path is None:
        return StepFormat(flagged, layouts[0], "device" if device.type != "cpu"
                          else "cpu flags")
    key = f"{machine_key(device)} | {shape_key(model, x, recipe)}"
    with _locked(path):
        stored = _read(path).get(key)
        if stored is not None:
            return StepFormat(stored["precision"], stored["channels_last"], "stored",
                              stored.get("images_per_s", {}))
        progress.message(f"timing fp32/bf16 x memory layouts for {type(model).__name__} "
                         f"(batch {recipe.batch_size}) on this machine, once; kept in {path}")
        chosen = measure(model, x[: recipe.batch_size], y[: recipe.batch_size], recipe, device,
                         layouts)
        _write(path, key, chosen)
    return chosen


def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: TrainRecipe,
            device: torch.device, layouts: tuple[bool, ...]) -> StepFormat:
    """Time every candidate on copies of ``model`` (best of ``ROUNDS`` interleaved rounds),
    within seconds whatever the recipe says: a first step on ``PROBE`` records sizes the
    timed batch (at most ``MAX_RECORDS``, and few enough for a step of ``MAX_STEP`` seconds:
    per-image speed hardly changes past that), a model whose step takes over ``SLOW_STEP``
    seconds gets one round of few steps, a candidate far slower than fp32 (bf16 emulated on
    an AVX2 CPU) is cut short, and past ``DEADLINE`` seconds the candidates not yet timed are
    left out (fp32 is always timed first)."""
    candidates = [(p, cl) for p in ("fp32", "bf16") for cl in layouts]
    speeds: dict[str, float] = {}
    began = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # dropout and the like must not move the RNG
        few = min(len(x), PROBE)
        probe = _speed(model, x[:few], y[:few], recipe, device, "fp32", False, None, 0, 1)
        n = max(1, min(len(x), MAX_RECORDS, int(MAX_STEP * probe)))
        x, y = x[:n], y[:n]
        slow = n / max(probe, 1e-9) > SLOW_STEP
        warm, steps, rounds = (1, 2, 1) if slow else (WARM, STEPS, ROUNDS)
        for _ in range(rounds):
            for precision, cl in candidates:
                if speeds and time.perf_counter() - began > DEADLINE:
                    break
                name = format_name(precision, cl)
                budget = 4 * len(x) * steps / max(speeds.get("fp32", 0.0), 1e-9) \
                    if "fp32" in speeds else None
                speed = _speed(model, x, y, recipe, device, precision, cl, budget, warm, steps)
                speeds[name] = max(speeds.get(name, 0.0), speed)
    timed = [c for c in candidates if format_name(*c) in speeds]
    best = max(timed, key=lambda c: speeds[format_name(*c)])
    return StepFormat(best[0], best[1], "measured", {k: round(v, 1) for k, v in speeds.items()})


def _speed(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: TrainRecipe,
           device: torch.device, precision: str, channels_last: bool,
           budget: float | None, warm: int, steps: int) -> float:
    """Images per second of ``steps`` timed training steps after ``warm`` untimed ones."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    copy_ = copy.deepcopy(model).to(device=device, memory_format=layout).train()
    xb, yb = x.to(device).contiguous(memory_format=layout), y.to(device)
    optimizer = recipe.make_optimizer(copy_.parameters(), foreach=True)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    start = time.perf_counter()
    for step in range(warm + steps):
        if step == warm:
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=precision == "bf16"):
            loss = nn.functional.cross_entropy(copy_(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if budget is not None and time.perf_counter() - start > budget:
            return 0.0  # hopeless: far slower than fp32
    return len(xb) * steps / (time.perf_counter() - start)


def stored_formats(device: torch.device | None = None) -> dict[str, dict]:
    """This machine's stored choices, by model shape (for ``--describe``)."""
    path = formats_file()
    if path is None:
        return {}
    prefix = f"{machine_key(device or torch.device('cpu'))} | "
    return {k[len(prefix):]: v for k, v in _read(path).items() if k.startswith(prefix)}


def _read(path: Path) -> dict[str, dict]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or damaged: measure again
    return found if isinstance(found, dict) else {}


def _write(path: Path, key: str, chosen: StepFormat) -> None:
    entries = _read(path)
    entries[key] = {"precision": chosen.precision, "channels_last": chosen.channels_last,
                    "images_per_s": chosen.images_per_s,
                    "measured": datetime.date.today().isoformat()}
    with contextlib.suppress(OSError):  # a read-only home: measure again next time
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(entries, indent=1) + "\n"))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process measures a shape at a time; the others then read its choice."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "w")  # noqa: SIM115
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
