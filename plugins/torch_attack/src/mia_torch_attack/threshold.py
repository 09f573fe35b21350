"""Training-free baselines: one signal per record, a threshold picked on the attacker's data.

Loss (Yeom et al. 2018), top-1 confidence and prediction entropy (Salem et al. 2019), and the
label-aware modified entropy (Song & Mittal 2021). Scores are oriented so higher = member.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mia_core import AttackContext, AttackOutput, Records, ThreatModel

from .signals import best_threshold, entropy, modified_entropy

Signal = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SIGNALS: dict[str, tuple[Signal | str, str]] = {
    "loss-threshold": ("log_likelihood",
                       "Yeom et al. 2018: low loss on the true label means member (any "
                       "modality: a sequence's mean token loss)"),
    "confidence-threshold": (lambda z, y: torch.softmax(z.double(), -1).max(-1).values,
                             "Salem et al. 2019: high top-1 confidence means member"),
    "entropy-threshold": (lambda z, y: -entropy(z),
                          "Salem et al. 2019: low prediction entropy means member"),
    "mentropy-threshold": (lambda z, y: -modified_entropy(z, y),
                           "Song & Mittal 2021: low label-aware (modified) entropy means member"),
}


class ThresholdAttack:
    """Score = the statistic; decision threshold = the best one on the known members and
    non-members. The statistic is a function of the logits, or one of the core's signals by
    name (the loss attack reads ``log_likelihood``, so it works on any modality that gives
    it)."""

    threat_model = ThreatModel.KNOWN_MEMBERS

    def __init__(self, signal: Signal | str) -> None:
        self.signal = signal
        self.needs_signals = (signal,) if isinstance(signal, str) else ("logits",)

    def score(self, ctx: AttackContext) -> AttackOutput:
        assert ctx.known is not None
        known_scores = self._statistic(ctx, ctx.known.data)
        threshold = best_threshold(known_scores, ctx.known.is_member)
        return AttackOutput(self._statistic(ctx, ctx.evaluation), threshold=threshold)

    def _statistic(self, ctx: AttackContext, records: Records) -> torch.Tensor:
        if isinstance(self.signal, str):
            return ctx.target.signal(self.signal, records)
        return self.signal(ctx.target.logits(records.x), records.y)


def factory(name: str) -> Callable[[], ThresholdAttack]:
    signal = SIGNALS[name][0]
    return lambda: ThresholdAttack(signal)
