"""QMIA: its decisions on a worked example, the quantiles its regressor learns where the
non-member score distribution is known, and the attack on an overfit target and a control."""

from __future__ import annotations

import math

import pytest
import torch

from mia_core import Answers, AttackContext, LabeledData, Records, TargetOracle
from mia_core.testing import run
from mia_torch_attack.qmia import Qmia, QmiaOptions, decide

from .test_attack_math import Lookup, binary_logits

CPU = torch.device("cpu")
Z99 = 2.3263478740408408  # Φ⁻¹(0.99)


def test_decisions_are_scores_above_the_predicted_quantile():
    # predicted quantiles mean + 2.3263 std: 2.326, 5.653, 3.163, -1.837
    score = torch.tensor([2.5, 4.0, 2.5, -1.8], dtype=torch.float64)
    mean = torch.tensor([0.0, 1.0, 2.0, -3.0], dtype=torch.float64)
    std = torch.tensor([1.0, 2.0, 0.5, 0.5], dtype=torch.float64)
    z, member, threshold = decide(score, mean, std, 0.99)
    assert member.tolist() == [True, False, False, True]
    assert threshold == pytest.approx(Z99)
    assert z.tolist() == pytest.approx([2.5, 1.5, 1.0, 2.4])
    assert ((z >= threshold) == member).all()  # the core's decisions at the threshold agree


# Records [id, group]: the target's score (log p / (1 - p) of label 0) is the group's mean
# plus its spread times noise that only the record's id determines, so no regressor can
# predict more than the group's distribution: N(-1, 0.5) for group 0, N(2, 1.5) for group 1.
GROUPS = {0: (-1.0, 0.5), 1: (2.0, 1.5)}


def split_and_score(order, n_pop, group, noise, member_shift):
    """The first ``n_pop`` of ``order`` are the population, the rest the evaluation records,
    whose second half are members; each record's score is its group's mean plus its spread
    times ``noise``, and ``member_shift`` more for a member."""
    population, evaluation = order[:n_pop], order[n_pop:]
    is_member = torch.zeros(len(order), dtype=torch.bool)
    is_member[evaluation[len(evaluation) // 2:]] = True
    mean = torch.tensor([GROUPS[0][0], GROUPS[1][0]])[group]
    spread = torch.tensor([GROUPS[0][1], GROUPS[1][1]])[group]
    return population, evaluation, is_member, mean + spread * noise + member_shift * is_member


def known_quantiles_ctx(n_pop=3000, n_eval=2000, member_shift=0.0):
    """Population and evaluation records interleaved in id (no regressor extrapolates); the
    second half of the evaluation records are members, their scores ``member_shift`` higher."""
    g = torch.Generator().manual_seed(0)
    n = n_pop + n_eval
    group = torch.randint(0, 2, (n,), generator=g)
    noise = torch.randn(n, generator=g)
    order = torch.randperm(n, generator=g)
    population, evaluation, is_member, score = split_and_score(order, n_pop, group, noise,
                                                               member_shift)
    x = torch.stack([torch.arange(n, dtype=torch.float32), group.float()], 1)
    y = torch.zeros(n, dtype=torch.long)
    data = LabeledData(x, y, 2)
    ctx = AttackContext(TargetOracle(Lookup(binary_logits(score, y)), CPU),
                        data.subset(evaluation), None, CPU, seed=0,
                        population=data.subset(population), attack="qmia")
    return ctx, group[evaluation], is_member[evaluation]


def test_the_regressor_learns_the_known_quantiles_and_flags_ten_percent_of_nonmembers():
    from mia_core.training.fit import seeded

    ctx, group, is_member = known_quantiles_ctx(member_shift=4.0)
    with seeded(0):
        out = Qmia(QmiaOptions(quantile=0.9)).score(ctx)
    assert out.threshold == pytest.approx(1.2815515655446004)  # Φ⁻¹(0.9)
    flagged = out.scores >= out.threshold
    for g_id in (0, 1):  # one quantile for every record alike: about 10 % in each group
        rows = (~is_member) & (group == g_id)
        assert float(flagged[rows].double().mean()) == pytest.approx(0.1, abs=0.04)
        # the membership score is (score - mean) / std: the non-members' is about N(0, 1)
        assert float(out.scores[rows].mean()) == pytest.approx(0.0, abs=0.2)
        assert float(out.scores[rows].std()) == pytest.approx(1.0, abs=0.15)
    assert float(flagged[is_member].double().mean()) > 0.8  # shifted by 4: mostly found


def test_the_held_out_fifth_never_trains_the_regressor(monkeypatch):
    from mia_torch_attack import qmia

    seen = {True: set(), False: set()}  # ids (first input column) by training mode
    forward = qmia.Regressor.forward

    def spying(self, x, y, lengths=None):
        seen[self.training].update(torch.round(x[:, 0], decimals=4).tolist())
        return forward(self, x, y, lengths)

    monkeypatch.setattr(qmia.Regressor, "forward", spying)
    ctx, _, _ = known_quantiles_ctx(n_pop=500, n_eval=100)
    Qmia(QmiaOptions(epochs=3)).score(ctx)
    trained_on = seen[True]
    assert len(trained_on) == 400  # four fifths of the population
    held = seen[False] - trained_on  # judged in eval mode only: the held-out fifth (+ eval)
    assert len(held) >= 100


def test_qmia_is_seeded():
    ctx, _, _ = known_quantiles_ctx(n_pop=400, n_eval=200)
    from mia_core.training.fit import seeded

    answers = []
    for _ in range(2):
        with seeded(0):
            answers.append(Qmia(QmiaOptions(epochs=2)).score(ctx).scores)
    assert torch.equal(*answers)


OVERFIT = dict(dataset="tiny-images", members=150,
               options={"target": {"epochs": 20, "batch_size": 32}, "dataset": {"noise": 8.0}})


def test_qmia_finds_members_of_an_overfit_target_without_reference_models():
    result = run(attacks=["qmia"], **OVERFIT)
    assert result.models_trained == 1  # the target only: qmia needs no reference models
    assert result.attack("qmia").metrics.auc > 0.6
    # under --control, chance: 75 + 75 records give AUCs of 0.5 ± 0.05, so five seeds' mean
    control = [run(attacks=["qmia"], control=True, seed=seed, **OVERFIT).attack("qmia")
               for seed in range(5)]
    assert abs(sum(a.metrics.auc for a in control) / 5 - 0.5) < 0.05
    assert result.attack("qmia").metrics.threshold == pytest.approx(Z99)
    assert not math.isnan(result.attack("qmia").metrics.accuracy)


def test_the_cnn_regressor_needs_images():
    ctx, _, _ = known_quantiles_ctx(n_pop=50, n_eval=20)
    from mia_core import ConfigError

    with pytest.raises(ConfigError, match=r"attack 'qmia': regressor=cnn needs images \(N, C, "
                       r"H, W\), these records are \(2,\); use mlp"):
        Qmia(QmiaOptions(regressor="cnn")).score(ctx)


# --- records of token ids (any sequence modality) -----------------------------------------------
def _lookup_answer(model, records, device):
    return model(records.x)


def _by_id(answers, records):
    return answers.double()


BY_ID = Answers(name="a score per record", answer=_lookup_answer,
                signals={"confidence": _by_id})


class Scores(torch.nn.Module):
    """Each record (a row of token ids) answers its own score."""

    def __init__(self, x, score):
        super().__init__()
        self.table = {tuple(row): float(v) for row, v in zip(x.tolist(), score, strict=True)}

    def forward(self, x):
        return torch.tensor([self.table[tuple(row)] for row in x.tolist()])


def token_ctx(n_pop=3000, n_eval=2000, member_shift=4.0):
    """Sequences of 2 to 6 tokens with no labels, padded with noise past their lengths: the
    non-member score is N(-1, 0.5) when the record holds token 7 and N(2, 1.5) when it holds
    token 8, so only a regressor that reads the tokens (and not the padding) finds each
    group's quantile."""
    g = torch.Generator().manual_seed(0)
    n = n_pop + n_eval
    lengths = torch.randint(2, 7, (n,), generator=g)
    x = torch.randint(9, 200, (n, 6), generator=g)  # filler tokens; past the length, noise
    group = torch.randint(0, 2, (n,), generator=g)
    spot = (torch.rand(n, generator=g) * lengths).long()
    x[torch.arange(n), spot] = 7 + group
    order = torch.randperm(n, generator=g)
    population, evaluation, is_member, score = split_and_score(
        order, n_pop, group, torch.randn(n, generator=g), member_shift)
    data = Records(x, lengths=lengths)
    oracle = TargetOracle(Scores(x, score), CPU, answers=BY_ID)
    ctx = AttackContext(oracle, data.subset(evaluation), None, CPU, seed=0,
                        population=data.subset(population), attack="qmia")
    return ctx, group[evaluation], is_member[evaluation]


def test_on_token_records_the_regressor_reads_the_tokens_and_finds_each_groups_quantile():
    from mia_core.training.fit import seeded

    ctx, group, is_member = token_ctx()
    assert len({tuple(r) for r in ctx.evaluation.x.tolist()}) == len(ctx.evaluation)
    with seeded(0):
        out = Qmia(QmiaOptions(quantile=0.9)).score(ctx)
    assert out.details["regressor"] == "tokens"  # chosen by auto: integer (N, T) records
    flagged = out.scores >= out.threshold
    # one regressor blind to the tokens (the pooled 90 % quantile, about 3.7) would flag none
    # of group 0 and about 13 % of group 1
    for g_id in (0, 1):
        rows = (~is_member) & (group == g_id)
        assert float(flagged[rows].double().mean()) == pytest.approx(0.1, abs=0.04)
        assert float(out.scores[rows].mean()) == pytest.approx(0.0, abs=0.25)
    assert float(flagged[is_member].double().mean()) > 0.8


def test_the_token_regressor_never_reads_past_a_records_length():
    from mia_torch_attack.qmia import TokenMean

    torch.manual_seed(0)
    features = TokenMean(50, 8)
    x = torch.tensor([[3, 4, 5, 6], [3, 4, 9, 9]])
    other = torch.tensor([[3, 4, 5, 7], [3, 4, 1, 2]])  # differs only past the lengths
    lengths = torch.tensor([3, 2])
    assert torch.equal(features(x, lengths), features(other, lengths))
    mean = features.embedding.weight[[3, 4]].mean(0)
    assert torch.allclose(features(x, lengths)[1], mean)
    assert not torch.equal(features(x, None), features(other, None))


def test_a_regressor_that_does_not_fit_the_records_is_refused():
    ctx, _, _ = token_ctx(n_pop=50, n_eval=20)
    from mia_core import ConfigError

    with pytest.raises(ConfigError, match=r"attack 'qmia': regressor=cnn needs images"):
        Qmia(QmiaOptions(regressor="cnn")).score(ctx)
    images, _, _ = known_quantiles_ctx(n_pop=50, n_eval=20)
    with pytest.raises(ConfigError, match=r"regressor=tokens needs records of token ids \(N, "
                       r"T\) of an integer type, these are torch.float32 \(2,\); use mlp"):
        Qmia(QmiaOptions(regressor="tokens")).score(images)
