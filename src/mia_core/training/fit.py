"""Fast, seeded training and inference for small classifiers on in-memory tensors.

Used by target plugins (and by attacks that train models) so every model in an experiment is
trained the same reproducible way. On the CPU, per-batch work is tiny, so overheads matter:
batches are sliced from tensors already in memory (no DataLoader workers), the precision and
memory layout are the ones measured fastest for the model's shape on this machine
(mia_core.training.formats), the optimizer uses multi-tensor kernels, and glibc is told to
keep freed activation buffers instead of returning them to the OS on every step.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
from collections.abc import Iterator

import torch
from torch import nn

from mia_core.answers import CLASS_LOGITS, Answers
from mia_core.data import LabeledData, Records
from mia_core.errors import ConfigError
from mia_core.training.augment import augment_batch, augment_generator
from mia_core.training.divergence import stop_if_diverged
from mia_core.training.dp import fit_dp, plan_dp
from mia_core.training.formats import choose_format
from mia_core.training.precision import autocast
from mia_core.training.recipe import TrainEnv, TrainRecipe


def fit_classifier(
    model: nn.Module, data: LabeledData, recipe: TrainRecipe, env: TrainEnv, label: str = "train"
) -> nn.Module:
    """Train ``model`` on ``data`` with cross-entropy; returns it in eval mode on ``env.device``.

    Seeded by ``env.seed``: the same seed, data and device give bit-identical weights on CPU.
    """
    if len(data) == 0:
        raise ConfigError("cannot train on an empty set of records")
    if recipe.dp:
        return _fit_private(model, data, recipe, env, label)
    device = env.device
    if device.type == "cpu":
        _keep_freed_memory()
    step = choose_format(model, data.x[:recipe.batch_size], data.y[:recipe.batch_size], recipe,
                         device, env.progress)
    memory_format = torch.channels_last if step.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    x = data.x.to(device).contiguous(memory_format=memory_format)
    y = data.y.to(device)
    kernel = {"fused": True} if device.type == "cuda" else {"foreach": True}
    optimizer = recipe.make_optimizer(model.parameters(), **kernel)
    generator = torch.Generator().manual_seed(env.seed)
    augmenting = augment_generator(env.seed)
    n, bs = len(data), recipe.batch_size
    steps = -(-n // bs)
    schedule = recipe.make_schedule(optimizer, recipe.epochs * steps)
    model.train()
    with env.progress.bar(label, recipe.epochs * steps) as advance:
        for epoch in range(recipe.epochs):
            order = torch.randperm(n, generator=generator).to(device)
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                xb = augment_batch(x[idx], recipe.augment, augmenting)
                with autocast(device, step.precision):
                    loss = nn.functional.cross_entropy(model(xb), y[idx])
                stop_if_diverged(loss, f"in epoch {epoch + 1}, step {start // bs + 1}",
                                 recipe.lr)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                advance(1)
    return model.eval()


def _fit_private(model: nn.Module, data: LabeledData, recipe: TrainRecipe, env: TrainEnv,
                 label: str) -> nn.Module:
    """DP-SGD in fp32 and contiguous memory (per-sample gradients need both)."""
    plan = plan_dp(recipe, len(data))
    assert plan is not None
    if env.device.type == "cpu":
        _keep_freed_memory()
    model = model.to(env.device)
    x, y = data.x.to(env.device).contiguous(), data.y.to(env.device)
    with env.progress.bar(f"{label} (DP-SGD)", plan.steps) as advance:
        return fit_dp(model, x, y, recipe, plan, env.seed, advance)


def accuracy(model: nn.Module, data: Records, device: torch.device,
             answers: Answers = CLASS_LOGITS) -> float:
    """Fraction of ``data`` the model answers right (classifiers: classifies correctly);
    NaN for no records, or where ``answers`` have no accuracy."""
    if len(data) == 0 or answers.accuracy is None:
        return float("nan")
    return answers.accuracy(answers.answer(model, data, device), data)


def accuracy_of(logits: torch.Tensor, data: LabeledData) -> float:
    """Fraction of ``data`` that ``logits`` (one row per record) classify correctly."""
    if len(data) == 0:
        return float("nan")
    return float((logits.argmax(1) == data.y).double().mean())


@functools.cache
def _keep_freed_memory() -> None:
    """Stop glibc from unmapping large freed blocks after every step.

    Each training step frees and re-allocates the same multi-megabyte activation buffers; by
    default glibc returns them to the OS and page-faults them back in, which costs about a
    third of a LeNet step on a small CPU. Raising the mmap and trim thresholds keeps them.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum on 64-bit
        libc.mallopt(m_trim_threshold, 1 << 30)
        libc.mallopt(m_top_pad, 64 << 20)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG (model initialisation) without leaking the state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
