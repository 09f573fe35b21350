"""Registers the attacks of this distribution."""

from __future__ import annotations

from mia_core import hookimpl

from . import threshold
from .blackbox import MlpAttack, MlpOptions
from .boundary import BoundaryAttack, BoundaryOptions
from .label_only import AugmentationAttack, AugmentationOptions, GapAttack
from .lira import Lira, LiraOfflineOptions, LiraOptions, lira_offline
from .qmia import Qmia, QmiaOptions
from .reference import ReferenceRatio
from .rmia import Rmia, RmiaOptions, RmiaSignalOptions, rmia_online
from .shadow import ShadowMlp, ShadowOptions


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
    register("rmia-online", rmia_online, description="RMIA with reference models trained with "
             "and without each record", options=RmiaSignalOptions)
    register("reference-ratio", ReferenceRatio, description="Carlini et al. 2021 reference "
             "model: the target's log-likelihood minus that of reference models trained without "
             "the record (any modality)")
    register("qmia", Qmia, description="Bertran et al. 2023 quantile regression: a regressor "
             "on population records predicts each record's non-member score; no reference "
             "models", options=QmiaOptions)
    register("gap", GapAttack, description="Yeom et al. 2018 gap attack, label-only: a "
             "correctly classified record is a member")
    register("label-augmentation", AugmentationAttack, description="Choquette-Choo et al. "
             "2021, label-only: members keep their label under flips/shifts (images) or noise",
             options=AugmentationOptions)
    register("decision-boundary", BoundaryAttack, description="Choquette-Choo et al. 2021 / "
             "Li & Zhang 2021, label-only: a member lies farther from the decision boundary "
             "(HopSkipJump distance within a query budget)", options=BoundaryOptions)
