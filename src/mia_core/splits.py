"""Membership ground truth: which records are members, non-members, known to the attacker.

All index sets come from one seeded permutation of the dataset, so they are disjoint by
construction; members and non-members have the same size, and so do the attacker's known
subsets and the evaluation subsets. :meth:`MembershipSplit.check` re-verifies this before any
model is trained.
"""

from __future__ import annotations

import attrs
import torch

from mia_core.errors import ConfigError


@attrs.frozen(eq=False)
class MembershipSplit:
    """Index sets into the dataset (int64 tensors)."""

    known_members: torch.Tensor
    known_nonmembers: torch.Tensor
    eval_members: torch.Tensor
    eval_nonmembers: torch.Tensor
    population: torch.Tensor
    decoys: torch.Tensor = attrs.field(factory=lambda: torch.empty(0, dtype=torch.int64))

    @property
    def members(self) -> torch.Tensor:
        """Every record the target is trained on."""
        return torch.cat([self.known_members, self.eval_members])

    @property
    def nonmembers(self) -> torch.Tensor:
        return torch.cat([self.known_nonmembers, self.eval_nonmembers])

    def sizes(self) -> dict[str, int]:
        return {
            "members": len(self.known_members) + len(self.eval_members),
            "nonmembers": len(self.known_nonmembers) + len(self.eval_nonmembers),
            "known_members": len(self.known_members),
            "known_nonmembers": len(self.known_nonmembers),
            "eval_members": len(self.eval_members),
            "eval_nonmembers": len(self.eval_nonmembers),
            "population": len(self.population),
            "decoys": len(self.decoys),
        }

    def check(self) -> None:
        """Raise if any two sets overlap or the member/non-member sides are unbalanced."""
        parts = [self.known_members, self.known_nonmembers, self.eval_members,
                 self.eval_nonmembers, self.population, self.decoys]
        everything = torch.cat(parts)
        if everything.unique().numel() != everything.numel():
            raise AssertionError("membership index sets overlap")
        if len(self.known_members) != len(self.known_nonmembers):
            raise AssertionError("attacker's known members and non-members are unbalanced")
        if len(self.eval_members) != len(self.eval_nonmembers):
            raise AssertionError("evaluation members and non-members are unbalanced")


def draw_split(pool_size: int, members: int, known_fraction: float, population: int,
               seed: int, control: bool = False) -> MembershipSplit:
    """Draw a balanced, disjoint split of ``pool_size`` records with one seeded generator.

    With ``control``, a further ``members`` decoy records are drawn for the control run, in
    which the target trains on the decoys instead of the members.
    """
    decoys = members if control else 0
    needed = 2 * members + population + decoys
    if needed > pool_size:
        extra = f" + {decoys} control decoys" if control else ""
        raise ConfigError(
            f"the dataset has {pool_size} records but the split needs {needed} "
            f"(2 x {members} members/non-members + {population} population{extra}); "
            "lower --members or --population"
        )
    known = known_count(members, known_fraction)
    perm = torch.randperm(pool_size, generator=torch.Generator().manual_seed(seed))
    mem, non = perm[:members], perm[members:2 * members]
    split = MembershipSplit(
        known_members=mem[:known],
        known_nonmembers=non[:known],
        eval_members=mem[known:],
        eval_nonmembers=non[known:],
        population=perm[2 * members:2 * members + population],
        decoys=perm[2 * members + population:needed],
    )
    split.check()
    return split


def known_count(members: int, known_fraction: float) -> int:
    """How many members (and as many non-members) the attacker knows; at least one of each
    side stays for evaluation."""
    known = round(members * known_fraction)
    if known < 1 or known > members - 1:
        raise ConfigError(
            f"--known-fraction {known_fraction} of {members} members leaves "
            f"{known} known and {members - known} evaluation records per side; each needs >= 1"
        )
    return known


def draw_given_split(members: torch.Tensor, nonmembers: torch.Tensor, count: int,
                     known_fraction: float, population: int, seed: int) -> MembershipSplit:
    """A balanced, disjoint split when membership is given: ``count`` of the ``members``
    records and ``count`` of the ``nonmembers``, each drawn with one seeded permutation; the
    population (reference models' records) comes from the non-members left over, so it never
    holds a record the audited model was trained on."""
    if count > len(members) or count + population > len(nonmembers):
        raise ConfigError(
            f"the given model has {len(members)} members and {len(nonmembers)} non-member "
            f"records, but the split needs {count} of each + {population} population "
            "non-members; lower --members or --population")
    known = known_count(count, known_fraction)
    generator = torch.Generator().manual_seed(seed)
    mem = members[torch.randperm(len(members), generator=generator)[:count]]
    non = nonmembers[torch.randperm(len(nonmembers), generator=generator)]
    split = MembershipSplit(
        known_members=mem[:known], known_nonmembers=non[:known],
        eval_members=mem[known:count], eval_nonmembers=non[known:count],
        population=non[count:count + population])
    split.check()
    return split


def given_members(members: int, nonmembers: int, population_share: float) -> int:
    """Members when ``--members`` is not given with a given model: as many as both sides
    allow, leaving ``population_share`` x members of the non-members for the population."""
    return max(0, min(members, int(nonmembers / (1 + population_share))))


def evaluation_order(split: MembershipSplit,
                     seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluation records in a seeded random order, so position reveals no membership."""
    index = torch.cat([split.eval_members, split.eval_nonmembers])
    is_member = torch.arange(len(index)) < len(split.eval_members)
    order = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))
    return index[order], is_member[order]
