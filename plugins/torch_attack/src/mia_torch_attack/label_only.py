"""Label-only attacks: the target answers predicted classes, nothing else.

- ``gap`` (Yeom et al. 2018's gap attack): a record the target classifies correctly is
  guessed a member. Its advantage is the train-test accuracy gap.
- ``label-augmentation`` (Choquette-Choo et al. 2021, "Label-Only Membership Inference
  Attacks"): a member's label survives perturbation more often. Each record is queried with
  ``queries`` perturbed copies (images: horizontal flip and shifts of up to ``shift`` pixels;
  other records: Gaussian noise of ``noise`` standard deviations per feature), and its score
  is the share of copies still classified correctly. The decision threshold is calibrated on
  the attacker's known members and non-members, as the paper calibrates on its shadow data.
"""

from __future__ import annotations

import attrs
import torch

from mia_core import AttackContext, AttackOutput, ThreatModel, option, positive, shifted

from .signals import best_threshold


class GapAttack:
    """Correctly classified => member."""

    threat_model = ThreatModel.LABEL_ONLY

    def score(self, ctx: AttackContext) -> AttackOutput:
        correct = ctx.target.labels(ctx.evaluation.x) == ctx.evaluation.y
        return AttackOutput(correct.double(), threshold=0.5)


@attrs.frozen
class AugmentationOptions:
    queries: int = option(8, "perturbed copies queried per record (besides the record)",
                          positive)
    shift: int = option(2, "images: largest shift in pixels", attrs.validators.ge(0))
    noise: float = option(0.1, "non-images: Gaussian noise, in standard deviations of each "
                          "feature over the attacker's known records", positive)


class AugmentationAttack:
    """Share of perturbed copies that keep the true label; threshold from the known records."""

    threat_model = ThreatModel.LABEL_ONLY

    def __init__(self, options: AugmentationOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> AttackOutput:
        assert ctx.known is not None
        known = ctx.known.data
        scale = known.x.flatten(1).std(0).clamp_min(1e-12).view(1, *known.x.shape[1:])
        known_scores = self._robustness(ctx, known.x, known.y, scale)
        threshold = best_threshold(known_scores, ctx.known.is_member)
        scores = self._robustness(ctx, ctx.evaluation.x, ctx.evaluation.y, scale)
        return AttackOutput(scores, threshold=threshold)

    def _robustness(self, ctx: AttackContext, x: torch.Tensor, y: torch.Tensor,
                    scale: torch.Tensor) -> torch.Tensor:
        """Share of the record and its ``queries`` copies classified as ``y``."""
        generator = ctx.generator()  # known and evaluation records: drawn alike
        kept = torch.zeros(len(x), dtype=torch.float64)
        for variant in perturbations(x, self.options, scale, generator):
            kept += (ctx.target.labels(variant) == y).double()
        return kept / (self.options.queries + 1)


def perturbations(x: torch.Tensor, options: AugmentationOptions, scale: torch.Tensor,
                  generator: torch.Generator) -> list[torch.Tensor]:
    """The record itself, then ``queries`` perturbed copies of every record."""
    out = [x]
    if x.dim() == 4:
        shifts = [(dy, dx) for dy in range(-options.shift, options.shift + 1)
                  for dx in range(-options.shift, options.shift + 1)]
        order = torch.randperm(len(shifts), generator=generator).tolist()
        for k in range(options.queries):
            dy, dx = shifts[order[k % len(shifts)]]
            moved = shifted(x, dy, dx)
            out.append(moved.flip(-1) if k % 2 == 0 else moved)
        return out
    for _ in range(options.queries):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        out.append(x + options.noise * scale * noise)
    return out

