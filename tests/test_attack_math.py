"""Each attack's scoring on tiny hand-built inputs, against values worked out by hand.

A "model" here is a lookup table: the input of record i is its id, and the model answers with
row i of its logits table. So every reference-model confidence, IN/OUT mask and target output
is chosen by the test, and the expected score follows from the paper's formula.
"""

import math

import attrs
import pytest
import torch
from torch import nn

from mia_core import IDENTITY, AttackContext, KnownRecords, LabeledData, TargetOracle
from mia_core.progress import Progress
from mia_core.references import ReferenceModels, balanced_in_mask
from mia_core.training.fit import seeded
from mia_torch_attack import mlp as mlp_module
from mia_torch_attack import shadow
from mia_torch_attack.blackbox import MlpAttack, MlpOptions
from mia_torch_attack.features import attack_features, features_from_logits
from mia_torch_attack.lira import (
    Lira,
    LiraOfflineOptions,
    LiraOptions,
    lira_offline,
    masked_stats,
)
from mia_torch_attack.mlp import MlpTraining, fit_and_score, mlp
from mia_torch_attack.rmia import Rmia, RmiaOptions, signal_of, trimmed_mean
from mia_torch_attack.shadow import ShadowMlp, ShadowOptions
from mia_torch_attack.signals import (
    best_threshold,
    entropy,
    modified_entropy,
    scaled_confidence,
    taylor_exp,
    taylor_soft_margin,
    true_log_prob,
)
from mia_torch_attack.threshold import SIGNALS, ThresholdAttack

CPU = torch.device("cpu")
LN2 = math.log(2.0)


class Lookup(nn.Module):
    """Logits of record ``i`` (input ``[[i]]``) are ``table[i]``."""

    def __init__(self, table):
        super().__init__()
        self.register_buffer("table", torch.as_tensor(table, dtype=torch.float32))

    def forward(self, x):
        return self.table[x[:, 0].long()]


class Ready:
    """Stands in for the core's reference-model trainer: the models already exist."""

    def __init__(self, refs):
        self.refs = refs

    def __call__(self):
        return self.refs


def ids(n):
    return torch.arange(n, dtype=torch.float32)[:, None]


def binary_logits(conf, y):
    """Two-class logits whose LiRA statistic z_y - z_other is exactly ``conf``."""
    conf, y = torch.as_tensor(conf, dtype=torch.float32), torch.as_tensor(y)
    return torch.stack([torch.where(y == 0, conf, 0.0), torch.where(y == 1, conf, 0.0)], -1)


def prob_logits(p):
    """Two-class logits for label 0 with softmax probability exactly ``p``."""
    p = torch.as_tensor(p, dtype=torch.float64)
    return torch.stack([p.log(), (1 - p).log()], -1).float()


def population_ctx(ref_logits, in_mask, target_logits, y, n_pop, seed=0,
                   augmentations=(IDENTITY,)):
    """Pool = n_pop population records, then the evaluation records, ids 0..n-1."""
    n = len(y)
    pool = LabeledData(ids(n), torch.as_tensor(y), 2)
    refs = ReferenceModels(pool, n_pop, torch.as_tensor(in_mask),
                           [Lookup(t) for t in ref_logits], CPU)
    return AttackContext(TargetOracle(Lookup(target_logits), CPU),
                         pool.subset(torch.arange(n_pop, n)), None, CPU, seed,
                         population=pool.subset(torch.arange(n_pop)), references=Ready(refs),
                         attack="under-test", augmentations=augmentations)


def log_normal(x, mean, std):
    return -0.5 * math.log(2 * math.pi) - math.log(std) - 0.5 * ((x - mean) / std) ** 2


# --- LiRA ------------------------------------------------------------------------------------
# Two population records (ignored by LiRA: their absurd confidences would show if used), then
# two evaluation records. Four reference models; confidences per evaluation record:
#   e0 (label 0): IN {4, 2} (mean 3, std 1), OUT {0, 1} (mean 0.5, std 0.5), target 3
#   e1 (label 1): IN {3, 5} (mean 4, std 1), OUT {1, 2} (mean 1.5, std 0.5), target 1.5
LIRA_Y = [0, 1, 0, 1]
LIRA_CONF = [[100, -100, 4, 1], [100, -100, 2, 3], [100, -100, 0, 5], [100, -100, 1, 2]]
LIRA_IN = [[True, False, True, False], [False, True, True, True],
           [True, False, False, True], [False, True, False, False]]
LIRA_TARGET = [0.0, 0.0, 3.0, 1.5]


def lira_scores(mode, variance):
    ctx = population_ctx([binary_logits(c, LIRA_Y) for c in LIRA_CONF], LIRA_IN,
                         binary_logits(LIRA_TARGET, LIRA_Y), LIRA_Y, n_pop=2)
    return Lira(LiraOptions(mode=mode, variance=variance)).score(ctx).tolist()


def test_lira_online_per_example_is_the_gaussian_likelihood_ratio():
    e0, e1 = lira_scores("online", "per-example")
    assert e0 == pytest.approx(12.5 - LN2, abs=1e-6)  # log N(3;3,1) - log N(3;0.5,0.5)
    assert e1 == pytest.approx(-3.125 - LN2, abs=1e-6)  # log N(1.5;4,1) - log N(1.5;1.5,0.5)


def test_the_reference_ratio_is_the_targets_log_likelihood_minus_the_out_models_mean():
    """log p(y | x) = -softplus(-c) for a binary model of log-odds c. e0: target 3, OUT
    models (2, 3) at 0 and 1; e1: target 1.5, OUT models (0, 3) at 1 and 2."""
    from mia_torch_attack.reference import ReferenceRatio

    def ll(c):
        return -math.log1p(math.exp(-c))

    ctx = population_ctx([binary_logits(c, LIRA_Y) for c in LIRA_CONF], LIRA_IN,
                         binary_logits(LIRA_TARGET, LIRA_Y), LIRA_Y, n_pop=2)
    e0, e1 = ReferenceRatio().score(ctx).tolist()
    assert e0 == pytest.approx(ll(3) - (ll(0) + ll(1)) / 2, abs=1e-6)
    assert e1 == pytest.approx(ll(1.5) - (ll(1) + ll(2)) / 2, abs=1e-6)
    assert ReferenceRatio.needs_signals == ("log_likelihood",)


def test_lira_offline_per_example_is_the_one_sided_z_score():
    assert lira_scores("offline", "per-example") == pytest.approx([5.0, 0.0], abs=1e-6)


def test_lira_global_variance_pools_every_record():
    out_std = math.sqrt(0.5)  # OUT confidences 0, 1, 1, 2 (population std)
    in_std = math.sqrt(1.25)  # IN confidences 4, 2, 3, 5
    e0, e1 = lira_scores("offline", "global")
    assert (e0, e1) == pytest.approx([2.5 / out_std, 0.0], abs=1e-6)
    e0, e1 = lira_scores("online", "global")
    assert e0 == pytest.approx(log_normal(3, 3, in_std) - log_normal(3, 0.5, out_std), abs=1e-6)
    assert e1 == pytest.approx(log_normal(1.5, 4, in_std) - log_normal(1.5, 1.5, out_std),
                               abs=1e-6)


def test_lira_offline_component_is_lira_in_offline_mode():
    ctx = population_ctx([binary_logits(c, LIRA_Y) for c in LIRA_CONF], LIRA_IN,
                         binary_logits(LIRA_TARGET, LIRA_Y), LIRA_Y, n_pop=2)
    assert lira_offline(LiraOfflineOptions()).score(ctx).tolist() == pytest.approx([5.0, 0.0])
    scores = lira_offline(LiraOfflineOptions(variance="global")).score(ctx).tolist()
    assert scores == pytest.approx([2.5 / math.sqrt(0.5), 0.0])


def test_masked_stats_with_one_or_no_model_in_a_column():
    values = torch.tensor([[1.0, 4.0, 2.0], [3.0, 8.0, 6.0]], dtype=torch.float64)
    mask = torch.tensor([[True, False, False], [True, True, False]])
    mean, std = masked_stats(values, mask)
    assert mean.tolist() == pytest.approx([2.0, 8.0, 0.0])  # one value: itself; none: 0
    assert std.tolist() == pytest.approx([1.0, 1e-3, 1e-3])  # floored, never 0


@pytest.mark.parametrize("mode", ["online", "offline"])
@pytest.mark.parametrize("variance", ["per-example", "global"])
def test_lira_scores_a_more_member_like_target_higher(mode, variance):
    low, high = [], []
    for target_conf, into in ((1.0, low), (2.5, high)):
        target = binary_logits([0, 0, target_conf, target_conf], LIRA_Y)
        ctx = population_ctx([binary_logits(c, LIRA_Y) for c in LIRA_CONF], LIRA_IN, target,
                             LIRA_Y, n_pop=2)
        into.extend(Lira(LiraOptions(mode=mode, variance=variance)).score(ctx).tolist())
    assert high[0] > low[0] and high[1] > low[1]


# --- RMIA ------------------------------------------------------------------------------------
# All labels 0. Two reference models; each record is IN for exactly one of them, and the IN
# model's answer (p = 0.01) must not be used offline. With a = 0.5, p(x) = (1.5 p_out + 0.5)/2.
#   record  p_target  p_out  p(x)   ratio
#   z0      0.5       0.5    0.625  0.8
#   z1      0.9       0.6    0.7    1.2857
#   z2      0.3       0.3    0.475  0.6316
#   z3      0.6       0.9    0.925  0.6486
#   x0      0.99      0.2    0.4    2.475
#   x1      0.4       0.8    0.85   0.4706
RMIA_TARGET = [0.5, 0.9, 0.3, 0.6, 0.99, 0.4]
RMIA_OUT = [0.5, 0.6, 0.3, 0.9, 0.2, 0.8]
RMIA_IN = [[True, False, True, False, True, False], [False, True, False, True, False, True],
           [True, True, False, False, True, True], [False, False, True, True, False, False]]


def rmia_ctx(seed=0, target=RMIA_TARGET, out=RMIA_OUT):
    """Four models; each record is OUT for two of them, whose p are p_out -/+ 0.05 (mean
    p_out); the IN models answer p = 0.01, which offline RMIA must ignore."""
    refs = []
    for m in range(4):
        rank = [sum(not RMIA_IN[k][r] for k in range(m)) for r in range(6)]
        p = [0.01 if RMIA_IN[m][r] else out[r] + (0.05 if rank[r] else -0.05)
             for r in range(6)]
        refs.append(prob_logits(p))
    return population_ctx(refs, RMIA_IN, prob_logits(target), [0] * 6, n_pop=4, seed=seed)


def test_rmia_counts_population_records_the_likelihood_ratio_beats_by_gamma():
    scores = Rmia(RmiaOptions(a=0.5, gamma=2.0, comparisons=4)).score(rmia_ctx()).scores.tolist()
    # x0: 2.475 / 2 = 1.2375 beats z0, z2, z3 but not z1 (1.2857); x1: 0.235 beats none
    assert scores == pytest.approx([0.75, 0.0])
    scores = Rmia(RmiaOptions(a=0.5, gamma=1.0, comparisons=4)).score(rmia_ctx()).scores.tolist()
    assert scores == pytest.approx([1.0, 0.0])  # x1: 0.4706 still below every z


def test_rmia_a_sets_the_offline_approximation_of_p_x():
    # a = 1: p(x) = p_out, ratios z: 1.0, 1.5, 1.0, 0.667; x0: 4.95 / 4 = 1.2375; x1: 0.5 / 4
    scores = Rmia(RmiaOptions(a=1.0, gamma=4.0, comparisons=4)).score(rmia_ctx()).scores.tolist()
    assert scores == pytest.approx([0.75, 0.0])
    # a = 0: p(x) = (p_out + 1) / 2: z: 0.667, 1.125, 0.4615, 0.6316; x0: 1.65 / 0.9 = 1.83,
    # x1: 0.4444 / 0.9 = 0.494 beats z2 only
    scores = Rmia(RmiaOptions(a=0.0, gamma=0.9, comparisons=4)).score(rmia_ctx()).scores.tolist()
    assert scores == pytest.approx([1.0, 0.25])


def test_rmia_counts_a_tie_as_beaten():
    # x1 answers exactly like z2 (ratio 0.6316): LR(x1, z2) = 1 >= gamma = 1
    target = [*RMIA_TARGET[:5], 0.3]
    out = [*RMIA_OUT[:5], 0.3]
    scores = Rmia(RmiaOptions(a=0.5, gamma=1.0, comparisons=4)).score(rmia_ctx(
        target=target, out=out)).scores.tolist()
    assert scores == pytest.approx([1.0, 0.25])


def test_rmia_draws_its_comparison_records_from_the_attack_seed():
    n_pop, n_eval = 40, 10
    g = torch.Generator().manual_seed(0)
    p_target, p_out = torch.rand(n_pop + n_eval, generator=g), torch.rand(n_pop + n_eval,
                                                                          generator=g)
    in_mask = [[bool((r + m) % 2) for r in range(n_pop + n_eval)] for m in range(2)]
    refs = [prob_logits(torch.where(torch.tensor(in_mask[m]), 0.5, p_out)) for m in range(2)]
    answers = []
    for global_seed in (1, 2):
        ctx = population_ctx(refs, in_mask, prob_logits(p_target), [0] * (n_pop + n_eval),
                             n_pop=n_pop, seed=7)
        with seeded(global_seed):  # the global RNG must not matter
            answers.append(Rmia(RmiaOptions(comparisons=10)).score(ctx).scores)
    assert torch.equal(answers[0], answers[1])
    assert len(set((answers[0] * 10).round().tolist())) > 2  # comparisons really were drawn


def test_rmia_with_one_out_model_per_record():
    # two models, each record OUT for exactly one: p_out is that model's answer; a = 1
    in_mask = [[True, False, True], [False, True, False]]
    p_out = [0.5, 0.25, 0.8]
    refs = [prob_logits([0.01 if in_mask[m][r] else p_out[r] for r in range(3)])
            for m in range(2)]
    ctx = population_ctx(refs, in_mask, prob_logits([0.5, 0.5, 0.9]), [0, 0, 0], n_pop=2)
    # ratios: z0 1.0, z1 2.0; x0: 0.9 / 0.8 = 1.125 beats z0 only
    assert Rmia(RmiaOptions(a=1.0, gamma=1.0, comparisons=2)).score(ctx).scores.tolist() == [0.5]
    # a = 0.5: p(x) = (1.5 p_out + 0.5) / 2: z0 0.625 -> 0.8, z1 0.4375 -> 1.143,
    # x0 0.85 -> 1.059: beats z0 only (halving p_out would make it beat both)
    assert Rmia(RmiaOptions(a=0.5, gamma=1.0, comparisons=2)).score(ctx).scores.tolist() == [0.5]


def test_rmia_online_divides_by_the_mean_over_in_and_out_models():
    # online p(x) = mean of all four models = (2 * 0.01 + 2 * p_out) / 4 = 0.005 + p_out / 2
    #   z0 0.5 / 0.255 = 1.9608, z1 0.9 / 0.305 = 2.9508, z2 0.3 / 0.155 = 1.9355,
    #   z3 0.6 / 0.455 = 1.3187; x0 0.99 / 0.105 = 9.4286, x1 0.4 / 0.405 = 0.9877
    online = [Rmia(RmiaOptions(mode="online", gamma=g, comparisons=4)).score(rmia_ctx())
              for g in (4.0, 0.45)]
    assert online[0].scores.tolist() == pytest.approx([0.75, 0.0])  # x0 / 4 = 2.357: not z1
    assert online[1].scores.tolist() == pytest.approx([1.0, 0.75])  # x1 / 0.45 = 2.195
    assert online[0].details == {"mode": "online"}  # no a online
    # gamma 3: x0 / 3 = 3.143 just beats z1 (2.951); the largest model's p instead of the
    # mean would give x0 0.99 / 0.25 / 3 = 1.32, short of z1's 0.9 / 0.65 = 1.385
    near = Rmia(RmiaOptions(mode="online", gamma=3.0, comparisons=4)).score(rmia_ctx())
    assert near.scores.tolist() == pytest.approx([1.0, 0.0])
    # offline (a = 0.5) on the same models: x0 2.475 / 4 = 0.619 beats no z (0.6316 least)
    offline = Rmia(RmiaOptions(a=0.5, gamma=4.0, comparisons=4)).score(rmia_ctx())
    assert offline.scores.tolist() == pytest.approx([0.0, 0.0])
    assert offline.details == {"mode": "offline", "a": 0.5}


def test_rmia_chooses_a_where_reference_model_0_as_the_target_is_attacked_best():
    from sklearn.metrics import roc_auc_score

    n_pop, n_eval, models = 30, 40, 6
    g = torch.Generator().manual_seed(3)
    in_mask = balanced_in_mask(models, n_pop + n_eval, g)
    p_in = 0.5 + 0.5 * torch.rand(models, n_pop + n_eval, generator=g)
    p_out = 0.8 * torch.rand(models, n_pop + n_eval, generator=g)
    tables = [prob_logits(torch.where(in_mask[m], p_in[m], p_out[m])) for m in range(models)]
    y = [0] * (n_pop + n_eval)
    ctx = population_ctx(tables, in_mask, prob_logits(torch.rand(n_pop + n_eval,
                                                                 generator=g)), y, n_pop)
    chosen = Rmia(RmiaOptions(comparisons=n_pop)).score(ctx).details
    # the oracle: model 0 really is the target, models 1.. its references, a fixed
    as_target = population_ctx(tables[1:], in_mask[1:], tables[0], y, n_pop)
    truth = in_mask[0, n_pop:].numpy()
    aucs = [roc_auc_score(truth, Rmia(RmiaOptions(a=a, comparisons=n_pop)).score(
        as_target).scores.numpy()) for a in [i / 10 for i in range(11)]]
    assert len(set(aucs)) > 1  # a matters here
    assert chosen["a"] == pytest.approx(aucs.index(max(aucs)) / 10)
    assert chosen["a_chosen_by"] == f"reference model 0 as the target (AUC {max(aucs):.4f})"


def test_rmia_chooses_either_end_of_its_grid_when_that_end_is_best():
    """Records with a difficulty of their own (each record's p the same level in every
    model, IN models a factor 1.6 above): dividing by p_out itself (a = 1, the grid's top)
    tells model 0's IN records from its OUT ones perfectly, and every smaller a worse; the
    existing case above has its best at a = 0, the bottom."""
    from sklearn.metrics import roc_auc_score

    n_pop, n_eval, models = 30, 40, 6
    g = torch.Generator().manual_seed(0)
    in_mask = balanced_in_mask(models, n_pop + n_eval, g)
    level = 0.02 + 0.5 * torch.rand(n_pop + n_eval, generator=g)
    noise = 1 + 0.2 * torch.rand(models, n_pop + n_eval, generator=g)
    p = (level * noise * torch.where(in_mask, 1.6, 1.0)).clamp(max=0.99)
    tables = [prob_logits(p[m]) for m in range(models)]
    y = [0] * (n_pop + n_eval)
    ctx = population_ctx(tables, in_mask, prob_logits(torch.rand(n_pop + n_eval, generator=g)),
                         y, n_pop)
    chosen = Rmia(RmiaOptions(comparisons=n_pop)).score(ctx).details
    as_target = population_ctx(tables[1:], in_mask[1:], tables[0], y, n_pop)
    truth = in_mask[0, n_pop:].numpy()
    aucs = [roc_auc_score(truth, Rmia(RmiaOptions(a=a, comparisons=n_pop)).score(
        as_target).scores.numpy()) for a in [i / 10 for i in range(11)]]
    assert aucs[-1] == 1.0 and max(aucs[:-1]) < 0.9  # the top end alone is best
    assert chosen["a"] == 1.0
    assert chosen["a_chosen_by"] == "reference model 0 as the target (AUC 1.0000)"


def test_rmia_with_two_reference_models_falls_back_to_a_default_a():
    in_mask = [[True, False, True], [False, True, False]]
    refs = [prob_logits([0.3, 0.6, 0.8]), prob_logits([0.5, 0.4, 0.2])]
    ctx = population_ctx(refs, in_mask, prob_logits([0.5, 0.5, 0.9]), [0, 0, 0], n_pop=2)
    details = Rmia(RmiaOptions()).score(ctx).details
    assert details == {"mode": "offline", "a": 0.3,
                       "a_chosen_by": "default (fewer than 3 reference models)"}
    # three models, but reference model 0 trained on every record: nothing to choose on
    in_mask = [[True, True, True], [False, True, False], [True, False, True]]
    ctx = population_ctx([*refs, prob_logits([0.4, 0.4, 0.4])], in_mask,
                         prob_logits([0.5, 0.5, 0.9]), [0, 0, 0], n_pop=2)
    details = Rmia(RmiaOptions()).score(ctx).details
    assert details["a_chosen_by"] == "default (no IN and OUT records to choose on)"


def test_rmia_comparisons_limit_the_population_records_used():
    for seed in range(5):
        scores = Rmia(RmiaOptions(a=0.5, gamma=2.0, comparisons=1)).score(rmia_ctx(seed)).scores
        assert set(scores.tolist()) <= {0.0, 1.0}
        assert scores[1] == 0.0


# RMIA's signal options (the paper's CIFAR-10 config: T = 2, Taylor soft margin m = 0.6,
# n = 4, a 20 % trimmed mean). T(u) = 1 + u + u^2/2 + u^3/6 for n = 4. Logits (2, 0, -2) at
# T = 2 are z = (1, 0, -1):
#   y = 0: T(1 - 0.6) = 1.4906667; others T(0) + T(-1) = 1 + 0.3333333 -> 1.4906667 / 2.824
#   y = 1: T(0 - 0.6) = 0.544; others T(1) + T(-1) = 2.6666667 + 0.3333333 -> 0.544 / 3.544
#   softmax at T = 2, y = 0: e / (e + 1 + 1/e) = 0.6652410
def test_rmia_taylor_soft_margin_signal_by_hand():
    logits = torch.tensor([[2.0, 0.0, -2.0], [2.0, 0.0, -2.0]])
    y = torch.tensor([0, 1])
    paper = signal_of(RmiaOptions(signal="taylor-soft-margin", temperature=2.0, taylor_m=0.6,
                                  taylor_n=4))
    assert paper(logits, y).tolist() == pytest.approx([1.4906667 / 2.824, 0.544 / 3.544],
                                                      rel=1e-6)
    assert taylor_exp(torch.tensor([1.0, -1.0, 0.4]), 4).tolist() == pytest.approx(
        [1 + 1 + 1 / 2 + 1 / 6, 1 - 1 + 1 / 2 - 1 / 6, 1 + 0.4 + 0.08 + 0.064 / 6])
    assert taylor_exp(torch.tensor([3.0]), 1).tolist() == [1.0]  # one term: the constant
    softer = signal_of(RmiaOptions(temperature=2.0))
    e = math.e
    assert softer(logits, y).tolist() == pytest.approx([e / (e + 1 + 1 / e),
                                                        1 / (e + 1 + 1 / e)])
    # many terms and no margin: the softmax itself, on (models, records, classes) logits too
    many = taylor_soft_margin(logits.expand(3, 2, 3), y, 2.0, 0.0, 30)
    assert many.shape == (3, 2)
    assert many[2].tolist() == pytest.approx(softer(logits, y).tolist(), rel=1e-9)


def test_rmia_trimmed_mean_is_scipys_over_the_models_it_may_use():
    from scipy.stats import trim_mean

    values = torch.tensor([[1.0], [2.0], [3.0], [100.0], [4.0]])
    used = torch.ones(5, 1, dtype=torch.bool)
    assert trimmed_mean(values, used, 0.2).tolist() == [3.0]  # 1 and 100 cut: (2 + 3 + 4) / 3
    assert trimmed_mean(values, used, 0.0).tolist() == [22.0]
    g = torch.Generator().manual_seed(0)
    values = torch.rand(9, 60, generator=g, dtype=torch.float64)
    used = torch.rand(9, 60, generator=g) > 0.3
    for cut in (0.0, 0.1, 0.2, 0.25, 0.4):
        ours = trimmed_mean(values, used, cut).tolist()
        theirs = [trim_mean(values[used[:, r], r].numpy(), cut) if used[:, r].any() else 0.0
                  for r in range(60)]
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_rmia_trim_cuts_reference_models_before_p_x():
    # online, trim 0.25 of four models drops one from each end: the sorted answers are
    # (0.01, 0.01, p_out - 0.05, p_out + 0.05), so p(x) = (p_out - 0.04) / 2:
    #   z0 0.5 / 0.23 = 2.174, z1 0.9 / 0.28 = 3.214, z2 0.3 / 0.13 = 2.308,
    #   z3 0.6 / 0.43 = 1.395; x0 0.99 / 0.08 = 12.375, x1 0.4 / 0.38 = 1.0526
    # gamma 0.5: x1 / 0.5 = 2.105 beats z3 only; untrimmed (0.9877 / 0.5 = 1.975) it also
    # beats z2 (1.9355) and z0 (1.9608)
    trimmed = Rmia(RmiaOptions(mode="online", gamma=0.5, comparisons=4, trim=0.25))
    plain = Rmia(RmiaOptions(mode="online", gamma=0.5, comparisons=4))
    assert trimmed.score(rmia_ctx()).scores.tolist() == pytest.approx([1.0, 0.25])
    assert plain.score(rmia_ctx()).scores.tolist() == pytest.approx([1.0, 0.75])


def test_rmia_scores_with_the_signal_it_is_given():
    """Offline RMIA with the paper's signal, against a second, plain-Python implementation of
    the formula on the same lookup-table models."""
    options = RmiaOptions(a=0.5, gamma=1.0, comparisons=4, signal="taylor-soft-margin",
                          temperature=2.0)
    ctx = rmia_ctx()
    refs = ctx.reference_models()

    def signal(logits, y):
        z = [v / 2.0 for v in logits]
        t = [sum(u ** k / math.factorial(k) for k in range(4)) for u in z]
        true = sum((z[y] - 0.6) ** k / math.factorial(k) for k in range(4))
        return true / (true + sum(t) - t[y])

    def ratio(r):
        outs = [signal(refs.logits(m, torch.tensor([[r]]))[0].tolist(), 0)
                for m in range(4) if not RMIA_IN[m][r]]
        p_x = ((1 + 0.5) * sum(outs) / len(outs) + 1 - 0.5) / 2
        return signal(ctx.target.logits(torch.tensor([[r]]))[0].tolist(), 0) / p_x

    expected = [sum(ratio(x) >= ratio(z) for z in range(4)) / 4 for x in (4, 5)]
    got = Rmia(options).score(ctx).scores.tolist()
    assert got == pytest.approx(expected)
    out = Rmia(attrs.evolve(options, signal="softmax")).score(rmia_ctx())
    assert got != out.scores.tolist()
    assert "signal_outside_0_1" not in out.details


def test_rmia_says_how_often_a_truncated_signal_leaves_0_1():
    """n = 2 keeps 1 + u: every logit below -T makes a term negative. Lookup logits
    (log p, log(1 - p)) at T = 0.1 put the IN models' log 0.01 = -4.6 / 0.1 far below -1."""
    options = RmiaOptions(a=0.5, comparisons=4, signal="taylor-soft-margin", temperature=0.1,
                          taylor_n=2, taylor_m=0.0)
    share = Rmia(options).score(rmia_ctx()).details["signal_outside_0_1"]
    ctx = rmia_ctx()
    refs = ctx.reference_models()
    logits = torch.cat([ctx.target.logits(torch.arange(6).view(-1, 1)).unsqueeze(0),
                        refs.pool_logits()])  # (5, 6, 2): the target and 4 models, 6 records
    u = 1 + logits.double() / 0.1
    signal = u[..., 0] / u.sum(-1)
    expected = float(((signal <= 0) | (signal > 1)).double().mean())
    assert share == pytest.approx(expected, abs=1e-4) and 0 < share < 1


def test_rmia_online_takes_every_signal_option():
    from mia_torch_attack.rmia import RmiaSignalOptions, rmia_online

    shared = RmiaSignalOptions(gamma=0.5, comparisons=4, trim=0.25, temperature=1.5,
                               signal="taylor-soft-margin", taylor_m=0.3, taylor_n=5,
                               queries=1)
    online = rmia_online(shared)
    assert online.options == RmiaOptions(mode="online", **attrs.asdict(shared))
    assert online.options.trim == 0.25 and online.options.taylor_n == 5


@pytest.mark.parametrize("bad", [{"trim": 0.5}, {"trim": -0.1}, {"taylor_n": 0},
                                 {"temperature": 0.0}, {"signal": "logit"},
                                 {"taylor_m": math.nan}])
def test_rmia_refuses_signal_options_that_make_no_sense(bad):
    with pytest.raises(ValueError):
        RmiaOptions(**bad)


# --- threshold attacks -----------------------------------------------------------------------
P = [0.7, 0.2, 0.1]  # softmax of the logits below; true label 1


def statistic(signal, logits, y):
    """A threshold attack's statistic: a function of the logits, or a core signal's name."""
    if isinstance(signal, str):
        from mia_core import CLASS_LOGITS, LabeledData

        records = LabeledData(torch.zeros(len(y), 1), y, logits.shape[-1])
        return CLASS_LOGITS.signal(signal, logits, records)
    return signal(logits, y)


def test_threshold_signals_are_oriented_higher_means_member():
    logits = torch.tensor([P]).log()
    y = torch.tensor([1])
    value = {name: float(statistic(signal, logits, y)) for name, (signal, _) in SIGNALS.items()}
    assert value["loss-threshold"] == pytest.approx(math.log(0.2))  # minus the loss
    assert value["confidence-threshold"] == pytest.approx(0.7)
    entropy = -sum(p * math.log(p) for p in P)
    assert value["entropy-threshold"] == pytest.approx(-entropy)
    mentropy = -(1 - 0.2) * math.log(0.2) - 0.7 * math.log(1 - 0.7) - 0.1 * math.log(1 - 0.1)
    assert value["mentropy-threshold"] == pytest.approx(-mentropy)


def test_signals_on_a_stack_of_models_equal_each_model_on_its_own():
    logits = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 2, 3])
    for fn in (lambda z: true_log_prob(z, y), entropy, lambda z: modified_entropy(z, y),
               lambda z: scaled_confidence(z, y)):
        stacked = fn(logits)
        assert stacked.shape == (3, 5)
        for m in range(3):
            torch.testing.assert_close(stacked[m], fn(logits[m]))


def test_scaled_confidence_with_several_other_classes():
    logits = torch.tensor([[2.0, 1.0, 0.0]])  # p = e^2 / (e^2 + e + 1)
    p = math.exp(2) / (math.exp(2) + math.exp(1) + 1)
    assert float(scaled_confidence(logits, torch.tensor([0]))) == pytest.approx(
        math.log(p / (1 - p)))
    assert float(scaled_confidence(logits, torch.tensor([0]))) == pytest.approx(
        2 - math.log(math.exp(1) + 1))


def test_modified_entropy_stays_finite_when_a_wrong_class_is_certain():
    logits = torch.tensor([[0.0, 800.0]], dtype=torch.float64)  # p(wrong) == 1.0 exactly
    value = modified_entropy(logits, torch.tensor([0]))
    assert torch.isfinite(value).all() and float(value) > 100


@pytest.mark.parametrize("name", list(SIGNALS))
def test_each_signal_ranks_a_confident_correct_answer_above_a_wrong_one(name):
    logits = torch.tensor([[0.05, 0.9, 0.05], [0.6, 0.3, 0.1]]).log()
    scores = statistic(SIGNALS[name][0], logits, torch.tensor([1, 1]))
    assert scores[0] > scores[1]


def test_threshold_attack_picks_the_best_cut_on_the_known_records():
    # known: members p = 0.9, 0.8; non-members p = 0.6, 0.37 -> best cut at log 0.8
    known_p = [0.9, 0.6, 0.8, 0.37]
    eval_p = [0.95, 0.5, 0.85, 0.3]
    table = prob_logits(known_p + eval_p)
    data = LabeledData(ids(8), torch.zeros(8, dtype=torch.long), 2)
    known = KnownRecords(data.subset(torch.arange(4)), torch.tensor([True, False, True, False]))
    ctx = AttackContext(TargetOracle(Lookup(table), CPU), data.subset(torch.arange(4, 8)),
                        known, CPU, 0)
    out = ThresholdAttack(SIGNALS["loss-threshold"][0]).score(ctx)
    assert out.threshold == pytest.approx(math.log(0.8), abs=1e-6)
    assert out.scores.tolist() == pytest.approx([math.log(p) for p in eval_p], abs=1e-6)


def test_best_threshold_with_a_single_member_or_non_member():
    # one member, scored lowest (1): cutting at 1 (TPR 1, FPR 1, gain 0) beats every cut
    # above it (TPR 0, gain -FPR)
    scores = torch.tensor([4.0, 3.0, 2.0, 1.0])
    assert best_threshold(scores, torch.tensor([False, False, False, True])) == 1.0
    # one non-member (score 2) among members 3, 1, 0: the best cut is at 3 (TPR 1/3, FPR 0)
    scores = torch.tensor([3.0, 2.0, 1.0, 0.0])
    assert best_threshold(scores, torch.tensor([True, False, True, True])) == 3.0


def test_best_threshold_cuts_only_between_distinct_scores():
    scores = torch.tensor([3.0, 2.0, 2.0, 1.0])
    member = torch.tensor([True, True, False, False])
    assert best_threshold(scores, member) == 3.0  # cutting inside the tie of 2.0 is impossible
    assert best_threshold(torch.tensor([5.0, 4.0, 1.0, 0.0]), torch.tensor(
        [True, True, False, False])) == 4.0


# --- learned attacks: features and direction -------------------------------------------------
def test_feature_variants_from_logits():
    logits = torch.tensor([P]).log()
    y = torch.tensor([1])
    loss = features_from_logits(logits, y, "loss", 3, with_label=False)
    assert loss.flatten().tolist() == pytest.approx([-math.log(0.2)])
    probs = features_from_logits(logits, y, "probabilities", 3, with_label=False)
    assert probs.tolist()[0] == pytest.approx(P)
    logp = features_from_logits(torch.tensor([[0.0, -500.0]]), torch.tensor([0]),
                                "log-probabilities", 2, with_label=False)
    assert logp.flatten().tolist() == pytest.approx([0.0, -100.0])  # clamped, not -inf
    labelled = features_from_logits(logits, y, "loss", 3, with_label=True)
    assert labelled.tolist()[0] == pytest.approx([-math.log(0.2), 0.0, 1.0, 0.0])
    assert torch.equal(features_from_logits(logits, y, "loss", 3), labelled)  # label by default
    oracle = TargetOracle(Lookup(logits), CPU)
    assert torch.equal(attack_features(oracle, ids(1), y, "loss", 3), labelled)
    with pytest.raises(ValueError, match="unknown feature kind 'logits'; use one of loss, "
                                         "probabilities, log-probabilities"):
        features_from_logits(logits, y, "logits", 3)


def test_attack_mlp_outputs_probability_of_member():
    g = torch.Generator().manual_seed(0)
    member = torch.arange(200) % 2 == 0
    x = torch.where(member, 3.0, -3.0)[:, None] + 0.3 * torch.randn(200, 1, generator=g)
    ctx = dummy_ctx()
    with seeded(0):
        scores = fit_and_score(x, member, torch.tensor([[3.0], [-3.0]]),
                               MlpTraining(hidden=8, epochs=20, batch_size=32, lr=0.01), ctx,
                               "t")
    assert scores[0] > 0.75 and scores[1] < 0.25  # column 1 is P(member)


def test_attack_network_shape():
    layers = [type(m).__name__ for m in mlp(5, 8)]
    assert layers == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    shapes = [(m.in_features, m.out_features) for m in mlp(5, 8) if isinstance(m, nn.Linear)]
    assert shapes == [(5, 8), (8, 4), (4, 2)]
    assert [m.out_features for m in mlp(5, 1) if isinstance(m, nn.Linear)] == [1, 1, 2]
    assert [m.out_features for m in mlp(5, 3) if isinstance(m, nn.Linear)] == [3, 1, 2]


def dummy_ctx():
    return AttackContext(TargetOracle(nn.Identity(), CPU), LabeledData(ids(1), torch.zeros(
        1, dtype=torch.long), 2), None, CPU, 0)


def test_attack_mlp_with_no_records_to_score():
    out = fit_and_score(torch.randn(10, 2), torch.arange(10) % 2 == 0, torch.empty(0, 2),
                        MlpTraining(epochs=1), dummy_ctx(), "t")
    assert out.dtype == torch.float64 and out.shape == (0,)


def test_attack_mlp_standardises_each_feature_on_its_own():
    g = torch.Generator().manual_seed(3)
    member = torch.arange(100) % 2 == 0
    x = torch.randn(100, 2, generator=g) * 0.1 + member[:, None] * 0.2
    eval_x = torch.randn(6, 2, generator=g) * 0.1
    scale = torch.tensor([1.0, 1000.0])
    training = MlpTraining(hidden=8, epochs=3, batch_size=32)
    with seeded(0):
        plain = fit_and_score(x, member, eval_x, training, dummy_ctx(), "t")
    with seeded(0):
        scaled = fit_and_score(x * scale, member, eval_x * scale, training, dummy_ctx(), "t")
    torch.testing.assert_close(plain, scaled, atol=1e-4, rtol=1e-4)


def test_attack_mlp_trains_in_fp32_with_the_attack_seed(monkeypatch):
    seen = {}

    def capture(model, data, recipe, env, label):
        seen.update(recipe=recipe, env=env, label=label, classes=data.num_classes)
        return model

    monkeypatch.setattr(mlp_module, "fit_classifier", capture)
    ctx = AttackContext(TargetOracle(nn.Identity(), CPU), dummy_ctx().evaluation, None, CPU, 42,
                        Progress(enabled=False))
    fit_and_score(torch.randn(8, 2), torch.arange(8) % 2 == 0, torch.randn(2, 2),
                  MlpTraining(epochs=7, batch_size=5, lr=0.5), ctx, "my label")
    recipe = seen["recipe"]
    assert (recipe.epochs, recipe.batch_size, recipe.lr) == (7, 5, 0.5)
    assert recipe.precision == "fp32" and recipe.channels_last is False
    assert (seen["env"].seed, seen["env"].device, seen["label"]) == (42, CPU, "my label")
    assert seen["env"].progress is ctx.progress


def test_torch_mlp_uses_its_feature_and_label_options(monkeypatch):
    from mia_torch_attack import blackbox

    seen = []
    monkeypatch.setattr(blackbox, "fit_and_score",
                        lambda x, member, eval_x, *rest, **kw: seen.append(x) or
                        torch.zeros(len(eval_x), dtype=torch.float64))
    n = 6
    data = LabeledData(ids(n), torch.tensor([0, 1, 0, 1, 0, 1]), 2)
    table = torch.tensor([[1.0, 0.0]] * n)
    ctx = AttackContext(TargetOracle(Lookup(table), CPU), data.subset(torch.arange(4, 6)),
                        KnownRecords(data.subset(torch.arange(4)),
                                     torch.tensor([True, False, True, False])), CPU, 0)
    MlpAttack(MlpOptions(features="probabilities", with_label=False)).score(ctx)
    MlpAttack(MlpOptions(features="loss", with_label=True)).score(ctx)
    assert seen[0].shape == (4, 2) and seen[1].shape == (4, 3)
    assert seen[1][:, 1:].tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]


def test_torch_mlp_scores_low_loss_records_as_members():
    n = 120
    member = torch.arange(n) % 2 == 0
    table = torch.where(member[:, None], torch.tensor([4.0, 0.0]), torch.tensor([0.5, 0.0]))
    table = table + 0.2 * torch.randn(n, 2, generator=torch.Generator().manual_seed(1))
    data = LabeledData(ids(n), torch.zeros(n, dtype=torch.long), 2)
    known = KnownRecords(data.subset(torch.arange(0, 80)), member[:80])
    ctx = AttackContext(TargetOracle(Lookup(table), CPU), data.subset(torch.arange(80, n)),
                        known, CPU, 0)
    for features in ("loss", "probabilities", "log-probabilities"):
        opts = MlpOptions(features=features, epochs=30, hidden=8, lr=0.01)
        with seeded(0):  # as the core runs every attack
            out = MlpAttack(opts).score(ctx)
        assert out.threshold == 0.5
        scores, truth = out.scores, member[80:]
        pairs = (scores[truth][:, None] > scores[~truth][None, :]).double().mean()
        assert pairs > 0.95 and scores[truth].mean() > 0.5 > scores[~truth].mean(), features


def shadow_ctx():
    # 3 population records (labels 0, 1, 0), 2 evaluation records (labels 1, 0), 2 models
    y = [0, 1, 0, 1, 0]
    ref_logits = [torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 0.0], [0.0, 0.0]]),
                  torch.tensor([[0.5, 0.0], [0.0, 1.5], [2.5, 0.0], [0.0, 0.0], [0.0, 0.0]])]
    in_mask = [[True, False, True, True, False], [False, True, False, False, True]]
    target = torch.tensor([[0.0, 0.0]] * 3 + [[0.0, 7.0], [9.0, 0.0]])
    return population_ctx(ref_logits, in_mask, target, y, n_pop=3), ref_logits, in_mask


@pytest.mark.parametrize("per_class", [False, True])
def test_shadow_mlp_trains_on_each_models_population_outputs(monkeypatch, per_class):
    ctx, ref_logits, in_mask = shadow_ctx()
    calls = []

    opts = ShadowOptions(features="loss", per_class=per_class)

    def fake_fit(x, member, eval_x, training, given_ctx, label):
        assert training is opts and given_ctx is ctx
        calls.append((x, member, eval_x))
        return eval_x[:, 0].double() + 100 * len(calls) + 1e-12  # which call scored which row

    monkeypatch.setattr(shadow, "fit_and_score", fake_fit)
    out = ShadowMlp(opts).score(ctx)
    scores = out.scores
    assert out.threshold == 0.5 and scores.dtype == torch.float64
    pop_y = torch.tensor([0, 1, 0])
    rows = [(m, r) for m in range(2) for r in range(3)]  # model-major, as the MLP sees them
    feats = torch.cat([features_from_logits(ref_logits[m][:3], pop_y, "loss", 2,
                                            with_label=not per_class) for m in range(2)])
    member = torch.tensor([in_mask[m][r] for m, r in rows])
    target_loss = [7.0, 9.0]  # loss of both evaluation records is softplus(-7), softplus(-9)
    if not per_class:
        (x, got_member, eval_x), = calls
        torch.testing.assert_close(x, feats)
        assert got_member.tolist() == member.tolist()
        assert eval_x[:, 1:].tolist() == [[0.0, 1.0], [1.0, 0.0]]  # one-hot labels 1, 0
        expected = [100 + math.log1p(math.exp(-c)) for c in target_loss]
    else:
        assert len(calls) == 2
        for cls, (x, got_member, _) in enumerate(calls):
            keep = torch.tensor([pop_y[r] == cls for _, r in rows])
            torch.testing.assert_close(x, feats[keep])
            assert got_member.tolist() == member[keep].tolist()
            assert x.shape[1] == 1  # no label column per class
        # evaluation record 0 has label 1 (second call), record 1 label 0 (first call)
        expected = [200 + math.log1p(math.exp(-7.0)), 100 + math.log1p(math.exp(-9.0))]
    assert scores.tolist() == pytest.approx(expected, abs=1e-5)


def test_balanced_in_mask_puts_each_record_in_half_the_models():
    mask = balanced_in_mask(8, 500, torch.Generator().manual_seed(0))
    assert mask.sum(0).tolist() == [4] * 500
    assert 200 < int(mask[0].sum()) < 300
    odd = balanced_in_mask(5, 300, torch.Generator().manual_seed(1))
    assert odd.sum(0).tolist() == [2] * 300  # count // 2: never more than half
    wide = balanced_in_mask(4, 3, torch.Generator().manual_seed(2))  # more models than records
    assert wide.shape == (4, 3) and wide.sum(0).tolist() == [2, 2, 2]
    rows = {tuple(r) for r in balanced_in_mask(2, 200, torch.Generator().manual_seed(3)).tolist()}
    assert len(rows) == 2  # the two models differ: complementary halves


def test_scaled_confidence_is_logit_of_true_class_probability():
    logits = torch.randn(50, 10, dtype=torch.float64)
    y = torch.randint(0, 10, (50,))
    p = torch.softmax(logits, 1)[torch.arange(50), y]
    torch.testing.assert_close(scaled_confidence(logits, y), torch.log(p / (1 - p)))
    huge = torch.tensor([[60.0, 0.0, 0.0]])
    assert scaled_confidence(huge, torch.tensor([0])).item() == pytest.approx(60 - 0.6931, 1e-3)


def test_best_threshold_maximises_balanced_accuracy():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        member = torch.rand(60, generator=g) < 0.5
        scores = torch.randint(0, 10, (60,), generator=g).double() + member.double() * 2
        t = best_threshold(scores, member)
        best = max(balanced_accuracy(scores >= th, member) for th in scores.unique())
        assert balanced_accuracy(scores >= t, member) == pytest.approx(best)


def balanced_accuracy(pred, member):
    return float((pred[member].double().mean() + (~pred[~member]).double().mean()) / 2)


def test_reference_progress_pace():
    from mia_core.experiment.models import _pace

    assert _pace(0, 8, 0.0) == ""
    assert _pace(2, 8, 64.0) == ", 1m04s elapsed, about 3m12s left"
    assert _pace(7, 8, 7.0) == ", 7s elapsed, about 1s left"
