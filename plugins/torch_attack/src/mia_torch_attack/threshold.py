"""Training-free baselines: one signal per record, a threshold picked on the attacker's data.

Loss (Yeom et al. 2018), top-1 confidence and prediction entropy (Salem et al. 2019), and the
label-aware modified entropy (Song & Mittal 2021). Scores are oriented so higher = member.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mia_core import AttackContext, AttackOutput, ThreatModel

from .signals import best_threshold, entropy, modified_entropy, true_log_prob

Signal = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SIGNALS: dict[str, tuple[Signal, str]] = {
    "loss-threshold": (lambda z, y: true_log_prob(z, y),
                       "Yeom et al. 2018: low loss on the true label means member"),
    "confidence-threshold": (lambda z, y: torch.softmax(z.double(), -1).max(-1).values,
                             "Salem et al. 2019: high top-1 confidence means member"),
    "entropy-threshold": (lambda z, y: -entropy(z),
                          "Salem et al. 2019: low prediction entropy means member"),
    "mentropy-threshold": (lambda z, y: -modified_entropy(z, y),
                           "Song & Mittal 2021: low label-aware (modified) entropy means member"),
}


class ThresholdAttack:
    """Score = the signal; decision threshold = the best one on the known members/non-members."""

    threat_model = ThreatModel.KNOWN_MEMBERS

    def __init__(self, signal: Signal) -> None:
        self.signal = signal

    def score(self, ctx: AttackContext) -> AttackOutput:
        assert ctx.known is not None
        known = ctx.known.data
        known_scores = self.signal(ctx.target.logits(known.x), known.y)
        threshold = best_threshold(known_scores, ctx.known.is_member)
        scores = self.signal(ctx.target.logits(ctx.evaluation.x), ctx.evaluation.y)
        return AttackOutput(scores, threshold=threshold)


def factory(name: str) -> Callable[[], ThresholdAttack]:
    signal = SIGNALS[name][0]
    return lambda: ThresholdAttack(signal)
