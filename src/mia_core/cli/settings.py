"""Settings of a command-line run, and the click options derived from every declared setting.

:class:`RunSettings` holds what is not the experiment itself (where data, cache and results
live, how loud to be); :class:`~mia_core.config.ExperimentConfig` holds the
experiment. Both declare their fields with ``setting(...)``; the options below, the config
file's keys and ``--print-config`` are derived from those declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click

from mia_core.config import ExperimentConfig, Setting, setting, settings_of


def _path(value: Any) -> Path | None:
    return None if value is None else Path(value)


@attrs.frozen
class RunSettings:
    """How one command-line run goes, besides the experiment."""

    seeds: int = setting(1, "Repeat with this many consecutive seeds; report mean and 95% "
                         "interval.", "int", minimum=1)
    data_dir: Path | None = setting(None, "Data folder (default: $MIA_DATA_DIR, else a "
                                    "per-user cache folder).", "path", printed=False,
                                    converter=_path)
    output: Path | None = setting(None, "Write results.json, evaluation.csv, split.json and ROC "
                                  "files here.", "path", metavar="DIR", printed=False,
                                  converter=_path)
    cache_dir: Path | None = setting(None, "Trained-model cache (default: $MIA_CACHE_DIR, else "
                                     "~/.cache/mia-core/models).", "path", printed=False,
                                     converter=_path)
    no_cache: bool = setting(False, "Train every model afresh; no model cache.", "bool",
                             printed=False)
    threads: int | None = setting(
        None, "CPU threads for torch in this run [default: torch's, which follows "
        "OMP_NUM_THREADS]; with several runs side by side, give each its share.", "int",
        metavar="N", minimum=1, printed=False, show_default=False)
    plugins: tuple[str, ...] = setting(
        (), "Load plugin NAME even if autoload is off, or block it with no:NAME.", "list",
        flag="--plugin", short="-p", metavar="NAME|no:NAME", printed=False, converter=tuple)
    strict_plugins: bool = setting(False, "Fail when any plugin cannot be loaded.", "bool",
                                   printed=False)
    quiet: bool = setting(False, "No progress output on stderr.", "bool", short="-q",
                          printed=False)


SETTING_CLASSES = (ExperimentConfig, RunSettings)


def all_settings() -> list[tuple[str, Setting, Any]]:
    """Every declared setting: the experiment's, then the run's."""
    return [s for cls in SETTING_CLASSES for s in settings_of(cls)]


def non_empty_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An empty path is a mistake (an unset variable), not the current folder."""
    if value is not None and str(value) == "":
        raise click.BadParameter("empty path; give a folder or file name", ctx, param)
    return Path(value) if value is not None else None


def setting_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command with one option per declared setting."""
    for name, how, default in reversed(all_settings()):
        func = click_option(name, how, default)(func)
    return func


def click_option(name: str, how: Setting, default: Any) -> Callable[..., Any]:
    """The click option for one setting."""
    flag = how.flag or f"--{name.replace('_', '-')}"
    decls = [d for d in (how.short, flag) if d] + [name]
    kwargs: dict[str, Any] = {"help": how.help, "metavar": how.metavar}
    if how.kind == "bool":
        kwargs.update(is_flag=True, default=default, metavar=None)
    elif how.kind == "list":
        kwargs.update(multiple=True)
    elif how.kind == "path":
        kwargs.update(type=click.Path(), callback=non_empty_path)
    else:
        kwargs.update(default=default, type=_click_type(how),
                      show_default=how.show_default and default is not None)
    return click.option(*decls, **kwargs)


class MembersType(click.ParamType):
    """A positive number of members, or ``all``."""

    name = "members"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, int) or value == "all":
            return value
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'all'", param, ctx)
        if number < 1:
            self.fail(f"{number} is not a positive number", param, ctx)
        return number


def _click_type(how: Setting) -> Any:
    if how.kind == "members":
        return MembersType()
    if how.kind == "int":
        return int if how.minimum is None else click.IntRange(min=how.minimum)
    return {"str": str, "float": float}[how.kind]


def experiment_keys() -> list[str]:
    """The settings ``--print-config`` writes: the experiment and its repetitions."""
    return [name for name, how, _ in all_settings() if how.printed and name != "options"]
