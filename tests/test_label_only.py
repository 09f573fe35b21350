"""The label-only threat model: the target answers predicted labels only, and the gap and
augmentation attacks find members of an overfit target from labels alone."""

from __future__ import annotations

import pytest
import torch

from mia_core import AttackContext, LabeledData, PluginError, ThreatModel, hookimpl
from mia_core import shifted as shift_images
from mia_core.context import LabelOracle
from mia_core.testing import run
from mia_torch_attack.label_only import AugmentationOptions, perturbations

OVERFIT = dict(dataset="tiny-images", members=150,
               options={"target": {"epochs": 20, "batch_size": 32}, "dataset": {"noise": 8.0}})


@pytest.mark.parametrize("name", ["gap", "label-augmentation"])
def test_label_only_attacks_find_members_and_sit_at_chance_under_control(name):
    real = run(attacks=[name], **OVERFIT).attack(name)
    control = run(attacks=[name], control=True, **OVERFIT).attack(name)
    assert real.metrics.auc > 0.6 and real.threat_model == "label-only"
    assert abs(control.metrics.auc - 0.5) < 0.08
    # each decides at the threshold it chose itself (gap: 0.5; augmentation: calibrated on
    # the known records), not at one the core would pick
    assert real.metrics.threshold_source == "attack"


def test_the_gap_attacks_advantage_is_the_accuracy_gap():
    result = run(attacks=["gap"], **OVERFIT)
    gap = result.target_train_accuracy - result.target_test_accuracy
    m = result.attack("gap").metrics
    # the evaluation halves of members and non-members: close to the whole sets' gap
    assert m.advantage == pytest.approx(gap, abs=0.06)
    assert m.auc == pytest.approx(0.5 + m.advantage / 2)


class Peeker:
    """A label-only attack that tries to read the target's logits anyway."""

    threat_model = ThreatModel.LABEL_ONLY

    def score(self, ctx: AttackContext):
        return ctx.target.probabilities(ctx.evaluation.x)[:, 0]


class PeekerPlugin:
    @staticmethod
    @hookimpl
    def register_attacks(register):
        register("peeker", Peeker)


def test_asking_a_label_only_target_for_scores_names_the_attack():
    with pytest.raises(PluginError, match="attack 'peeker' is label-only: the target answers "
                       r"predicted labels only \(ctx.target.labels\(x\)\)"):
        run(("peeker-plugin", PeekerPlugin), attacks=["peeker"], **OVERFIT)


def test_the_oracle_answers_labels_and_counts_queries():
    model = torch.nn.Linear(3, 4)
    oracle = LabelOracle(model, torch.device("cpu"), "x")
    x = torch.randn(5, 3)
    assert torch.equal(oracle.labels(x), model(x).argmax(1))
    assert oracle.queries == 5
    for ask in (lambda: oracle.logits(x), lambda: oracle.loss(x, torch.zeros(5).long())):
        with pytest.raises(PluginError):
            ask()


def test_perturbations_are_shifts_and_flips_for_images_noise_otherwise():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    moved = shift_images(x, 1, 0)
    assert torch.equal(moved[..., 1:, :], x[..., :-1, :])  # down by one row
    options = AugmentationOptions(queries=4, shift=1)
    copies = perturbations(x, options, torch.ones(1), torch.Generator().manual_seed(0))
    assert len(copies) == 5 and torch.equal(copies[0], x)
    assert all(c.shape == x.shape for c in copies)
    table = torch.zeros(10, 3)
    noisy = perturbations(table, AugmentationOptions(queries=3, noise=0.5), torch.ones(1, 3),
                          torch.Generator().manual_seed(0))
    assert len(noisy) == 4 and 0.2 < float(noisy[1].std()) < 0.8
    again = perturbations(table, AugmentationOptions(queries=3, noise=0.5), torch.ones(1, 3),
                          torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(noisy, again, strict=True))


def test_table_noise_is_in_standard_deviations_of_each_feature():
    """On tables the copies get Gaussian noise of ``noise`` standard deviations of each
    feature (measured on the known records), as the option says: a feature a million
    times wider than another gets noise a million times wider, in the known and the
    evaluation records alike."""
    from types import SimpleNamespace

    from mia_torch_attack.label_only import AugmentationAttack

    g = torch.Generator().manual_seed(0)
    widths = torch.tensor([1000.0, 0.001, 1.0])
    known_x = torch.randn(2000, 3, generator=g) * widths
    eval_x = torch.randn(500, 3, generator=g) * widths
    asked = []

    def labels(x):
        asked.append(x.clone())
        return torch.zeros(len(x), dtype=torch.int64)

    ctx = SimpleNamespace(
        known=SimpleNamespace(data=LabeledData(known_x, torch.zeros(2000, dtype=torch.int64), 2),
                              is_member=torch.arange(2000) % 2 == 0),
        evaluation=LabeledData(eval_x, torch.zeros(500, dtype=torch.int64), 2),
        target=SimpleNamespace(labels=labels), generator=lambda: torch.Generator().manual_seed(1))
    AugmentationAttack(AugmentationOptions(queries=3, noise=0.5)).score(ctx)
    assert len(asked) == 8  # the records and 3 copies, for the known and the evaluation ones
    spread = known_x.std(0)
    for base, copies in ((known_x, asked[1:4]), (eval_x, asked[5:8])):
        assert torch.equal(asked[0 if base is known_x else 4], base)
        for copy in copies:
            ratio = (copy - base).std(0) / (0.5 * spread)
            assert ((ratio > 0.85) & (ratio < 1.15)).all(), ratio


# --- decision-boundary distance ----------------------------------------------------------------
class Plane(torch.nn.Module):
    """Two classes split by the plane x0 - 0.5 x1 = 0: a record's distance to the boundary is
    |x0 - 0.5 x1| / sqrt(1.25), known exactly."""

    def forward(self, x):
        s = x.flatten(1)[:, :1] - 0.5 * x.flatten(1)[:, 1:2]
        return torch.cat([s, -s], 1)


def plane_ctx(n=120, dims=12, wrong=10):
    from mia_core import KnownRecords

    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, dims, generator=g) * 10 - 5
    y = (x[:, 0] - 0.5 * x[:, 1] < 0).long()
    y[:wrong] = 1 - y[:wrong]  # the first records are misclassified
    data = LabeledData(x, y, 2)
    oracle = LabelOracle(Plane(), torch.device("cpu"), "decision-boundary")
    ctx = AttackContext(oracle, data, KnownRecords(data, torch.arange(n) % 2 == 0),
                        torch.device("cpu"), 0, attack="decision-boundary")
    true = (x[:, 0] - 0.5 * x[:, 1]).abs().double() / 1.25 ** 0.5
    true[:wrong] = 0.0
    return ctx, x, true


def test_the_boundary_distance_is_the_distance_to_a_known_plane():
    """Every distance is that of a point the target labels otherwise, so never below the true
    one; within the default budget it comes close; a misclassified record scores 0."""
    from mia_torch_attack.boundary import BoundaryAttack, BoundaryOptions

    ctx, x, true = plane_ctx()
    scores = BoundaryAttack(BoundaryOptions()).score(ctx).scores
    assert scores[:10].tolist() == [0.0] * 10
    assert bool((scores[10:] >= true[10:] * (1 - 1e-6)).all())
    # where the nearest point of the plane lies inside the data's range (the walk stays in it)
    normal = torch.tensor([1.0, -0.5]) / 1.25 ** 0.5
    signed = (x[:, 0] - 0.5 * x[:, 1]) / 1.25 ** 0.5
    inside = (x[:, :2] - signed[:, None] * normal).abs().le(5).all(1)
    inside[:10] = False
    error = (scores - true)[inside] / true[inside]
    assert float(error.median()) < 0.05 and float(error.max()) < 0.15


def test_the_boundary_walk_asks_labels_only_and_keeps_to_its_budget():
    from mia_torch_attack.boundary import BoundaryAttack, BoundaryOptions

    ctx, _, true = plane_ctx()
    small = BoundaryAttack(BoundaryOptions(queries=200, probes=16)).score(ctx)
    # every query went through the label oracle (logits would have raised), none over budget:
    # known records (120) and evaluation records (120), each at most 200
    assert 0 < ctx.target.queries <= 240 * 200
    assert 100 < small.details["queries_per_record"] <= 200
    large = BoundaryAttack(BoundaryOptions(queries=2000, probes=16)).score(plane_ctx()[0])
    gap = lambda out: float((out.scores - true)[10:].abs().mean())  # noqa: E731
    assert gap(large) < gap(small)  # more queries walk closer
    again = BoundaryAttack(BoundaryOptions(queries=200, probes=16)).score(plane_ctx()[0])
    assert torch.equal(small.scores, again.scores)  # seeded by the attack's seed


def test_the_boundary_attack_beats_gap_on_an_overfit_target_and_not_under_control():
    budget = {"decision-boundary": {"queries": 200, "probes": 16}}
    options = {**OVERFIT["options"], **budget}
    setup = {**OVERFIT, "options": options}
    real = run(attacks=["gap", "decision-boundary"], **setup)
    boundary = real.attack("decision-boundary")
    assert boundary.threat_model == "label-only"
    assert boundary.metrics.auc > real.attack("gap").metrics.auc + 0.05
    assert boundary.details["queries_per_record"] <= 200
    control = run(attacks=["decision-boundary"], control=True, **setup)
    assert abs(control.attack("decision-boundary").metrics.auc - 0.5) < 0.08


class Slab(torch.nn.Module):
    """Class 1 only in the thin slab 0 < x0 < 0.5: a step toward it from afar overshoots."""

    def forward(self, x):
        t = x.flatten(1)[:, :1]
        inside = ((t > 0) & (t < 0.5)).float()
        return torch.cat([1 - inside, inside], 1)


def test_a_step_that_overshoots_a_thin_class_is_halved_until_it_lands():
    """Records at x0 = -a (1 <= a <= 3) are a from the slab; the walk starts from slab records
    far off sideways, and only steps shortened until they land inside the slab bring it to
    the nearest point."""
    from mia_core import KnownRecords
    from mia_torch_attack.boundary import BoundaryAttack, BoundaryOptions

    g = torch.Generator().manual_seed(0)
    x = torch.rand(120, 8, generator=g) * 10 - 5
    a = 1 + 2 * torch.rand(60, generator=g)
    x[:60, 0] = -a
    x[60:, 0] = 0.05 + 0.4 * torch.rand(60, generator=g)
    data = LabeledData(x, torch.cat([torch.zeros(60), torch.ones(60)]).long(), 2)
    ctx = AttackContext(LabelOracle(Slab(), torch.device("cpu"), "decision-boundary"), data,
                        KnownRecords(data, torch.arange(120) % 2 == 0), torch.device("cpu"), 0,
                        attack="decision-boundary")
    scores = BoundaryAttack(BoundaryOptions()).score(ctx).scores[:60]
    error = (scores - a.double()) / a.double()
    assert bool((error >= -1e-6).all()) and float(error.median()) < 0.15
