"""Training K copies of one small model at once (``torch.func``), for reference models.

A LeNet uses a sliver of a modern GPU; stacking K copies' parameters and mapping one training
step over them (``vmap`` of ``grad`` of a ``functional_call``) keeps the device busy. Each copy
keeps everything a separate :func:`fit_classifier` run would have: its own initial weights
(the models passed in), its own records, its own data order (a generator seeded like
``fit_classifier``'s) and its own Adam state; copies with fewer records simply sit out the
steps they do not have. The result equals K separate trainings up to float rounding (tested on
the CPU, where it is usually slower than K sequential runs: it is meant for CUDA).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from mia_core.data import LabeledData
from mia_core.errors import ConfigError
from mia_core.training.divergence import stop_if_diverged
from mia_core.training.formats import choose_format
from mia_core.training.precision import autocast
from mia_core.training.recipe import TrainRecipe


def fit_classifiers_batched(models: Sequence[nn.Module], datasets: Sequence[LabeledData],
                            recipe: TrainRecipe, seeds: Sequence[int],
                            device: torch.device) -> list[nn.Module]:
    """Train ``models[k]`` on ``datasets[k]`` with data order from ``seeds[k]``, all at once.

    Adam with cross-entropy in the precision :func:`fit_classifier` would use (measured or
    stored per machine and shape), but in contiguous memory; DP-SGD recipes are not batched.
    """
    if not len(models) == len(datasets) == len(seeds) or not models:
        raise ConfigError("batched training needs as many models, datasets and seeds (>= 1)")
    if recipe.dp:
        raise ConfigError("DP-SGD recipes are trained one model at a time")
    if not recipe.plain:
        raise ConfigError("only plain recipes (Adam, constant rate, no augmentation) are "
                          "trained batched; train these one model at a time")
    if any(len(d) == 0 for d in datasets):
        raise ConfigError("cannot train on an empty set of records")
    k, bs = len(models), recipe.batch_size
    models = [m.to(device).train() for m in models]
    params, buffers = stack_module_state(models)
    params = {name: p.detach().clone() for name, p in params.items()}
    base = models[0]
    sizes = [len(d) for d in datasets]
    x, y = _padded(datasets, device)

    def loss(p: dict, b: dict, xb: torch.Tensor, yb: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
        out = functional_call(base, (p, b), (xb,))
        per_record = nn.functional.cross_entropy(out, yb, reduction="none")
        return (per_record * mask).sum() / mask.sum().clamp_min(1)

    # the precision fit_classifier would measure or read for this shape (layout: contiguous)
    precision = choose_format(base, datasets[0].x[:bs], datasets[0].y[:bs], recipe,
                              device).precision
    step = vmap(grad_and_value(loss), in_dims=(0, 0, 0, 0, 0))  # one pass: gradients, loss
    exp_avg = {n: torch.zeros_like(p) for n, p in params.items()}
    exp_avg_sq = {n: torch.zeros_like(p) for n, p in params.items()}
    steps_done = torch.zeros(k, device=device)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    steps = [-(-n // bs) for n in sizes]
    for _ in range(recipe.epochs):
        orders = [torch.randperm(n, generator=g) for n, g in zip(sizes, generators, strict=True)]
        for t in range(max(steps)):
            xb, yb, mask = _step_batch(orders, t, bs, x, y)
            active = mask.sum(1) > 0
            with autocast(device, precision):
                grads, losses = step(params, buffers, xb, yb, mask)
            stop_if_diverged(losses[active], f"for a batched copy at step {t + 1}", recipe.lr)
            steps_done = steps_done + active.float()
            params = _adam(params, grads, exp_avg, exp_avg_sq, steps_done, active, recipe,
                           beta1, beta2, eps)
    trained = []
    for c, model in enumerate(models):
        model.load_state_dict({**{n: p[c] for n, p in params.items()},
                               **{n: b[c] for n, b in buffers.items()}})
        trained.append(model.eval())
    return trained


def _padded(datasets: Sequence[LabeledData],
            device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Records of every copy, stacked and padded to the largest set (padding is never
    sampled)."""
    width = max(len(d) for d in datasets)
    x = torch.stack([torch.cat([d.x, d.x[:1].expand(width - len(d), *d.x.shape[1:])])
                     for d in datasets]).to(device)
    y = torch.stack([torch.cat([d.y, d.y[:1].expand(width - len(d))])
                     for d in datasets]).to(device)
    return x, y


def _step_batch(orders: list[torch.Tensor], t: int, bs: int, x: torch.Tensor,
                y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Step ``t``'s records of every copy (inputs, labels) and which slots are real: a copy
    whose data order has run out fills its slots with record 0 and a mask of zeros."""
    k = len(orders)
    index = torch.zeros(k, bs, dtype=torch.long)
    mask = torch.zeros(k, bs)
    for c, order in enumerate(orders):
        part = order[t * bs:(t + 1) * bs]
        index[c, :len(part)] = part
        mask[c, :len(part)] = 1.0
    index, mask = index.to(x.device), mask.to(x.device)
    xb = torch.gather(x, 1, index.view(k, bs, *([1] * (x.dim() - 2))).expand(
        k, bs, *x.shape[2:]))
    return xb, torch.gather(y, 1, index), mask


def _adam(params: dict, grads: dict, exp_avg: dict, exp_avg_sq: dict, steps: torch.Tensor,
          active: torch.Tensor, recipe: TrainRecipe, beta1: float, beta2: float,
          eps: float) -> dict:
    """One Adam step per active copy, the arithmetic of ``torch.optim.Adam``."""
    fresh = {}
    for name, p in params.items():
        g = grads[name]
        if recipe.weight_decay:
            g = g + recipe.weight_decay * p
        shape = (-1,) + (1,) * (p.dim() - 1)
        on = active.view(shape)
        m = torch.where(on, exp_avg[name] * beta1 + g * (1 - beta1), exp_avg[name])
        v = torch.where(on, exp_avg_sq[name] * beta2 + g * g * (1 - beta2), exp_avg_sq[name])
        exp_avg[name], exp_avg_sq[name] = m, v
        count = steps.clamp_min(1).view(shape)
        correction1 = 1 - beta1 ** count
        correction2_sqrt = (1 - beta2 ** count).sqrt()
        update = (recipe.lr / correction1) * m / (v.sqrt() / correction2_sqrt + eps)
        fresh[name] = torch.where(on, p - update, p)
    return fresh
