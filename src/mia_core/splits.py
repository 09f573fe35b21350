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
