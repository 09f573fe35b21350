"""Shadow-model attack (Shokri et al. 2017).

The run's reference models act as shadow models: their outputs on population records they
did or did not train on teach an attack MLP what "member" looks like; the MLP then scores the
target's outputs on the evaluation records. One global MLP, or one per class.
"""

from __future__ import annotations

import attrs
import torch

from mia_core import (
    AttackContext,
    AttackOutput,
    ThreatModel,
    option,
    positive,
)

from .features import FEATURES, features_from_logits
from .mlp import MlpTraining, fit_and_score


@attrs.frozen
class ShadowOptions(MlpTraining):
    epochs: int = option(20, "training epochs of the attack model", positive)
    batch_size: int = option(256, "mini-batch size", positive)
    features: str = option("log-probabilities", "what the attack model sees", choices=FEATURES)
    per_class: bool = option(False, "one attack model per true class (Shokri et al.)")


class ShadowMlp:
    threat_model = ThreatModel.POPULATION

    def __init__(self, options: ShadowOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> AttackOutput:
        refs = ctx.reference_models()
        pop = refs.population_positions
        y_pop = refs.records.y[pop]
        logits = refs.pool_logits()[:, pop]  # (models, population, classes)
        n_models = logits.shape[0]
        train_y = y_pop.repeat(n_models)
        train_x = self._features(logits.reshape(-1, logits.shape[-1]), train_y, ctx)
        train_member = refs.in_mask[:, pop].reshape(-1)
        eval_x = self._features(ctx.target.logits(ctx.evaluation.x), ctx.evaluation.y, ctx)
        scores = torch.zeros(len(eval_x), dtype=torch.float64)
        groups = range(ctx.num_classes) if self.options.per_class else [None]
        for cls in groups:
            train_rows = slice(None) if cls is None else train_y == cls
            eval_rows = slice(None) if cls is None else ctx.evaluation.y == cls
            scores[eval_rows] = fit_and_score(train_x[train_rows], train_member[train_rows],
                                              eval_x[eval_rows], self.options, ctx,
                                              label="shadow attack model")
        return AttackOutput(scores, threshold=0.5)

    def _features(self, logits: torch.Tensor, y: torch.Tensor, ctx: AttackContext):
        return features_from_logits(logits, y, self.options.features, ctx.num_classes,
                                    with_label=not self.options.per_class)
