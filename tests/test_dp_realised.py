"""DP-SGD does what its accountant assumes, observed on a model where it can be seen: the
Poisson batch sizes average q·N with binomial spread, the noise added to the summed clipped
gradients has standard deviation sigma·C, and the step count is the plan's. A training that
sampled at twice the rate or added a tenth of the noise would fail here, whatever ε
results.json reported."""

from __future__ import annotations

import math

import pytest
import torch

from mia_core import LabeledData, TrainEnv, TrainRecipe, fit_classifier, plan_dp

N, FEATURES, CLASSES = 2000, 100, 10
BATCH, EPOCHS, SIGMA, CLIP, LR = 50, 2, 1.3, 0.7, 1.0


def _observed_training():
    """Zero inputs and no bias: every gradient is exactly zero, so each SGD step (lr 1, no
    momentum) moves the weights by the noise alone, divided by the expected batch size."""
    data = LabeledData(torch.zeros(N, FEATURES), torch.randint(0, CLASSES, (N,),
                       generator=torch.Generator().manual_seed(0)), CLASSES)
    recipe = TrainRecipe(EPOCHS, BATCH, LR, precision="fp32", optimizer="sgd", momentum=0.0,
                         noise_multiplier=SIGMA, dp_delta=1e-5, max_grad_norm=CLIP)
    model = torch.nn.Linear(FEATURES, CLASSES, bias=False)
    torch.nn.init.zeros_(model.weight)
    sizes: list[int] = []
    deltas: list[torch.Tensor] = []
    last = [model.weight.detach().clone()]

    def record(module, inputs):
        sizes.append(int(inputs[0].shape[0]))
        now = module.weight.detach().clone()  # the previous step's update shows here
        if len(sizes) > 1:
            deltas.append(now - last[0])
        last[0] = now

    model.register_forward_pre_hook(record)
    trained = fit_classifier(model, data, recipe, TrainEnv(torch.device("cpu"), seed=3))
    deltas.append(trained.weight.detach() - last[0])
    return plan_dp(recipe, N), sizes, torch.stack(deltas)


@pytest.fixture(scope="module")
def observed():
    return _observed_training()


def test_the_step_count_is_the_plans(observed):
    plan, sizes, deltas = observed
    assert plan.steps == EPOCHS * N // BATCH
    assert len(sizes) == plan.steps and len(deltas) == plan.steps  # no empty batch here


def test_poisson_batches_average_q_n_with_binomial_spread(observed):
    plan, sizes, _ = observed
    sizes_t = torch.tensor(sizes, dtype=torch.float64)
    q = plan.sample_rate
    assert q == pytest.approx(BATCH / N)
    expected_sd = math.sqrt(N * q * (1 - q))
    # the mean of 80 batches: within 4 standard errors of q·N
    assert abs(float(sizes_t.mean()) - N * q) < 4 * expected_sd / math.sqrt(len(sizes))
    assert 0.7 * expected_sd < float(sizes_t.std()) < 1.3 * expected_sd


def test_the_noise_is_sigma_times_the_clipping_norm(observed):
    plan, _, deltas = observed
    assert plan.noise_multiplier == SIGMA and plan.max_grad_norm == CLIP
    # the summed clipped gradient is zero, so the step is -lr * noise / expected batch size
    noise = -deltas * BATCH / LR
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.02 * SIGMA * CLIP)
    assert float(noise.std()) == pytest.approx(SIGMA * CLIP, rel=0.03)
