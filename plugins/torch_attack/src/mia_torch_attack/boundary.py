"""Decision-boundary distance, label-only (Choquette-Choo et al. 2021, "Label-Only Membership
Inference Attacks", and Li & Zhang 2021, "Membership Leakage in Label-Only Exposures").

A model is trained to classify its members correctly with room to spare, so a member tends to
lie farther from the decision boundary than a non-member. The attack measures, for every
record, the L2 distance to the nearest input the target labels differently, with the target
answering predicted labels only: HopSkipJump (Chen et al. 2020, untargeted, L2). Each record
starts from the nearest record of the same batch that the target labels otherwise (random
noise where there is none), walks to the boundary by binary search, then repeats
gradient-direction estimates from random probes at the boundary, a geometric step along the
estimate and a new binary search, for as long as the query budget lasts. A record the target
already misclassifies scores 0. The threshold is calibrated on the attacker's known members
and non-members, as for label augmentation; ``details`` gives the queries spent per record.
"""

from __future__ import annotations

import math

import attrs
import torch

from mia_core import AttackContext, AttackOutput, ThreatModel, option, positive

from .signals import best_threshold

GEOMETRIC_STEPS = 10  # halvings of a step before it is given up for this iteration
BATCH = 256  # records walked together (their probes are queried together)


@attrs.frozen
class BoundaryOptions:
    queries: int = option(1000, "label queries per record, everything included (HopSkipJump's "
                          "budget); more walks closer to the boundary", positive)
    probes: int = option(64, "random directions queried per gradient estimate", positive)
    search_steps: int = option(10, "halvings per binary search for the boundary (its "
                               "precision: 2^-steps of the segment)", positive)


class BoundaryAttack:
    """Distance to the decision boundary from labels alone; threshold from the known records."""

    threat_model = ThreatModel.LABEL_ONLY

    def __init__(self, options: BoundaryOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> AttackOutput:
        assert ctx.known is not None
        known = ctx.known.data
        # the input domain, as far as the attacker can tell: the range of the records it holds
        low, high = float(known.x.min()), float(known.x.max())
        walk = Walk(ctx, self.options, low, high)
        known_scores = walk.distances(known.x, known.y)
        threshold = best_threshold(known_scores, ctx.known.is_member)
        before = walk.spent
        scores = walk.distances(ctx.evaluation.x, ctx.evaluation.y)
        per_record = (walk.spent - before) / max(len(ctx.evaluation), 1)
        return AttackOutput(scores, threshold=threshold,
                            details={"queries_per_record": round(per_record, 1)})


class Walk:
    """HopSkipJump walks for batches of records, counting every label query it makes."""

    def __init__(self, ctx: AttackContext, options: BoundaryOptions, low: float,
                 high: float) -> None:
        self.ctx, self.options = ctx, options
        self.low, self.high = low, high
        self.generator = ctx.generator()
        self.spent = 0  # label queries made (records queried), over every batch

    def distances(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """L2 distance of each record to the boundary (0 where already misclassified)."""
        return torch.cat([self._batch(x[i:i + BATCH], y[i:i + BATCH])
                          for i in range(0, len(x), BATCH)]) if len(x) else torch.zeros(0)

    def _labels(self, points: torch.Tensor) -> torch.Tensor:
        self.spent += len(points)
        return self.ctx.target.labels(points)

    def _batch(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.double()
        predicted = self._labels(x.float())
        out = torch.zeros(len(x), dtype=torch.float64)
        right = torch.nonzero(predicted == y)[:, 0]
        if len(right) == 0:
            return out
        start, found = self._start(x, predicted, y, right)
        out[right[~found]] = (start[~found] - x[right[~found]]).flatten(1).norm(dim=1)
        rows = right[found]
        if len(rows):
            out[rows] = self._hop(x[rows], y[rows], start[found])
        return out

    def _start(self, x: torch.Tensor, predicted: torch.Tensor, y: torch.Tensor,
               right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A point the target labels other than ``y`` for each row in ``right``: the nearest
        record of the batch labelled otherwise (known without a query), else uniform noise
        over the domain (up to 10 draws). ``found`` is False where neither was adversarial;
        such a record's distance is the last draw's (a lower bound on its robustness)."""
        flat = x.flatten(1)
        gap = torch.cdist(flat[right], flat)
        gap[predicted.unsqueeze(0) == y[right].unsqueeze(1)] = math.inf
        nearest = gap.argmin(dim=1)
        found = torch.isfinite(gap.gather(1, nearest.unsqueeze(1))[:, 0])
        start = x[nearest].clone()
        for _ in range(10):
            missing = torch.nonzero(~found)[:, 0]
            if len(missing) == 0:
                break
            noise = self.low + (self.high - self.low) * torch.rand(
                (len(missing), *x.shape[1:]), generator=self.generator, dtype=torch.float64)
            start[missing] = noise
            found[missing] = self._labels(noise.float()) != y[right[missing]]
        return start, found

    def _search(self, x: torch.Tensor, y: torch.Tensor, outside: torch.Tensor) -> torch.Tensor:
        """Binary search on each segment x -> outside (outside labelled otherwise): the point
        nearest x known to be labelled otherwise, after ``search_steps`` halvings."""
        lo = torch.zeros(len(x), dtype=torch.float64)
        hi = torch.ones(len(x), dtype=torch.float64)
        shape = (-1,) + (1,) * (x.dim() - 1)
        for _ in range(self.options.search_steps):
            mid = (lo + hi) / 2
            point = x + mid.view(shape) * (outside - x)
            flipped = self._labels(point.float()) != y
            hi = torch.where(flipped, mid, hi)
            lo = torch.where(flipped, lo, mid)
        return x + hi.view(shape) * (outside - x)

    def _hop(self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        o = self.options
        shape = (-1,) + (1,) * (x.dim() - 1)
        dims = x[0].numel()
        boundary = self._search(x, y, start)
        used = 1 + o.search_steps  # the record's own label, the first search
        per_step = o.probes + GEOMETRIC_STEPS + o.search_steps
        step = 0
        while used + per_step <= o.queries:
            step += 1
            dist = (boundary - x).flatten(1).norm(dim=1).clamp_min(1e-12)
            # probes at radius dist / dims around the boundary point (HopSkipJump's delta
            # for L2: sqrt(d) * theta * dist with theta = d^-1.5)
            u = torch.randn((len(x), o.probes, dims), generator=self.generator,
                            dtype=torch.float64)
            u = u / u.norm(dim=2, keepdim=True)
            probes = boundary.flatten(1).unsqueeze(1) + (dist / dims).view(-1, 1, 1) * u
            probes = probes.clamp(self.low, self.high).view(-1, *x.shape[1:])
            flipped = (self._labels(probes.float()) != y.repeat_interleave(o.probes))
            sign = flipped.view(len(x), o.probes).double() * 2 - 1
            centred = sign - sign.mean(1, keepdim=True)
            centred = torch.where(centred.abs().sum(1, keepdim=True) > 0, centred, sign)
            direction = (centred.unsqueeze(2) * u).mean(1)
            direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
            direction = direction.view(x.shape)
            size = dist / math.sqrt(step)
            target = boundary.clone()
            open_ = torch.ones(len(x), dtype=torch.bool)
            for _ in range(GEOMETRIC_STEPS):
                rows = torch.nonzero(open_)[:, 0]
                if len(rows) == 0:
                    break
                candidate = (boundary[rows] + size[rows].view(shape) * direction[rows]).clamp(
                    self.low, self.high)
                ok = self._labels(candidate.float()) != y[rows]
                target[rows[ok]] = candidate[ok]
                open_[rows[ok]] = False
                size[rows[~ok]] /= 2
            boundary = self._search(x, y, target)
            used += per_step
        return (boundary - x).flatten(1).norm(dim=1)
