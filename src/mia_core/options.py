"""Typed component options: declared as attrs classes, set from ``KEY=VALUE`` strings.

A component declares its options as an attrs class whose fields all have a default, a type
(``int``, ``float``, ``bool`` or ``str``) and, ideally, help text via :func:`option`. The core
parses, type-checks and validates what the user typed before any work starts.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

import attrs

from mia_core.errors import ConfigError

SUPPORTED_TYPES = (bool, int, float, str)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def option(default: Any, help: str = "", validator: Any = None, choices: Any = None,
           allow_nonfinite: bool = False, converter: Any = None, *, factory: Any = None,
           extra: dict[str, Any] | None = None) -> Any:
    """Declare one typed field: ``epochs: int = option(30, "training epochs", positive)``.

    The one declaration of every option of a component and every setting of a run
    (:func:`mia_core.config.setting` adds how a setting is spelt on the command line, in
    ``extra``). A float option rejects nan and ±inf unless ``allow_nonfinite`` says
    otherwise; ``converter`` normalises a given value before validation (e.g. a path made
    absolute); ``factory`` makes a mutable default.
    """
    validators = [v for v in (validator, attrs.validators.in_(choices) if choices else None) if v]
    default_args = {"factory": factory} if factory is not None else {"default": default}
    return attrs.field(
        **default_args,
        validator=validators or None,
        converter=converter,
        metadata={"help": help, "choices": tuple(choices) if choices else None,
                  **({"allow_nonfinite": True} if allow_nonfinite else {}), **(extra or {})},
    )


def positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """attrs validator: a finite value > 0."""
    if not value > 0 or value == math.inf:  # `not >` also rejects nan
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value}")


def fraction(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """attrs validator: 0 < value < 1."""
    if not 0 < value < 1:
        raise ValueError(f"{attribute.name} must be between 0 and 1 (exclusive), got {value}")


def fields_of(cls: type) -> tuple[attrs.Attribute, ...]:
    """The option fields of ``cls`` with their annotations resolved to real types."""
    attrs.resolve_types(cls)
    return attrs.fields(cls)


def check_options_class(cls: object) -> str | None:
    """Return why ``cls`` cannot serve as an options class, or ``None`` when it can."""
    if not (isinstance(cls, type) and attrs.has(cls)):
        return f"{cls!r} is not an attrs class"
    try:
        fields = fields_of(cls)
    except Exception as exc:  # unresolvable annotations
        return f"cannot resolve the field types of {cls.__name__}: {exc}"
    for f in fields:
        if f.default is attrs.NOTHING:
            return f"option '{f.name}' of {cls.__name__} has no default"
        if f.type not in SUPPORTED_TYPES:
            kind = getattr(f.type, "__name__", repr(f.type))
            return (f"option '{f.name}' of {cls.__name__} has unsupported type {kind} "
                    "(use int, float, bool or str)")
    return None


def parse_value(text: str, kind: type) -> Any:
    """Convert the user's text into ``kind``; raises ValueError with a readable message."""
    if kind is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"expected true/false, got {text!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    return text


def build_options(cls: type | None, values: Mapping[str, Any], label: str) -> Any:
    """Instantiate ``cls`` from user values (strings or already-typed), validating everything.

    ``label`` names the component in messages, e.g. ``attack 'torch-mlp'``.
    """
    if cls is None:
        if values:
            raise ConfigError(f"{label} takes no options, got: {', '.join(sorted(values))}")
        return None
    fields = {f.name: f for f in fields_of(cls)}
    kwargs = {}
    for key, raw in values.items():
        field = fields.get(key)
        if field is None:
            raise ConfigError(unknown_option_message(key, sorted(fields), label))
        try:
            kwargs[key] = check_value(field, parse_value(raw, field.type)
                                      if isinstance(raw, str) else raw)
        except ValueError as exc:
            raise ConfigError(f"option '{key}' of {label}: {exc}") from None
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"bad option for {label}: {_first_line(exc)}") from None


def check_value(field: attrs.Attribute, value: Any) -> Any:
    """The checks every option gets before its own validators: choices, finite numbers."""
    choices = field.metadata.get("choices")
    if choices and value not in choices:
        raise ValueError(f"must be one of {', '.join(map(str, choices))}; got {value!r}")
    if (isinstance(value, float) and not math.isfinite(value)
            and not field.metadata.get("allow_nonfinite")):
        raise ValueError(f"must be a finite number, got {value}")
    return value


def _first_line(exc: Exception) -> str:
    """attrs validators raise ``ValueError(message, attribute, ...)``: keep the message."""
    first = exc.args[0] if exc.args else exc
    return str(first).splitlines()[0] if str(first) else type(exc).__name__


def unknown_option_message(key: str, known: list[str], label: str) -> str:
    msg = f"unknown option '{key}' for {label}"
    close = difflib.get_close_matches(key, known, n=2, cutoff=0.6)
    if close:
        msg += f"; did you mean {' or '.join(repr(c) for c in close)}?"
    return msg + f" (options: {', '.join(known) if known else 'none'})"


def describe_options(cls: type | None) -> list[dict[str, Any]]:
    """Options as plain dicts (name, type, default, help, choices) for listings and --describe."""
    if cls is None:
        return []
    return [
        {
            "name": f.name,
            "type": f.type.__name__,
            "default": f.default,
            "help": f.metadata.get("help", ""),
            "choices": list(f.metadata["choices"]) if f.metadata.get("choices") else None,
        }
        for f in fields_of(cls)
    ]


def as_dict(options: Any) -> dict[str, Any]:
    """The effective option values (empty for components without options)."""
    return attrs.asdict(options) if options is not None else {}
