"""mia-core: a membership-inference testbed for PyTorch, built as a plugin framework.

This module is the public API for plugin authors: hook markers, the data and context types
handed to plugins, option helpers and the shared training utilities. Importing it loads no
plugin.
"""

from .context import AttackContext, AttackOutput, KnownRecords, TargetOracle
from .data import LabeledData, LoadEnv
from .errors import ConfigError, MiaError, PluginError
from .executors import (
    ExecEnv,
    TrainJob,
    TrainTask,
    groups,
    resolve_batch,
    train_packed,
    unpack_state,
)
from .hookspecs import hookimpl
from .options import fraction, option, positive
from .privacy import PrivacySpent, plan_dp
from .progress import Progress
from .protocols import Attack, Dataset, Executor, Reporter, Target
from .references import ReferenceModels
from .report import write_roc
from .results import ExperimentResult, ReportEnv, RunArtifacts
from .threats import ThreatModel
from .training import (
    PRECISIONS,
    TrainEnv,
    TrainRecipe,
    accuracy,
    fit_classifier,
    predict_logits,
    resolve_precision,
)

__all__ = [
    "PRECISIONS",
    "Attack",
    "AttackContext",
    "AttackOutput",
    "ConfigError",
    "Dataset",
    "ExecEnv",
    "Executor",
    "ExperimentResult",
    "KnownRecords",
    "LabeledData",
    "LoadEnv",
    "MiaError",
    "PluginError",
    "PrivacySpent",
    "Progress",
    "ReferenceModels",
    "ReportEnv",
    "Reporter",
    "RunArtifacts",
    "Target",
    "TargetOracle",
    "ThreatModel",
    "TrainEnv",
    "TrainJob",
    "TrainRecipe",
    "TrainTask",
    "accuracy",
    "fit_classifier",
    "fraction",
    "groups",
    "hookimpl",
    "option",
    "plan_dp",
    "positive",
    "predict_logits",
    "resolve_batch",
    "resolve_precision",
    "train_packed",
    "unpack_state",
    "write_roc",
]
