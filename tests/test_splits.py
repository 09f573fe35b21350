import pytest
import torch

from mia_core.errors import ConfigError
from mia_core.splits import draw_split


@pytest.mark.parametrize("seed", range(50))
def test_sets_are_disjoint_and_balanced(seed):
    split = draw_split(1000, members=300, known_fraction=0.3, population=100, seed=seed)
    sets = [split.known_members, split.known_nonmembers, split.eval_members,
            split.eval_nonmembers, split.population]
    seen = set()
    for s in sets:
        values = set(s.tolist())
        assert len(values) == len(s)
        assert not values & seen
        seen |= values
    assert all(0 <= i < 1000 for i in seen)
    sizes = split.sizes()
    assert sizes["members"] == sizes["nonmembers"] == 300
    assert sizes["known_members"] == sizes["known_nonmembers"] == 90
    assert sizes["eval_members"] == sizes["eval_nonmembers"] == 210
    assert sizes["population"] == 100


def test_same_seed_same_split_other_seed_other_split():
    a = draw_split(500, 100, 0.5, 0, seed=7)
    b = draw_split(500, 100, 0.5, 0, seed=7)
    c = draw_split(500, 100, 0.5, 0, seed=8)
    assert torch.equal(a.members, b.members)
    assert not torch.equal(a.members, c.members)


def test_not_enough_records_is_a_clear_error():
    with pytest.raises(ConfigError, match="has 100 records but the split needs 120"):
        draw_split(100, members=60, known_fraction=0.5, population=0, seed=0)


@pytest.mark.parametrize("fraction", [0.001, 0.999])
def test_known_fraction_must_leave_records_on_both_sides(fraction):
    with pytest.raises(ConfigError, match="each needs >= 1"):
        draw_split(1000, members=10, known_fraction=fraction, population=0, seed=0)


def test_check_catches_overlap():
    split = draw_split(100, 10, 0.5, 0, seed=0)
    import attrs

    bad = attrs.evolve(split, eval_nonmembers=split.eval_members.clone())
    with pytest.raises(AssertionError, match="overlap"):
        bad.check()


def test_sizes_name_every_set():
    split = draw_split(100, 10, 0.5, 5, seed=0, control=True)
    assert split.sizes() == {"members": 10, "nonmembers": 10, "known_members": 5,
                             "known_nonmembers": 5, "eval_members": 5, "eval_nonmembers": 5,
                             "population": 5, "decoys": 10}


def test_too_small_pool_message_counts_every_part():
    with pytest.raises(ConfigError) as err:
        draw_split(34, 10, 0.5, 5, seed=0, control=True)
    assert str(err.value) == ("the dataset has 34 records but the split needs 35 (2 x 10 "
                              "members/non-members + 5 population + 10 control decoys); lower "
                              "--members or --population")
    with pytest.raises(ConfigError) as err:
        draw_split(20, 10, 0.5, 5, seed=0)
    assert str(err.value) == ("the dataset has 20 records but the split needs 25 (2 x 10 "
                              "members/non-members + 5 population); lower --members or "
                              "--population")


def test_known_fraction_leaving_no_evaluation_records_says_how_many():
    with pytest.raises(ConfigError) as err:
        draw_split(100, 4, 0.9, 0, seed=0)
    assert str(err.value) == ("--known-fraction 0.9 of 4 members leaves 4 known and 0 evaluation "
                              "records per side; each needs >= 1")


@pytest.mark.parametrize(("field", "message"), [
    ("eval_nonmembers", "evaluation members and non-members are unbalanced"),
    ("known_nonmembers", "attacker's known members and non-members are unbalanced"),
    ("population", "membership index sets overlap"),
])
def test_check_names_what_is_wrong(field, message):
    import attrs

    split = draw_split(100, 10, 0.5, 5, seed=0)
    broken = {"eval_nonmembers": split.eval_nonmembers[:-1],
              "known_nonmembers": split.known_nonmembers[:-1],
              "population": torch.cat([split.population, split.eval_members[:1]])}[field]
    with pytest.raises(AssertionError) as err:
        attrs.evolve(split, **{field: broken}).check()
    assert str(err.value) == message
