"""DP-SGD targets (Opacus) and the audit of their epsilon."""

import json

import pytest
import torch
from click.testing import CliRunner

from mia_core import LabeledData, TrainEnv, TrainRecipe, fit_classifier, plan_dp
from mia_core.cli.mia_run import run
from mia_core.errors import ConfigError
from mia_core.results.summary import format_summary
from mia_core.testing import run as run_in_process
from mia_core.training.fit import seeded

from .conftest import make_module


@pytest.mark.parametrize("epsilon", [1.0, 4.0, 8.0])
def test_accountant_spends_the_target_epsilon(epsilon):
    recipe = TrainRecipe(30, 256, 1e-3, dp_epsilon=epsilon, dp_delta=1e-5)
    spent = plan_dp(recipe, 12_000)
    assert abs(spent.epsilon - epsilon) / epsilon < 0.01
    assert spent.sample_rate == 256 / 12_000 and spent.steps == 30 * 47
    assert spent.delta == 1e-5 and spent.max_grad_norm == 1.0
    smaller = plan_dp(TrainRecipe(30, 256, 1e-3, dp_epsilon=epsilon / 2, dp_delta=1e-5), 12_000)
    assert smaller.noise_multiplier > spent.noise_multiplier  # less epsilon, more noise
    fixed = plan_dp(TrainRecipe(30, 256, 1e-3, noise_multiplier=spent.noise_multiplier,
                                dp_delta=1e-5), 12_000)
    assert fixed.epsilon == pytest.approx(spent.epsilon)
    assert plan_dp(TrainRecipe(30, 256, 1e-3), 12_000) is None


def test_every_per_sample_gradient_is_clipped(monkeypatch):
    from opacus.optimizers import DPOptimizer

    clip = 0.01
    seen = []
    original = DPOptimizer.clip_and_accumulate

    def checked(self):
        params = [p for p in self.params if p.grad_sample is not None]
        per_sample = torch.stack([p.grad_sample.flatten(1).norm(dim=1) for p in params]).norm(dim=0)
        factor = (clip / (per_sample + 1e-6)).clamp(max=1.0)
        before = [p.summed_grad.clone() if getattr(p, "summed_grad", None) is not None else 0
                  for p in params]
        original(self)
        for p, prior in zip(params, before, strict=True):
            expected = torch.einsum("i,i...->...", factor, p.grad_sample) + prior
            torch.testing.assert_close(p.summed_grad, expected, rtol=1e-4, atol=1e-7)
        seen.append(float(per_sample.max()))

    monkeypatch.setattr(DPOptimizer, "clip_and_accumulate", checked)
    g = torch.Generator().manual_seed(0)
    data = LabeledData(torch.randn(64, 5, generator=g) * 10, torch.randint(0, 2, (64,),
                                                                         generator=g), 2)
    recipe = TrainRecipe(2, 16, 0.01, dp_epsilon=5.0, dp_delta=1e-3, max_grad_norm=clip)
    with seeded(0):
        fit_classifier(torch.nn.Linear(5, 2), data, recipe, TrainEnv(torch.device("cpu"), 0))
    assert seen and max(seen) > clip  # the raw gradients were larger: clipping did something


def test_dp_training_is_seeded():
    data = LabeledData(torch.randn(80, 3), torch.randint(0, 2, (80,)), 2)
    recipe = TrainRecipe(2, 16, 0.01, dp_epsilon=3.0, dp_delta=1e-4)

    def train(seed):
        with seeded(seed):
            model = torch.nn.Linear(3, 2)
        return fit_classifier(model, data, recipe, TrainEnv(torch.device("cpu"), seed))

    assert torch.equal(train(1).weight, train(1).weight)
    assert not torch.equal(train(1).weight, train(2).weight)


OVERFIT = {"target": {"epochs": 15, "batch_size": 32}, "dataset": {"noise": 3.0}}
ATTACKS = ["loss-threshold", "lira", "rmia"]


def dp_run(epsilon):
    options = {**OVERFIT, "target": {**OVERFIT["target"], "dp_epsilon": epsilon,
                                     "dp_delta": 1e-5}} if epsilon else OVERFIT
    return run_in_process(dataset="tiny-images", attacks=ATTACKS, members=150,
                          reference_models=2, options=options)


@pytest.fixture(scope="module")
def runs():
    return dp_run(None), dp_run(1.0)


def test_dp_at_epsilon_1_pushes_attacks_to_chance_and_bounds_stay_below_it(runs):
    plain, private = runs
    assert plain.privacy is None and plain.audit_delta == 1e-5
    assert private.privacy.epsilon == pytest.approx(1.0, rel=0.01)
    assert private.audit_delta == 1e-5
    for name in ATTACKS:
        assert plain.attack(name).metrics.auc > 0.65, name
        assert abs(private.attack(name).metrics.auc - 0.5) < 0.1, name
        assert private.attack(name).metrics.epsilon_lb <= 1.0
    assert private.privacy_violations == []


@pytest.mark.parametrize(("options", "message"), [
    (["target.dp_epsilon=4", "target.noise_multiplier=1", "target.dp_delta=1e-5"],
     "Error: set dp_epsilon or noise_multiplier for DP-SGD, not both"),
    (["target.dp_epsilon=4", "target.dp_delta=1"], "Error: dp_delta must be between 0 and 1 "
                                                   "(exclusive), got 1.0"),
    (["target.dp_delta=1e-5"], "Error: dp_delta is set but DP-SGD is off"),
    (["target.dp_epsilon=-1"], "Error: bad option for target 'cnn': 'dp_epsilon' must be >= 0"),
    (["target.dp_epsilon=nan"], "Error: option 'dp_epsilon' of target 'cnn': must be a finite "
                                "number, got nan"),
])
def test_bad_dp_options_are_usage_errors(options, message):
    args = ["--dataset", "blobs", "--attack", "loss-threshold", "--members", "100", "--quiet"]
    for option in options:
        args += ["-o", option]
    result = CliRunner().invoke(run, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1


BATCHNORM = """
import torch
from mia_core import TrainRecipe, fit_classifier, hookimpl

class Normed:
    def fit(self, data, env):
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 8),
                                    torch.nn.BatchNorm1d(8), torch.nn.Linear(8, data.num_classes))
        recipe = TrainRecipe(1, 16, 0.01, dp_epsilon=4.0, dp_delta=1e-5)
        return fit_classifier(model, data, recipe, env)

@hookimpl
def register_targets(register):
    register("normed", Normed)
"""


def test_a_model_opacus_cannot_train_is_a_usage_error():
    make_module("mia_test_normed", BATCHNORM)
    result = CliRunner().invoke(run, ["-p", "mia_test_normed", "--dataset", "blobs", "--target",
                                      "normed", "--attack", "loss-threshold", "--members", "100",
                                      "--quiet", "--no-cache"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: this model cannot be trained with DP-SGD: ")
    assert "BatchNorm" in result.output


def test_results_and_cache_key_carry_the_dp_settings(tmp_path):
    base = ["--dataset", "blobs", "--attack", "loss-threshold", "--members", "100", "-o",
            "target.epochs=2", "--json", "--quiet", "--cache-dir", str(tmp_path)]
    plain = json.loads(CliRunner().invoke(run, base).output)
    private = json.loads(CliRunner().invoke(run, [*base, "-o", "target.dp_epsilon=3", "-o",
                                                  "target.dp_delta=1e-4"]).output)
    assert plain["privacy"] is None and private["models_from_cache"] == 0
    assert private["privacy"]["epsilon"] == pytest.approx(3.0, rel=0.01)
    assert private["audit_delta"] == 1e-4 and private["privacy_violations"] == []
    assert set(private["privacy"]) == {"epsilon", "delta", "noise_multiplier", "sample_rate",
                                       "steps", "max_grad_norm"}
    again = json.loads(CliRunner().invoke(run, [*base, "-o", "target.dp_epsilon=3", "-o",
                                                "target.dp_delta=1e-4"]).output)
    assert again["models_from_cache"] == 1 and again["privacy"] == private["privacy"]


def test_a_bound_above_the_accountant_is_flagged(runs):
    import attrs

    from mia_core.results.summary import format_summary

    result = runs[1]
    leaky = attrs.evolve(result, attacks=tuple(
        attrs.evolve(a, metrics=attrs.evolve(a.metrics, epsilon_lb=2.5)) if a.name == "lira"
        else a for a in result.attacks))
    assert leaky.privacy_violations == ["lira"]
    assert leaky.to_dict()["privacy_violations"] == ["lira"]
    assert "WARNING: attack 'lira' proves ε >= 2.500, above the accountant's ε = " in (
        format_summary(leaky))


def test_a_recipe_with_dp_but_no_delta_is_a_usage_error():
    with pytest.raises(ConfigError) as err:
        TrainRecipe(1, 10, 0.1, dp_epsilon=4.0)
    assert str(err.value) == "DP-SGD needs dp_delta (e.g. 1e-5, below 1 / number of records)"


def test_cnn_defaults_delta_when_dp_is_on():
    result = CliRunner().invoke(run, ["--dataset", "blobs", "--attack", "loss-threshold",
                                      "--members", "100", "-o", "target.epochs=1", "-o",
                                      "target.dp_epsilon=4", "--json", "--quiet", "--no-cache"])
    assert result.exit_code == 0, result.output
    privacy = json.loads(result.output)["privacy"]
    assert privacy["delta"] == 1e-5 and privacy["epsilon"] == pytest.approx(4.0, rel=0.01)


def test_plan_rejects_an_unreachable_epsilon():
    with pytest.raises(ConfigError, match="no noise level reaches"):
        plan_dp(TrainRecipe(1, 10, 0.1, dp_epsilon=1e-9, dp_delta=1e-9), 10)


def test_canaries_join_training_but_never_the_evaluation(tmp_path):
    from mia_core.testing import run_with_artifacts

    options = {"target": {"epochs": 20, "batch_size": 32}, "dataset": {"noise": 3.0}}
    plain = run_with_artifacts(dataset="tiny-images", attacks=["loss-threshold", "lira"],
                               members=150, reference_models=2, options=options)
    audited = run_with_artifacts(dataset="tiny-images", attacks=["loss-threshold", "lira"],
                                 members=150, reference_models=2, options=options, canaries=200)
    assert torch.equal(plain.artifacts.eval_index, audited.artifacts.eval_index)
    assert plain.result.split_sizes == audited.result.split_sizes
    report = audited.result.attack("loss-threshold").canary_audit
    assert report["canaries"] == 200 and report["guesses"] == 40
    assert report["correct"] >= 32 and report["epsilon"] > 0  # memorised, mislabelled copies
    assert audited.result.attack("lira").canary_audit is None  # population: not audited so
    assert plain.result.attack("loss-threshold").canary_audit is None
    assert audited.result.config.canaries == 200
    summary = format_summary(audited.result)
    assert "one-run audit, 200 canaries each trained on with probability 1/2" in summary
    assert (f"loss-threshold: ε_lb {report['epsilon']:.3f}, f-DP μ ≥ {report['fdp_mu']:.3f} "
            f"(ε {report['fdp_epsilon']:.3f}) from {report['correct']} of 40") in summary
    assert report["fdp_epsilon"] > report["epsilon"]  # the tighter bound from the same guesses


def test_too_many_default_canaries_is_a_usage_error():
    result = CliRunner().invoke(run, ["--dataset", "blobs", "--attack", "loss-threshold",
                                      "--members", "100", "--canaries", "5000", "--quiet"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: --canaries 5000: the default canaries are "
                                    "relabelled copies of distinct records; this dataset has "
                                    "2000 records")


def test_canaries_without_a_known_members_attack_say_what_to_add():
    result = CliRunner().invoke(run, ["--dataset", "blobs", "--attack", "lira", "--members",
                                      "100", "--reference-models", "2", "-o", "target.epochs=1",
                                      "--canaries", "50", "--quiet", "--no-cache"])
    assert result.exit_code == 2, result.output  # a usage error, before any training
    assert ("add a known-members attack such as loss-threshold or torch-mlp, or drop "
            "--canaries") in result.output
