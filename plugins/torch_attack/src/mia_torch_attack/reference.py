"""The reference-model attack (Carlini et al. 2021, "Extracting Training Data from Large
Language Models"; MIMIR's "ref"): a record the target finds much likelier than models that
never saw it is likely a member. The score is the target's log-likelihood of the record minus
the mean log-likelihood under the reference models trained without it, so a record that is
merely easy (likely under every model) does not pass for a member. It reads the
``log_likelihood`` signal only, so it works on classifiers and language models alike.
"""

from __future__ import annotations

import torch

from mia_core import AttackContext, ThreatModel


class ReferenceRatio:
    threat_model = ThreatModel.POPULATION
    needs_signals = ("log_likelihood",)

    def __init__(self, options: None = None) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> torch.Tensor:
        refs = ctx.reference_models()
        ev = refs.evaluation_positions
        on_refs = refs.signal("log_likelihood", ev)  # (models, eval)
        out = (~refs.in_mask[:, ev]).double()
        reference = (on_refs * out).sum(0) / out.sum(0).clamp_min(1)
        return ctx.target.signal("log_likelihood", ctx.evaluation) - reference
