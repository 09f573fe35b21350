"""``torch-mlp``: the black-box attack of ART/Dioptra, on the target's outputs."""

from __future__ import annotations

import attrs
import torch

from mia_core import AttackContext, AttackOutput, ThreatModel, option

from .features import FEATURES, attack_features
from .mlp import MlpTraining, fit_and_score


@attrs.frozen
class MlpOptions(MlpTraining):
    features: str = option("loss", "what the attack model sees of the target's output",
                           choices=FEATURES)
    with_label: bool = option(True, "append the record's one-hot true label to the features")


class MlpAttack:
    """An MLP trained on the target's outputs for records the attacker knows to be members or
    non-members, then applied to the evaluation records."""

    threat_model = ThreatModel.KNOWN_MEMBERS

    def __init__(self, options: MlpOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> AttackOutput:
        assert ctx.known is not None  # guaranteed by the threat model
        known = ctx.known.data
        scores = fit_and_score(self._features(ctx, known.x, known.y), ctx.known.is_member,
                               self._features(ctx, ctx.evaluation.x, ctx.evaluation.y),
                               self.options, ctx, label="attack model")
        return AttackOutput(scores, threshold=0.5)

    def _features(self, ctx: AttackContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return attack_features(ctx.target, x, y, self.options.features, ctx.num_classes,
                               self.options.with_label)
