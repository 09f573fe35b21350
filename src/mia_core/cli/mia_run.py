"""``mia-run`` and ``mia run``: run a membership-inference experiment (or list or describe
plugins, or print the effective settings)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from mia_core.cli.errors import OneLineCommand, stop_on_signals, user_errors
from mia_core.cli.plugins import cache_folder, open_catalog
from mia_core.cli.settings import RunSettings, experiment_keys, non_empty_path, setting_options
from mia_core.config import MAX_SEED, ExperimentConfig, settings_of
from mia_core.errors import ConfigError, MiaError, ReportError, Stopped, stopped_inside

EXPERIMENT_FIELDS = [name for name, _, _ in settings_of(ExperimentConfig)]
RUN_FIELDS = [name for name, _, _ in settings_of(RunSettings)]


def parse_option_pairs(pairs: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``("attack.epochs=5", "lr=0.1")`` -> ``{"attack": {"epochs": "5"}, "": {"lr": "0.1"}}``."""
    options: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        prefix, dot, name = key.strip().rpartition(".")
        if not sep or not name:
            raise ConfigError(f"-o expects KEY=VALUE or COMPONENT.KEY=VALUE, got {pair!r}")
        options.setdefault(prefix if dot else "", {})[name] = value
    return options


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Every option of ``mia-run``: the declared settings, then the modes and output format."""
    modes = [
        click.option("-o", "--option", "option_pairs", multiple=True, metavar="KEY=VALUE",
                     help="Plugin option, e.g. -o target.epochs=5 or -o lira.variance=global."),
        click.option("--config", "config_file", type=click.Path(), callback=non_empty_path,
                     metavar="FILE", help="Read settings from a TOML file (or a results.json); "
                     "flags override it."),
        click.option("--print-config", is_flag=True,
                     help="Print the effective settings as TOML (for --config) and exit."),
        click.option("--list-plugins", is_flag=True, help="List installed plugins and exit."),
        click.option("--describe", metavar="NAME", help="Show a component's options and exit."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print the summary (or listing) as JSON."),
        click.option("--debug", is_flag=True, help="Show tracebacks for errors."),
    ]
    for option in reversed(modes):
        func = option(func)
    return setting_options(func)


@click.command(cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@run_options
@click.version_option(package_name="mia-core")
def run(**settings: Any) -> None:
    """Audit a model: can an attacker tell whether a record was in its training set?

    Example: mia-run --dataset mnist --attack torch-mlp
    """
    with user_errors(settings["debug"]):
        settings, options, how, cache, catalog = open_run(settings)
        if settings["list_plugins"] or settings["describe"]:
            from mia_core.cli.listing import print_description, print_listing

            if settings["describe"]:
                print_description(catalog, settings["describe"], settings["as_json"],
                                  how.data_dir)
            else:
                print_listing(catalog, settings["as_json"])
            return
        config = experiment_config(settings, options, how)
        if settings["print_config"]:
            from mia_core.cli.configfile import to_toml

            click.echo(to_toml({k: settings[k] for k in experiment_keys()}, options), nl=False)
            return
        use_threads(how)
        run_seeds(config, catalog, how, settings["as_json"], cache)


def open_run(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], RunSettings,
                                                 Path | None, Any]:
    """What running ``mia-run``'s parsed flags starts from, for the command and for
    :func:`mia_core.audit` alike: the flags with ``--config`` merged in, the plugin options,
    the run settings, the model-cache folder and the loaded plugins."""
    settings, options = merge_config_file(settings)
    how = run_settings(settings)
    cache = cache_folder(how.cache_dir, how.no_cache)
    return settings, options, how, cache, open_catalog(how.plugins, cache, how.strict_plugins)


def use_threads(how: RunSettings) -> None:
    """torch's CPU threads for this run, where ``--threads`` sets them."""
    if how.threads:
        import torch

        torch.set_num_threads(how.threads)


def run_settings(settings: dict[str, Any]) -> RunSettings:
    """How this run goes besides the experiment, typed, from the parsed flags."""
    return RunSettings(**{k: settings[k] for k in RUN_FIELDS})


def experiment_config(settings: dict[str, Any], options: dict[str, Any],
                      how: RunSettings) -> ExperimentConfig:
    """The experiment the settings describe, checked before any plugin is asked anything."""
    if not settings["dataset"] or not settings["attacks"]:
        raise ConfigError("--dataset and --attack are required (or use --list-plugins); "
                          "try: mia-run --dataset mnist --attack torch-mlp")
    if not settings["reporters"] and how.output is not None:
        settings["reporters"] = ("json",)
    config = ExperimentConfig(**{k: settings[k] for k in EXPERIMENT_FIELDS}, options=options)
    if "json" in config.reporters and how.output is None:  # not after hours of work
        raise ConfigError("--reporter json writes its files into a folder: add --output DIR")
    if config.seed + how.seeds - 1 > MAX_SEED:
        raise ConfigError(f"--seed {config.seed} with --seeds {how.seeds} goes past "
                          "the largest seed, 2**63 - 1")
    return config


def merge_config_file(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Settings from --config where no flag was given; plugin options merged per key."""
    cli_options = parse_option_pairs(settings["option_pairs"])
    path = settings["config_file"]
    if path is None:
        return settings, cli_options
    from mia_core.cli.configfile import read_config_file

    file_params, options = read_config_file(path)
    ctx = click.get_current_context()
    params = {p.name: p for p in ctx.command.params}
    merged = dict(settings)
    for name, value in file_params.items():
        if ctx.get_parameter_source(name) != ParameterSource.DEFAULT:
            continue  # the command line wins
        try:
            merged[name] = params[name].type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise ConfigError(f"bad value for '{name.replace('_', '-')}' in {path}: "
                              f"{exc.message}") from None
    for prefix, values in cli_options.items():
        options.setdefault(prefix, {}).update(values)
    return merged, options


def run_seeds(config: ExperimentConfig, catalog: Any, how: RunSettings, as_json: bool,
              cache_dir: Path | None) -> None:
    """Run the experiment for ``--seeds`` consecutive seeds and print the summary."""
    from mia_core.progress import Progress

    try:
        results = measure_seeds(config, catalog, how, cache_dir, Progress(enabled=not how.quiet))
    except ReportError as exc:  # the work is done: show it before saying what failed
        click.echo(_shown(exc.result, as_json))
        raise
    click.echo(summarise_seeds(results, as_json))
    if how.output is not None and "json" in config.reporters and not as_json:
        click.echo(f"report: {report_path(how.output)}")


def measure_seeds(config: ExperimentConfig, catalog: Any, how: RunSettings,
                  cache_dir: Path | None, progress: Any) -> list[Any]:
    """The experiment's results for ``--seeds`` consecutive seeds (each in its own folder
    under ``--output`` when there are several), with ``progress`` shown as it goes. The one
    path the command line and :func:`mia_core.audit` take."""
    import attrs

    from mia_core.experiment.run import run_experiment
    from mia_core.training.cache import ModelCache

    output, seeds = how.output, how.seeds
    if output is not None:
        refuse_existing(output)
        check_writable(output)
    results = []
    for k in range(seeds):
        run_config = attrs.evolve(config, seed=config.seed + k)
        if seeds > 1:
            progress.message(f"=== seed {run_config.seed} ({k + 1}/{seeds}) ===")
        folder = output if seeds == 1 or output is None else output / f"seed-{run_config.seed}"
        cache = ModelCache(cache_dir, progress)
        try:
            result, _ = run_experiment(run_config, catalog, data_dir=how.data_dir,
                                       progress=progress, cache=cache, output=folder)
        except ReportError:  # the work is done: a reporter's failure is never taken for a stop
            raise
        except (Stopped, KeyboardInterrupt) as stop:
            raise _what_was_kept(stop, cache, cache_dir) from None
        except Exception as exc:  # a stop inside a C extension arrives as its error
            stop = stopped_inside(exc)
            if stop is None:
                raise
            raise _what_was_kept(stop, cache, cache_dir) from None
        results.append(result)
    if output is not None and seeds > 1:
        from mia_core.results.repeats import aggregate

        (output / "seeds.json").write_text(json.dumps(aggregate(results).to_dict(), indent=2)
                                           + "\n")
        if "json" in config.reporters:
            from mia_core.results.report import write_report

            write_report([output], report_path(output))  # the one report over all seeds
    return results


def summarise_seeds(results: list[Any], as_json: bool) -> str:
    """One run's summary, or the mean and interval over several seeds."""
    if len(results) == 1:
        return _shown(results[0], as_json)
    from mia_core.results.repeats import aggregate, format_aggregate

    summary = aggregate(results)
    return json.dumps(summary.to_dict(), indent=2) if as_json else format_aggregate(summary)


def _what_was_kept(stop: BaseException, cache: Any, folder: Path | None) -> Stopped:
    """The stop, saying what of the work survives it."""
    signum = stop.signum if isinstance(stop, Stopped) else signal.SIGINT
    stopped = Stopped(signum)
    if folder is None:
        stopped.kept = "; nothing was kept (--no-cache)"
    else:
        stopped.kept = (f"; the {cache.trained} model(s) finished in this run are in the model "
                        f"cache ({folder}), so a rerun trains only the rest")
    return stopped


def _shown(result: Any, as_json: bool) -> str:
    from mia_core.results.summary import format_summary

    return json.dumps(result.to_dict(), indent=2) if as_json else format_summary(result)


def report_path(output: Path) -> Path:
    """Where a run's report is."""
    from mia_core.results.files import REPORT_FILE

    return output / REPORT_FILE


def refuse_existing(output: Path) -> None:
    """Fail before hours of work, not after, when --output would overwrite earlier results."""
    from mia_core.results.files import RESULTS_FILE

    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {output} exists and is not a folder")
    for name in (RESULTS_FILE, "seeds.json"):
        if (output / name).exists():
            raise ConfigError(f"{output} already holds {name}; choose another --output folder "
                              "or move it away")


def check_writable(output: Path) -> None:
    """Create --output and write a probe file in it now, not after hours of training."""
    import tempfile

    try:
        output.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output, prefix=".mia-write-check"):
            pass
    except OSError as exc:
        raise MiaError(f"cannot write to --output {output}: {exc.strerror or exc}; choose a "
                       "folder you can write to") from None


def main() -> None:
    stop_on_signals()
    run()
