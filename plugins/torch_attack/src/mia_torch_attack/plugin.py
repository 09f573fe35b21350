"""Registers the attacks of this distribution."""

from __future__ import annotations

import attrs
import torch

from mia_core import (
    AttackContext,
    AttackOutput,
    LabeledData,
    ThreatModel,
    TrainEnv,
    TrainRecipe,
    fit_classifier,
    hookimpl,
    option,
    positive,
    predict_logits,
)

from . import threshold
from .features import FEATURES, attack_features
from .lira import Lira, LiraOfflineOptions, LiraOptions, lira_offline
from .mlp import mlp
from .rmia import Rmia, RmiaOptions
from .shadow import ShadowMlp, ShadowOptions


@attrs.frozen
class MlpOptions:
    features: str = option("loss", "what the attack model sees of the target's output",
                           choices=FEATURES)
    with_label: bool = option(True, "append the record's one-hot true label to the features")
    hidden: int = option(64, "width of the first hidden layer", positive)
    epochs: int = option(50, "training epochs of the attack model", positive)
    batch_size: int = option(128, "mini-batch size", positive)
    lr: float = option(1e-3, "Adam learning rate", positive)


class MlpAttack:
    """Black-box attack of ART/Dioptra: an MLP trained on the target's outputs for records the
    attacker knows to be members or non-members, then applied to the evaluation records."""

    threat_model = ThreatModel.KNOWN_MEMBERS

    def __init__(self, options: MlpOptions) -> None:
        self.options = options

    def score(self, ctx: AttackContext) -> AttackOutput:
        o = self.options
        assert ctx.known is not None  # guaranteed by the threat model
        known = ctx.known.data
        train_x = self._features(ctx, known.x, known.y)
        eval_x = self._features(ctx, ctx.evaluation.x, ctx.evaluation.y)
        mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-6)
        train = LabeledData((train_x - mean) / std, ctx.known.is_member.long(), num_classes=2)
        model = mlp(train_x.shape[1], o.hidden)
        recipe = TrainRecipe(o.epochs, o.batch_size, o.lr, precision="fp32",
                             channels_last=False)
        fit_classifier(model, train, recipe, TrainEnv(ctx.device, ctx.seed, ctx.progress),
                       label="attack model")
        logits = predict_logits(model, (eval_x - mean) / std, ctx.device)
        return AttackOutput(torch.softmax(logits, dim=1)[:, 1], threshold=0.5)

    def _features(self, ctx: AttackContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return attack_features(ctx.target, x, y, self.options.features, ctx.num_classes,
                               self.options.with_label)


@hookimpl
def register_attacks(register):
    register("torch-mlp", MlpAttack, description="Black-box MLP on the target's outputs "
             "(ART MembershipInferenceBlackBox style), trained on known members/non-members",
             options=MlpOptions)
    for name, (_, description) in threshold.SIGNALS.items():
        register(name, threshold.factory(name), description=description)
    register("shadow-mlp", ShadowMlp, description="Shokri et al. 2017: attack MLP trained on "
             "shadow models' outputs (population threat model)", options=ShadowOptions)
    register("lira", Lira, description="Carlini et al. 2022 likelihood-ratio attack, online or "
             "offline, with reference models", options=LiraOptions)
    register("lira-offline", lira_offline, description="LiRA using only reference models "
             "trained without each record (one-sided test)", options=LiraOfflineOptions)
    register("rmia", Rmia, description="Zarifzadeh et al. 2024 relative membership inference, "
             "offline, with reference models and population comparisons", options=RmiaOptions)
