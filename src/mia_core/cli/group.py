"""``mia``: the command group. ``mia run`` is ``mia-run``; ``plugins``, ``describe``,
``config`` and ``cache`` are its modes as commands, ``report`` and ``metrics`` work on
finished runs and on scores from elsewhere; plugins add their own through the
``register_commands`` hook, loaded only when the group needs its list of commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mia_core.cli.cache import cache
from mia_core.cli.errors import OneLineGroup, stop_on_signals, user_errors
from mia_core.cli.mia_run import (
    experiment_config,
    merge_config_file,
    run,
    run_options,
    run_settings,
)
from mia_core.cli.plugins import cache_folder, open_catalog
from mia_core.cli.report import metrics, report
from mia_core.cli.settings import experiment_keys
from mia_core.errors import describe

json_option = click.option("--json", "as_json", is_flag=True, help="As JSON.")
plugin_option = click.option("-p", "--plugin", "plugins", multiple=True, metavar="NAME|no:NAME",
                             help="Load plugin NAME even if autoload is off, or block it.")


class MiaGroup(OneLineGroup):
    """The built-in commands, then the plugins' (collected once per invocation). A plugin that
    fails to add its commands is warned about and loses them; it never takes the others' or
    the built-ins' away."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *plugin_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.commands.get(name) or plugin_commands(ctx).get(name)


def plugin_commands(ctx: click.Context) -> dict[str, click.Command]:
    """Every loaded plugin's commands, each plugin's hook called on a group of its own."""
    meta = ctx.find_root().meta
    if "mia.plugin_commands" not in meta:
        meta["mia.plugin_commands"] = _collect_commands(set(mia.commands))
    return meta["mia.plugin_commands"]


def _collect_commands(builtin: set[str]) -> dict[str, click.Command]:
    from mia_core.catalog.loading import call_for

    catalog = open_catalog(quiet_warnings=True)
    found: dict[str, click.Command] = {}
    for info in catalog.loaded():
        if "register_commands" not in info.hooks or catalog.manager is None:
            continue
        own = click.Group(info.name)
        try:
            call_for(catalog.manager, info.name, "register_commands", cli=own)
        except (Exception, SystemExit) as exc:
            click.echo(f"warning: plugin '{info.name}' could not add its commands: "
                       f"{describe(exc)}", err=True)
            continue
        for name, command in own.commands.items():
            if name in builtin or name in found:
                click.echo(f"warning: plugin '{info.name}' tried to replace the command "
                           f"'{name}'; kept the original", err=True)
                continue
            found[name] = command
    return found


@click.group(cls=MiaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mia-core")
def mia() -> None:
    """mia-core: can an attacker tell whether a record was in a model's training set?

    Start with: mia run --dataset mnist --attack torch-mlp
    """


run.short_help = "Run an experiment (same options as mia-run)."
mia.add_command(run, "run")
mia.add_command(cache)
mia.add_command(report)
mia.add_command(metrics)


@mia.command("plugins", short_help="List plugins and what they provide.")
@json_option
@plugin_option
def plugins(as_json: bool, plugins: tuple[str, ...]) -> None:
    """Every plugin and what it provides, broken and blocked ones included."""
    from mia_core.cli.listing import print_listing

    with user_errors(False):
        print_listing(open_catalog(plugins, cache_folder(None, False)), as_json)


@mia.command("describe", short_help="Show a component's options.")
@click.argument("name")
@json_option
@plugin_option
def describe_command(name: str, as_json: bool, plugins: tuple[str, ...]) -> None:
    """A component's description and options (type, default, choices, help)."""
    from mia_core.cli.listing import print_description

    with user_errors(False):
        print_description(open_catalog(plugins, cache_folder(None, False)), name, as_json)


@mia.command("config", short_help="Check a config file; print its settings.")
@click.argument("config_path", metavar="FILE", type=click.Path(path_type=Path))
@run_options
def config(config_path: Path, **settings: Any) -> None:
    """Check a config file (every name and option, no training) and print the effective
    settings as TOML; flags given here override the file, as with mia run."""
    with user_errors(settings["debug"]):
        settings["config_file"] = settings["config_file"] or config_path
        settings, options = merge_config_file(settings)
        from mia_core.cli.configfile import to_toml
        from mia_core.experiment.plan import make_plan

        how = run_settings(settings)
        config = experiment_config(settings, options, how)
        catalog = open_catalog(how.plugins, cache_folder(how.cache_dir, how.no_cache),
                               how.strict_plugins)
        make_plan(config, catalog)  # unknown names, bad options: the run would fail here
        click.echo(to_toml({k: settings[k] for k in experiment_keys()}, options), nl=False)


def main() -> None:
    stop_on_signals()
    mia()
