"""The experiment configuration: everything that determines a run, validated up front."""

from __future__ import annotations

from typing import Any

import attrs

from .errors import ConfigError

DEFAULT_MEMBERS = 12_000
DEFAULT_KNOWN_FRACTION = 0.5


def _positive_int(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{attribute.name} must be a positive integer, got {value!r}")


def _non_negative_int(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"{attribute.name} must be a non-negative integer, got {value!r}")


def _open_fraction(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{attribute.name} must be strictly between 0 and 1, got {value}")


def _attacks(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    if not value:
        raise ConfigError("at least one --attack is needed")
    if len(set(value)) != len(value):
        raise ConfigError(f"an attack is named twice: {', '.join(value)}")


@attrs.frozen
class ExperimentConfig:
    """One membership-inference experiment.

    ``members`` records train the target; as many non-members are drawn from the same pool.
    The attacker knows ``known_fraction`` of each side; the rest is the balanced evaluation
    set. ``options`` maps a component label (``dataset``, ``target`` or an attack name) to its
    option values.
    """

    dataset: str
    target: str
    attacks: tuple[str, ...] = attrs.field(converter=tuple, validator=_attacks)
    seed: int = 0
    device: str = "auto"
    members: int = attrs.field(default=DEFAULT_MEMBERS, validator=_positive_int)
    known_fraction: float = attrs.field(default=DEFAULT_KNOWN_FRACTION, validator=_open_fraction)
    population: int = attrs.field(default=0, validator=_non_negative_int)
    options: dict[str, dict[str, Any]] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)
