"""Experiment files: ``mia-run --config FILE`` (TOML, or a results.json to rerun) and
``--print-config`` (the effective settings as TOML, ready to save and rerun).

Keys are the long CLI flags (``known-fraction`` or ``known_fraction``); plugin options go in
``[options.COMPONENT]`` tables (bare keys directly under ``[options]``). Flags given on the
command line override the file.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

from mia_core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# file key -> CLI parameter name
KEYS = {
    "dataset": "dataset", "target": "target", "attack": "attacks", "attacks": "attacks",
    "seed": "seed", "seeds": "seeds", "device": "device", "members": "members",
    "known_fraction": "known_fraction", "population": "population",
    "reference_models": "reference_models", "control": "control", "canaries": "canaries",
    "data_dir": "data_dir",
    "output": "output", "cache_dir": "cache_dir", "no_cache": "no_cache", "quiet": "quiet",
    "plugins": "plugins", "strict_plugins": "strict_plugins", "reporter": "reporters",
    "reporters": "reporters", "executor": "executor", "workers": "workers",
}


# CLI parameter -> the TOML/JSON type its value must have (a bool is no int, 1.5 no int)
TYPES: dict[str, tuple[type, ...]] = {
    "seed": (int,), "seeds": (int,), "members": (int,), "population": (int,),
    "reference_models": (int,), "canaries": (int,), "workers": (int,), "executor": (str,),
    "known_fraction": (int, float),
    "control": (bool,), "no_cache": (bool,), "quiet": (bool,), "strict_plugins": (bool,),
    "dataset": (str,), "target": (str,), "device": (str,), "data_dir": (str,), "output": (str,),
    "cache_dir": (str,), "attacks": (list,), "plugins": (list,), "reporters": (list,),
}
TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
              list: "a list of strings"}


def read_config_file(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """(CLI parameter defaults, plugin options) from a TOML file or a results.json."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read --config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path} is not UTF-8 text; save it as UTF-8 TOML") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
            if "config" in data:  # a results.json: rerun its experiment, not its reporters
                data = {k: v for k, v in data["config"].items() if k != "reporters"}
        else:
            data = tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--config {path} is not valid {path.suffix[1:] or 'TOML'}: "
                          f"{str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path} must hold a table of settings")
    params: dict[str, Any] = {}
    options: dict[str, dict[str, str]] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        if key == "options":
            options = _options_table(value, path)
            continue
        if key not in KEYS:
            close = difflib.get_close_matches(key, [*KEYS, "options"], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"unknown key '{raw_key}' in {path}{hint}")
        name = KEYS[key]
        if name in ("attacks", "plugins", "reporters") and isinstance(value, str):
            value = [value]
        if value is not None:
            params[name] = _typed(raw_key, name, value, path)
    return params, options


def _typed(key: str, name: str, value: Any, path: Path) -> Any:
    """``value`` if it has the type parameter ``name`` takes (strictly: True is not 1, 1.5 is
    not 1); ``key`` is how the file spells it."""
    kinds = TYPES[name]
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if ok and isinstance(value, list):
        ok = all(isinstance(v, str) for v in value)
    if ok and value == "" and name in ("data_dir", "output", "cache_dir"):
        raise ConfigError(f"bad value for '{key}' in {path}: empty path; give a folder name")
    if not ok:
        raise ConfigError(f"bad value for '{key}' in {path}: must be {TYPE_NAMES[kinds[-1]]}, got "
                          f"{json.dumps(value) if _jsonable(value) else repr(value)}")
    return value


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _options_table(value: Any, path: Path) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise ConfigError(f"'options' in {path} must be a table")
    options: dict[str, dict[str, str]] = {}
    for key, inner in value.items():
        if isinstance(inner, dict):
            options.setdefault(key, {}).update({k: _text(v) for k, v in inner.items()})
        else:
            options.setdefault("", {})[key] = _text(inner)
    return options


def _text(value: Any) -> str:
    """Option values travel as text, exactly as typed after ``-o KEY=``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_toml(settings: dict[str, Any], options: dict[str, dict[str, Any]]) -> str:
    """Settings and options as TOML that :func:`read_config_file` reads back."""
    lines = []
    for key, value in settings.items():
        if value is None or value == () or value == []:
            continue
        lines.append(f"{key.replace('_', '-')} = {_toml_value(value)}")
    bare = options.get("", {})
    if bare:
        lines += ["", "[options]", *(f"{k} = {_option_value(v)}" for k, v in bare.items())]
    for component, values in options.items():
        if component and values:
            lines += ["", f'[options."{component}"]',
                      *(f"{k} = {_option_value(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def _option_value(text: Any) -> str:
    """An option as typed (text) -> a TOML number or boolean where it reads as one."""
    if isinstance(text, str):
        if text.lower() in ("true", "false"):
            return text.lower()
        for kind in (int, float):
            try:
                return repr(kind(text))
            except ValueError:
                pass
    return _toml_value(text)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string
