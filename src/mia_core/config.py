"""The experiment configuration: everything that determines a run, declared once.

Each field of :class:`ExperimentConfig` carries its :class:`Setting` (help text, flag, value
kind); the command line's options, the config file's keys and types and ``--print-config``
are all derived from those declarations, so a setting is added in one place.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

from mia_core.errors import ConfigError
from mia_core.fieldmap import FieldMap
from mia_core.options import option

DEFAULT_MEMBERS = 12_000
DEFAULT_KNOWN_FRACTION = 0.5
DEFAULT_REFERENCE_MODELS = 8
MAX_SEED = 2**63 - 1  # torch generators take seeds below 2**64; derived seeds stay in int64
VALUE_KINDS = ("str", "int", "float", "bool", "list", "path", "members")


@attrs.frozen
class Setting:
    """How one setting appears on the command line and in config files.

    ``kind``: the value's type (``list``: repeatable strings; ``path``: a file or folder).
    ``flag``: the long option (default: from the field name), ``short``: e.g. ``-q``.
    ``minimum``: the smallest integer the command line accepts. ``key``: the config-file key
    (default: the field name), ``aliases``: other spellings accepted there. ``printed``: part
    of ``--print-config`` (the experiment, not where its files go).
    """

    help: str
    kind: str = attrs.field(validator=attrs.validators.in_(VALUE_KINDS))
    flag: str | None = None
    short: str | None = None
    metavar: str | None = None
    minimum: int | None = None
    aliases: tuple[str, ...] = ()
    printed: bool = True
    show_default: bool = True


ALL_MEMBERS = "all"  # --members all: every listed member of a given model


def setting(default: Any, help: str, kind: str, **how: Any) -> Any:
    """A run setting: declared with :func:`mia_core.option` like a component's option
    (``validator``, ``converter``, ``factory`` as there), plus how the command line and
    config files spell it (:class:`Setting`)."""
    field_args = {k: how.pop(k) for k in ("validator", "converter", "factory") if k in how}
    return option(default, help, **field_args, extra={"setting": Setting(help, kind, **how)})


def settings_of(cls: type) -> list[tuple[str, Setting, Any]]:
    """``(field name, Setting, default)`` for every declared setting of ``cls``, in order."""
    return [(f.name, f.metadata["setting"], f.default) for f in attrs.fields(cls)
            if "setting" in f.metadata]


def derive_seed(seed: int, purpose: str) -> int:
    """An independent, reproducible seed for one phase of the experiment."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not _is_int(value) or value <= 0:
        raise ConfigError(f"{attribute.name} must be a positive integer, got {value!r}")


def _members(instance: Any, attribute: attrs.Attribute, value: int | str) -> None:
    if value != ALL_MEMBERS:
        _positive_int(instance, attribute, value)


def _non_negative_int(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not _is_int(value) or value < 0:
        raise ConfigError(f"{attribute.name} must be a non-negative integer, got {value!r}")


def _seed(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not _is_int(value) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"seed must be an integer from 0 to 2**63 - 1, got {value!r}")


def _at_least_two(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not _is_int(value) or value < 2:
        raise ConfigError(f"{attribute.name} must be at least 2 (each record needs models with "
                          f"and without it), got {value!r}")


def _open_fraction(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ConfigError(f"{attribute.name} must be strictly between 0 and 1, got {value}")


def _name(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{attribute.name} must name a component, got {value!r}")


def _attacks(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    if not value:
        raise ConfigError("at least one --attack is needed")
    if len(set(value)) != len(value):
        raise ConfigError(f"an attack is named twice: {', '.join(value)}")


_optional = attrs.validators.optional


def _optional_path(value: Any) -> str | None:
    """Paths are kept as text, so results.json and --print-config hold them as given."""
    return None if value is None else str(value)


@attrs.frozen
class ExperimentConfig(FieldMap):
    """One membership-inference experiment.

    ``members`` records train the target (``None``: the dataset's suggestion, else 12,000 or a
    quarter of its records when it has fewer); as many non-members are drawn from the pool.
    The attacker knows ``known_fraction`` of each side; the rest is the balanced evaluation
    set. Attacks of the population threat model get ``population`` other records instead
    (``None``: as many as the known records, so each of the ``reference_models`` trains on
    about as many records as the target). ``options`` maps a component label (``dataset``,
    ``target`` or an attack name) to its option values. ``control`` trains the target on other
    records than the members, so every attack should score at chance (a null check).
    ``executor`` trains the reference models with ``workers`` workers (0: it chooses); neither
    changes them.
    """

    dataset: str = setting(None, "Dataset plugin, e.g. mnist.", "str", metavar="NAME",
                           show_default=False, validator=_name)
    target: str = setting("cnn", "Target-model plugin (the model under audit).", "str",
                          metavar="NAME")
    model: str | None = setting(
        None, "Audit this trained model instead of training one: its weights as safetensors or "
        "a saved state dict (loaded into the target's build(); never an unpickled object).",
        "path", metavar="FILE", converter=_optional_path, show_default=False)
    train_records: str | None = setting(
        None, "With --model: the records it was trained on, one dataset record id per line "
        "(or a CSV column record_id); the membership ground truth.", "path", metavar="FILE",
        converter=_optional_path, show_default=False)
    heldout_records: str | None = setting(
        None, "With --model: the records it never saw (default: every record not in "
        "--train-records).", "path", metavar="FILE", converter=_optional_path,
        show_default=False)
    attacks: tuple[str, ...] = setting(
        (), "Attack plugin, e.g. torch-mlp (repeatable: one table for all).", "list",
        flag="--attack", metavar="NAME", aliases=("attack",), converter=tuple,
        validator=_attacks)
    seed: int = setting(0, "Seed for the split, the training and the attacks.", "int",
                        validator=_seed)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps (auto: CUDA, then MPS, then "
                          "CPU).", "str")
    members: int | str | None = setting(
        None, "Records the target is trained on; as many non-members are drawn [default: the "
        f"dataset's suggestion, else {DEFAULT_MEMBERS:,} or a quarter of its records when it "
        "has fewer; with --model, as many of the listed members as the non-members balance]. "
        "'all' (with --model): every listed member.", "members",
        validator=_optional(_members), show_default=False, metavar="N|all")
    known_fraction: float = setting(
        DEFAULT_KNOWN_FRACTION, "Fraction of members and of non-members the attacker knows; "
        "the rest form the balanced evaluation set.", "float", validator=_open_fraction)
    population: int | None = setting(
        None, "Population records for shadow/reference-model attacks [default: as many as the "
        "attacker would know under the known-members model: 2 x known-fraction x members].",
        "int", validator=_optional(_non_negative_int), show_default=False)
    reference_models: int = setting(
        DEFAULT_REFERENCE_MODELS, "Reference (shadow) models, shared by every attack that uses "
        "them.", "int", validator=_at_least_two)
    options: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    control: bool = setting(False, "Null check: train the target on other records than the "
                            "members; every attack should then score at chance.", "bool")
    canaries: int = setting(
        0, "One-run audit: add M mislabelled canary records to the target's training data, "
        "each with probability 1/2, and bound epsilon from how well each known-members attack "
        "tells them apart.", "int", metavar="M", minimum=0, validator=_non_negative_int)
    reporters: tuple[str, ...] = setting(
        (), "Where results go (repeatable): json (files in --output, the default when --output "
        "is given), mlflow, ...", "list", flag="--reporter", metavar="NAME",
        aliases=("reporter",), converter=tuple)
    executor: str = setting("local", "Where reference models are trained: local (this "
                            "machine), ray, ...", "str", metavar="NAME")
    workers: int = setting(0, "Reference models trained at once by the executor (local: "
                           "worker processes; 0: the executor decides).", "int", metavar="N",
                           minimum=0, validator=_non_negative_int)

    def __attrs_post_init__(self) -> None:
        given = [f for f in ("train_records", "heldout_records") if getattr(self, f)]
        if given and self.model is None:
            flags = " and ".join("--" + f.replace("_", "-") for f in given)
            raise ConfigError(f"{flags} describe a given model: add --model FILE")
        if self.members == ALL_MEMBERS and self.model is None:
            raise ConfigError("--members all takes every member of a given model (--model with "
                              "--train-records); a target trained here needs a number")
        if self.model is not None and self.train_records is None:
            raise ConfigError("--model needs --train-records FILE: the records the model was "
                              "trained on are the audit's ground truth")

    @property
    def given_model(self) -> bool:
        """True when the run audits a model trained elsewhere (``--model``)."""
        return self.model is not None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)
