"""The experiment configuration: everything that determines a run, validated up front."""

from __future__ import annotations

from typing import Any

import attrs

from mia_core.errors import ConfigError

DEFAULT_MEMBERS = 12_000
DEFAULT_KNOWN_FRACTION = 0.5
DEFAULT_REFERENCE_MODELS = 8
MAX_SEED = 2**63 - 1  # torch generators take seeds below 2**64; derived seeds stay in int64


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not _is_int(value) or value <= 0:
        raise ConfigError(f"{attribute.name} must be a positive integer, got {value!r}")


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


def _attacks(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    if not value:
        raise ConfigError("at least one --attack is needed")
    if len(set(value)) != len(value):
        raise ConfigError(f"an attack is named twice: {', '.join(value)}")


@attrs.frozen
class ExperimentConfig:
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

    dataset: str
    target: str
    attacks: tuple[str, ...] = attrs.field(converter=tuple, validator=_attacks)
    seed: int = attrs.field(default=0, validator=_seed)
    device: str = "auto"
    members: int | None = attrs.field(default=None, validator=attrs.validators.optional(
        _positive_int))
    known_fraction: float = attrs.field(default=DEFAULT_KNOWN_FRACTION, validator=_open_fraction)
    population: int | None = attrs.field(default=None, validator=attrs.validators.optional(
        _non_negative_int))
    reference_models: int = attrs.field(default=DEFAULT_REFERENCE_MODELS,
                                        validator=_at_least_two)
    options: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    control: bool = False
    canaries: int = attrs.field(default=0, validator=_non_negative_int)
    reporters: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    executor: str = "local"
    workers: int = attrs.field(default=0, validator=_non_negative_int)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)
