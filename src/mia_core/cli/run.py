"""``mia-run``: run a membership-inference experiment, list or describe plugins."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from mia_core.errors import ConfigError, MiaError, ReportError
from mia_core.experiment.config import (
    DEFAULT_KNOWN_FRACTION,
    DEFAULT_MEMBERS,
    DEFAULT_REFERENCE_MODELS,
    MAX_SEED,
    ExperimentConfig,
)

DEFAULT_TARGET = "cnn"
EXPERIMENT_KEYS = ("dataset", "target", "attacks", "seed", "seeds", "device", "members",
                   "known_fraction", "population", "reference_models", "control", "canaries",
                   "reporters", "executor", "workers")


class OneLineCommand(click.Command):
    """Usage errors as one ``Error: ...`` line (exit 2), like every other error."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def non_empty_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An empty path is a mistake (an unset variable), not the current folder."""
    if value is not None and str(value) == "":
        raise click.BadParameter("empty path; give a folder or file name", ctx, param)
    return Path(value) if value is not None else None


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


@contextmanager
def user_errors(debug: bool) -> Iterator[None]:
    """Turn every failure into one line on stderr and an exit code (traceback with --debug)."""
    try:
        yield
    except MiaError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the "
                   "traceback)", err=True)
        sys.exit(1)


@click.command(cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dataset", metavar="NAME", help="Dataset plugin, e.g. mnist.")
@click.option("--attack", "attacks", metavar="NAME", multiple=True,
              help="Attack plugin, e.g. torch-mlp (repeatable: one table for all).")
@click.option("--target", default=DEFAULT_TARGET, show_default=True, metavar="NAME",
              help="Target-model plugin (the model under audit).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed for the split, the training and the attacks.")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(min=1),
              help="Repeat with this many consecutive seeds; report mean and 95% interval.")
@click.option("--device", default="auto", show_default=True,
              help="auto, cpu, cuda, cuda:N or mps (auto: CUDA, then MPS, then CPU).")
@click.option("--members", type=int, help="Records the target is trained on; as many "
              "non-members are drawn [default: the dataset's suggestion, else "
              f"{DEFAULT_MEMBERS:,} or a quarter of its records when it has fewer].")
@click.option("--known-fraction", default=DEFAULT_KNOWN_FRACTION, show_default=True,
              type=float, help="Fraction of members and of non-members the attacker knows; "
              "the rest form the balanced evaluation set.")
@click.option("--population", type=int, default=None,
              help="Population records for shadow/reference-model attacks [default: as many "
              "as the attacker would know under the known-members model: 2 x known-fraction x "
              "members].")
@click.option("--reference-models", default=DEFAULT_REFERENCE_MODELS, show_default=True,
              type=int, help="Reference (shadow) models, shared by every attack that uses them.")
@click.option("--executor", default="local", show_default=True, metavar="NAME",
              help="Where reference models are trained: local (this machine), ray, ...")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              metavar="N", help="Reference models trained at once by the executor (local: "
              "worker processes; 0: the executor decides).")
@click.option("--control", is_flag=True,
              help="Null check: train the target on other records than the members; every "
              "attack should then score at chance.")
@click.option("--canaries", default=0, show_default=True, type=click.IntRange(min=0),
              metavar="M", help="One-run audit: add M mislabelled canary records to the "
              "target's training data, each with probability 1/2, and bound epsilon from how "
              "well each known-members attack tells them apart.")
@click.option("--data-dir", type=click.Path(), callback=non_empty_path,
              help="Data folder (default: $MIA_DATA_DIR, else a per-user cache folder).")
@click.option("--output", type=click.Path(), callback=non_empty_path, metavar="DIR",
              help="Write results.json, evaluation.csv, split.json and ROC files here.")
@click.option("--reporter", "reporters", metavar="NAME", multiple=True,
              help="Where results go (repeatable): json (files in --output, the default when "
              "--output is given), mlflow, ...")
@click.option("--cache-dir", type=click.Path(), callback=non_empty_path,
              help="Trained-model cache (default: $MIA_CACHE_DIR, else ~/.cache/mia-core/models).")
@click.option("--no-cache", is_flag=True, help="Train every model afresh; no model cache.")
@click.option("--threads", type=click.IntRange(min=1), metavar="N",
              help="CPU threads for torch in this run [default: torch's, which follows "
              "OMP_NUM_THREADS]; with several runs side by side, give each its share.")
@click.option("-o", "--option", "option_pairs", multiple=True, metavar="KEY=VALUE",
              help="Plugin option, e.g. -o target.epochs=5 or -o lira.variance=global.")
@click.option("--config", "config_file", type=click.Path(), callback=non_empty_path, metavar="FILE",
              help="Read settings from a TOML file (or a results.json); flags override it.")
@click.option("--print-config", is_flag=True,
              help="Print the effective settings as TOML (for --config) and exit.")
@click.option("-p", "--plugin", "plugins", multiple=True, metavar="NAME|no:NAME",
              help="Load plugin NAME even if autoload is off, or block it with no:NAME.")
@click.option("--strict-plugins", is_flag=True,
              help="Fail when any plugin cannot be loaded.")
@click.option("--list-plugins", is_flag=True, help="List installed plugins and exit.")
@click.option("--describe", metavar="NAME", help="Show a component's options and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or listing) as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output on stderr.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="mia-core")
def run(**settings: Any) -> None:
    """Audit a model: can an attacker tell whether a record was in its training set?

    Example: mia-run --dataset mnist --attack torch-mlp
    """
    with user_errors(settings["debug"]):
        settings, options = _merge_config_file(settings)
        from mia_core.catalog.index import INDEX_FILE, PluginIndex
        from mia_core.catalog.loading import (
            load_catalog,  # plugins load only when a command needs them
        )
        from mia_core.catalog.selection import PluginSelection

        selection = PluginSelection.from_sources(settings["plugins"])
        # --no-cache: nothing is read from or written to the cache folder, the index included
        cache = None if settings["no_cache"] else (settings["cache_dir"] or _default_cache_dir())
        index = PluginIndex(cache / INDEX_FILE if cache is not None else None)
        catalog = load_catalog(selection=selection, index=index)
        if settings["strict_plugins"]:
            catalog.check_strict()
        for warning in catalog.warnings:
            click.echo(warning, err=True)
        if settings["list_plugins"]:
            _print_listing(catalog, settings["as_json"])
            return
        if settings["describe"]:
            _print_description(catalog, settings["describe"], settings["as_json"])
            return
        if not settings["dataset"] or not settings["attacks"]:
            raise ConfigError("--dataset and --attack are required (or use --list-plugins); "
                              "try: mia-run --dataset mnist --attack torch-mlp")
        if not settings["reporters"] and settings["output"] is not None:
            settings["reporters"] = ("json",)
        config = ExperimentConfig(
            **{k: settings[k] for k in EXPERIMENT_KEYS if k != "seeds"}, options=options)
        if settings["print_config"]:
            from mia_core.cli.configfile import to_toml

            click.echo(to_toml({k: settings[k] for k in EXPERIMENT_KEYS}, options), nl=False)
            return
        if config.seed + settings["seeds"] - 1 > MAX_SEED:
            raise ConfigError(f"--seed {config.seed} with --seeds {settings['seeds']} goes past "
                              "the largest seed, 2**63 - 1")
        if settings["threads"]:
            import torch

            torch.set_num_threads(settings["threads"])
        _run(config, catalog, settings["data_dir"], settings["output"], settings["as_json"],
             settings["quiet"], cache, settings["seeds"])


def _merge_config_file(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
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


def _run(config: ExperimentConfig, catalog: Any, data_dir: Path | None, output: Path | None,
         as_json: bool, quiet: bool, cache_dir: Path | None, seeds: int) -> None:
    """Run the experiment for ``seeds`` consecutive seeds; ``cache_dir`` None: no cache."""
    import attrs

    from mia_core.experiment.run import run_experiment
    from mia_core.progress import Progress
    from mia_core.results.repeats import aggregate, format_aggregate
    from mia_core.results.types import format_summary
    from mia_core.training.cache import ModelCache

    if output is not None:
        _refuse_existing(output)
        _check_writable(output)
    progress = Progress(enabled=not quiet)
    results = []
    for k in range(seeds):
        run_config = attrs.evolve(config, seed=config.seed + k)
        if seeds > 1:
            progress.message(f"=== seed {run_config.seed} ({k + 1}/{seeds}) ===")
        folder = output if seeds == 1 or output is None else output / f"seed-{run_config.seed}"
        try:
            result, _ = run_experiment(run_config, catalog, data_dir=data_dir,
                                       progress=progress, cache=ModelCache(cache_dir, progress),
                                       output=folder)
        except ReportError as exc:  # the work is done: show it before saying what failed
            click.echo(json.dumps(exc.result.to_dict(), indent=2) if as_json
                       else format_summary(exc.result))
            raise
        results.append(result)
    if seeds == 1:
        text = (json.dumps(results[0].to_dict(), indent=2) if as_json
                else format_summary(results[0]))
    else:
        summary = aggregate(results)
        text = (json.dumps(summary, indent=2, default=attrs.asdict) if as_json
                else format_aggregate(summary))
        if output is not None:
            (output / "seeds.json").write_text(json.dumps(summary, indent=2,
                                                          default=attrs.asdict) + "\n")
    click.echo(text)


def _default_cache_dir() -> Path:
    from mia_core.training.cache import default_cache_dir

    return default_cache_dir()


def _refuse_existing(output: Path) -> None:
    """Fail before hours of work, not after, when --output would overwrite earlier results."""
    from mia_core.results.types import RESULTS_FILE

    for name in (RESULTS_FILE, "seeds.json"):
        if (output / name).exists():
            raise MiaError(f"{output} already holds {name}; choose another --output folder "
                           "or move it away")
    if output.exists() and not output.is_dir():
        raise MiaError(f"--output {output} exists and is not a folder")


def _check_writable(output: Path) -> None:
    """Create --output and write a probe file in it now, not after hours of training."""
    import tempfile

    try:
        output.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output, prefix=".mia-write-check"):
            pass
    except OSError as exc:
        raise MiaError(f"cannot write to --output {output}: {exc.strerror or exc}; choose a "
                       "folder you can write to") from None


def _print_listing(catalog: Any, as_json: bool) -> None:
    from mia_core.cli.listing import format_listing, listing_data

    if as_json:
        click.echo(json.dumps(listing_data(catalog), indent=2, default=str))
    else:
        click.echo(format_listing(catalog))


def _print_description(catalog: Any, name: str, as_json: bool) -> None:
    from mia_core.cli.listing import describe_data, format_description

    data = describe_data(catalog, name)
    click.echo(json.dumps(data, indent=2, default=str) if as_json else format_description(data))


def main() -> None:
    run()
