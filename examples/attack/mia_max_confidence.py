"""An attack plugin: the target's top-1 confidence, tempered."""

import attrs
import torch

from mia_core import AttackContext, AttackOutput, ThreatModel, hookimpl, option, positive


@attrs.frozen
class Options:
    temperature: float = option(1.0, "softmax temperature", positive)


class MaxConfidence:
    threat_model = ThreatModel.KNOWN_MEMBERS

    def __init__(self, options: Options):
        self.options = options

    def score(self, ctx: AttackContext) -> AttackOutput:
        def confidence(x: torch.Tensor) -> torch.Tensor:
            logits = ctx.target.logits(x) / self.options.temperature
            return logits.softmax(dim=1).max(dim=1).values

        # Decision threshold: halfway between the known members' and non-members' means.
        known = confidence(ctx.known.data.x)
        members = ctx.known.is_member
        threshold = float((known[members].mean() + known[~members].mean()) / 2)
        return AttackOutput(confidence(ctx.evaluation.x), threshold=threshold)


@hookimpl
def register_attacks(register):
    register("max-confidence", MaxConfidence, description="Top-1 confidence of the target",
             options=Options)
