"""mia-core: a membership-inference testbed for PyTorch, built as a plugin framework.

This module is the public API for plugin authors: hook markers, the data and context types
handed to plugins, option helpers and the shared training utilities. Importing it loads no
plugin.
"""

from mia_core.answers import (
    CLASS_LOGITS,
    SIGNALS,
    AnsweringTarget,
    Answers,
    answers_of,
    predict_logits,
    scaled_confidence,
    true_log_prob,
)
from mia_core.api import Audit, audit
from mia_core.capabilities import (
    CanaryDataset,
    MembershipDataset,
    ReadableDataset,
    ReferenceFreeAttack,
    SignalAttack,
    SizedDataset,
    capable,
)
from mia_core.context import (
    AttackContext,
    AttackOutput,
    KnownRecords,
    LabelOracle,
    TargetOracle,
    best_threshold,
)
from mia_core.data import LabeledData, LoadEnv, Records
from mia_core.downloads import allow_download, data_root, digest_of, extract_tar, fetch
from mia_core.errors import (
    ConfigError,
    DataFileError,
    MiaError,
    PluginError,
    Stopped,
    stopped_inside,
)
from mia_core.hookspecs import Register, hookimpl
from mia_core.options import fraction, option, positive
from mia_core.progress import Progress
from mia_core.protocols import Attack, Dataset, Executor, Reporter, Target
from mia_core.queries import (
    IDENTITY,
    AugmentingComponent,
    QueryAugmentation,
    image_augmentations,
    shifted,
)
from mia_core.references import ReferenceModels
from mia_core.results.files import write_roc
from mia_core.results.types import ExperimentResult, ReportEnv, RunArtifacts
from mia_core.threats import ThreatModel
from mia_core.training.dp import PrivacySpent, plan_dp
from mia_core.training.executors import (
    ExecEnv,
    TrainJob,
    TrainTask,
    groups,
    resolve_batch,
    train_packed,
    unpack_state,
)
from mia_core.training.fit import accuracy, fit_classifier
from mia_core.training.precision import resolve_precision
from mia_core.training.recipe import AUGMENTATIONS, PRECISIONS, TrainEnv, TrainRecipe
from mia_core.training.recipe_options import ClassifierTarget, RecipeOptions
from mia_core.training.targets import (
    BuildableTarget,
    FingerprintedTarget,
    ModelFileTarget,
    PrivateTarget,
    RecipeTarget,
    TrainlessTarget,
)

__all__ = [
    "AUGMENTATIONS",
    "CLASS_LOGITS",
    "IDENTITY",
    "PRECISIONS",
    "SIGNALS",
    "AnsweringTarget",
    "Answers",
    "Attack",
    "AttackContext",
    "AttackOutput",
    "Audit",
    "AugmentingComponent",
    "BuildableTarget",
    "CanaryDataset",
    "ClassifierTarget",
    "ConfigError",
    "DataFileError",
    "Dataset",
    "ExecEnv",
    "Executor",
    "ExperimentResult",
    "FingerprintedTarget",
    "KnownRecords",
    "LabelOracle",
    "LabeledData",
    "LoadEnv",
    "MembershipDataset",
    "MiaError",
    "ModelFileTarget",
    "PluginError",
    "PrivacySpent",
    "PrivateTarget",
    "Progress",
    "QueryAugmentation",
    "ReadableDataset",
    "RecipeOptions",
    "RecipeTarget",
    "Records",
    "ReferenceFreeAttack",
    "ReferenceModels",
    "Register",
    "ReportEnv",
    "Reporter",
    "RunArtifacts",
    "SignalAttack",
    "SizedDataset",
    "Stopped",
    "Target",
    "TargetOracle",
    "ThreatModel",
    "TrainEnv",
    "TrainJob",
    "TrainRecipe",
    "TrainTask",
    "TrainlessTarget",
    "accuracy",
    "allow_download",
    "answers_of",
    "audit",
    "best_threshold",
    "capable",
    "data_root",
    "digest_of",
    "extract_tar",
    "fetch",
    "fit_classifier",
    "fraction",
    "groups",
    "hookimpl",
    "image_augmentations",
    "option",
    "plan_dp",
    "positive",
    "predict_logits",
    "resolve_batch",
    "resolve_precision",
    "scaled_confidence",
    "shifted",
    "stopped_inside",
    "train_packed",
    "true_log_prob",
    "unpack_state",
    "write_roc",
]
