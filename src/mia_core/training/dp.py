"""DP-SGD (Opacus) for every model trained through :func:`mia_core.fit_classifier`.

A :class:`TrainRecipe` with ``dp_epsilon`` (or ``noise_multiplier``) and ``dp_delta`` trains
with Poisson sampling (each record joins each step's batch independently with probability
``batch_size / N``), per-sample gradient clipping to ``max_grad_norm`` and Gaussian noise, the
noise set so that Opacus's RDP accountant spends ``dp_epsilon`` at ``dp_delta`` over the
recipe's epochs. Opacus is imported only when DP is on.
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING

import attrs
import torch
from torch import nn

from mia_core.errors import ConfigError
from mia_core.fieldmap import FieldMap
from mia_core.training.divergence import stop_if_diverged

if TYPE_CHECKING:
    from mia_core.progress import Advance
    from mia_core.training.recipe import TrainRecipe


@attrs.frozen
class PrivacySpent(FieldMap):
    """What DP-SGD spent on one model, as Opacus's RDP accountant reports it."""

    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    max_grad_norm: float


@functools.lru_cache(maxsize=64)
def plan_dp(recipe: TrainRecipe, records: int) -> PrivacySpent | None:
    """Sampling rate, steps, noise and the accountant's epsilon for ``records`` records;
    ``None`` when the recipe does not use DP. Deterministic, so it is the same for a cached
    model, and computed once per recipe and size (the noise search takes a while)."""
    if not recipe.dp:  # the recipe was checked when it was made
        return None
    from opacus.accountants import RDPAccountant
    from opacus.accountants.utils import get_noise_multiplier

    rate = min(1.0, recipe.batch_size / records)
    steps = recipe.epochs * max(1, round(records / recipe.batch_size))
    assert recipe.dp_delta is not None  # checked above
    sigma = recipe.noise_multiplier
    if sigma is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                sigma = get_noise_multiplier(target_epsilon=recipe.dp_epsilon,
                                             target_delta=recipe.dp_delta, sample_rate=rate,
                                             steps=steps, accountant="rdp",
                                             epsilon_tolerance=0.005)
        except ValueError as exc:
            raise ConfigError(f"no noise level reaches dp_epsilon={recipe.dp_epsilon} at "
                              f"dp_delta={recipe.dp_delta} over {steps} steps: {exc}") from None
    accountant = RDPAccountant()
    accountant.history = [(sigma, rate, steps)]
    with warnings.catch_warnings():  # "optimal order is the largest alpha": a looser bound
        warnings.simplefilter("ignore", UserWarning)
        spent = accountant.get_epsilon(delta=recipe.dp_delta)
    return PrivacySpent(float(spent), recipe.dp_delta, float(sigma), rate, steps,
                        recipe.max_grad_norm)


def check_model_for_dp(model: nn.Module) -> None:
    """Opacus computes per-sample gradients only for some layers; BatchNorm mixes samples."""
    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise ConfigError(f"this model cannot be trained with DP-SGD: {str(errors[0]).strip()} "
                          "(e.g. replace BatchNorm by GroupNorm)")


def fit_dp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: TrainRecipe,
           plan: PrivacySpent, seed: int, advance: Advance) -> nn.Module:
    """The DP-SGD loop: Poisson batches, per-sample clipping, seeded noise, the recipe's
    optimizer and schedule."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    check_model_for_dp(model)
    wrapped = GradSampleModule(model)
    optimizer = DPOptimizer(
        recipe.make_optimizer(wrapped.parameters()),
        noise_multiplier=plan.noise_multiplier, max_grad_norm=plan.max_grad_norm,
        expected_batch_size=recipe.batch_size,
        generator=torch.Generator(device=x.device).manual_seed(seed + 1))
    schedule = recipe.make_schedule(optimizer.original_optimizer, plan.steps)
    sampler = torch.Generator().manual_seed(seed)
    wrapped.train()
    for step in range(plan.steps):
        batch = (torch.rand(len(x), generator=sampler) < plan.sample_rate).nonzero()[:, 0]
        advance(1)
        if len(batch) == 0:  # probability (1 - q)^N: negligible for real recipes
            continue
        batch = batch.to(x.device)
        loss = nn.functional.cross_entropy(wrapped(x[batch]), y[batch])
        stop_if_diverged(loss, f"at DP-SGD step {step + 1}", recipe.lr)
        optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # inputs need no gradient; Opacus's hooks still fire
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
    wrapped.zero_grad(set_to_none=True)
    wrapped.remove_hooks()  # the plain model again: no per-sample bookkeeping at inference
    for p in model.parameters():
        for attr in ("grad_sample", "summed_grad"):
            if hasattr(p, attr):
                delattr(p, attr)
    return model.eval()
