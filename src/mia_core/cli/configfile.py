"""Experiment files: ``mia-run --config FILE`` (TOML, or a results.json to rerun) and
``--print-config`` (the effective settings as TOML, ready to save and rerun).

Keys are the long CLI flags (``known-fraction`` or ``known_fraction``); plugin options go in
``[options.COMPONENT]`` tables (bare keys directly under ``[options]``). Flags given on the
command line override the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mia_core.cli.settings import all_settings
from mia_core.errors import ConfigError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

VALUE_TYPES: dict[str, tuple[type, ...]] = {  # a setting's kind -> the TOML types it takes
    "str": (str,), "path": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
    "list": (list,), "members": (str, int),
}


def _keys() -> dict[str, tuple[str, str]]:
    """Config-file key -> (setting name, kind), derived from the settings' declarations."""
    keys = {}
    for name, how, _ in all_settings():
        for key in (name, *how.aliases):
            keys[key] = (name, how.kind)
    return keys


KEYS = _keys()
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
                data = _rerun(data)
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
            hint = did_you_mean(key, [*KEYS, "options"], n=1, cutoff=0.6)
            raise ConfigError(f"unknown key '{raw_key}' in {path}{hint}")
        name, kind = KEYS[key]
        if kind == "list" and isinstance(value, str):
            value = [value]
        if value is not None:
            params[name] = _typed(raw_key, kind, value, path)
    return params, options


def _typed(key: str, kind: str, value: Any, path: Path) -> Any:
    """``value`` if it has the type a setting of ``kind`` takes (strictly: True is not 1, 1.5
    is not 1); ``key`` is how the file spells it."""
    kinds = VALUE_TYPES[kind]
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if ok and isinstance(value, list):
        ok = all(isinstance(v, str) for v in value)
    if ok and value == "" and kind == "path":
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


def _rerun(results: dict[str, Any]) -> dict[str, Any]:
    """The experiment of a results.json, with the options its components ran with: every
    value, as the component normalised it (a relative path made absolute), not as typed, so a
    rerun from another folder or another release does what the run did. A results.json from
    before effective options were kept uses the options as given."""
    config = {k: v for k, v in results["config"].items() if k != "reporters"}
    if results.get("plugins"):  # the -p the run was given: its plugins load again
        config["plugins"] = list(results["plugins"])
    ran = results.get("options")
    if isinstance(ran, dict):
        attacks = config.get("attacks") or []
        config["options"] = {label: values for label, values in ran.items()
                             if label in ("dataset", "target", *attacks)}
    return config


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
