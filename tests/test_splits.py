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
