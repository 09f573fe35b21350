"""``mia report`` (report.html from run folders, no training) and ``mia metrics`` (a run's
metrics, ε_lb and report for scores from any tool)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mia_core.cli.errors import user_errors
from mia_core.errors import ConfigError

COMPARISON_FILE = "comparison.html"


@click.command("report", short_help="Build report.html from run folders (no training).")
@click.argument("folders", nargs=-1, required=True, metavar="RUN_DIR...",
                type=click.Path(path_type=Path))
@click.option("--output", "output", type=click.Path(path_type=Path), metavar="FILE",
              help=f"Where to write it [default: RUN_DIR/report.html for one run, "
                   f"./{COMPARISON_FILE} for several].")
@click.option("-o", "output_short", type=click.Path(path_type=Path), hidden=True)
def report(folders: tuple[Path, ...], output: Path | None, output_short: Path | None) -> None:
    """Rebuild the HTML report of one run from its --output folder, or draw several runs side
    by side (attacks x runs, and the privacy-utility picture when their DP ε differ). A
    --seeds folder counts as its seeds."""
    from mia_core.results.report import write_report

    if output_short is not None:  # -o is --option in mia run: one letter, one meaning
        click.echo("mia report: -o is deprecated (in mia run it sets an option) and goes in "
                   "0.3.0; use --output FILE", err=True)
        if output is not None and output != output_short:
            raise click.UsageError("give the file once, with --output")
        output = output_short
    with user_errors(False):
        path = output or (folders[0] / "report.html" if len(folders) == 1
                          else Path(COMPARISON_FILE))
        if output is None and len(folders) > 1 and path.exists():
            raise ConfigError(f"{path} exists; choose where the comparison goes with "
                              "--output FILE")
        click.echo(str(write_report(list(folders), path)))


@click.command("metrics", short_help="Metrics and report for scores from any tool.")
@click.argument("path", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--member-column", default="is_member", show_default=True,
              help="The column (or NPZ array) holding 0/1 or true/false membership "
                   "[left as is_member: also found as member, membership, is_in, "
                   "in_training].")
@click.option("--score", "scores", multiple=True, metavar="COLUMN",
              help="A score column, repeatable [default: every score* column].")
@click.option("--lower-is-member", is_flag=True,
              help="Every score is lower for members (a loss, say); flip them all.")
@click.option("--lower", "lower", multiple=True, metavar="COLUMN",
              help="This score column is lower for members (a loss); flip it alone. "
                   "Repeatable: a loss and a confidence in one call.")
@click.option("--threshold", "thresholds", multiple=True, metavar="COLUMN=VALUE",
              help="An attack's own decision threshold, on the file's own scale: a record "
                   "scoring at or above it is called a member, at or below it with "
                   "--lower-is-member (accuracy, precision and recall use it; default: the "
                   "member-side half).")
@click.option("--delta", type=float, default=1e-5, show_default=True,
              help="The δ that ε_lb is stated at.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The seed of the ε audit's split (a run's --seed reproduces its ε_lb).")
@click.option("--output", type=click.Path(path_type=Path), metavar="DIR",
              help="Write results.json, evaluation.csv and report.html here.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def metrics(path: Path, member_column: str, scores: tuple[str, ...], lower_is_member: bool,
            lower: tuple[str, ...], thresholds: tuple[str, ...], delta: float, seed: int,
            output: Path | None, as_json: bool) -> None:
    """The metrics and ε lower bound of per-record membership scores in a CSV (a header
    line) or NPZ file, computed exactly as for a run."""
    from mia_core.results.files import write_score_results
    from mia_core.results.scorefile import read_scores
    from mia_core.results.summary import attack_table

    with user_errors(False):
        if not 0 <= delta < 1:
            raise ConfigError(f"--delta must be in [0, 1), got {delta}")
        if lower_is_member and lower:
            raise ConfigError("--lower-is-member flips every score; --lower COLUMN flips one: "
                              "give one or the other")
        names = [n.removeprefix("score:") for n in lower]
        found = read_scores(path, member_column, scores, lower_is_member or names)
        flipped = set(found.scores) if lower_is_member else set(names)
        cuts = parse_thresholds(thresholds, found.scores)
        # a flipped score's threshold, given on the file's scale, flips with it
        cuts = {name: -value if name in flipped else value for name, value in cuts.items()}
        reports = measure_file(found, cuts, delta, seed)
        import attrs

        hints = direction_hints(reports, flipped, lower_is_member)
        from mia_core.results.measure import sample_warning

        members = int(found.is_member.sum())
        few = sample_warning(members, len(found.is_member) - members)
        results = {"source": str(path), "audit_delta": delta, "seed": seed,
                   "attacks": [attrs.asdict(r) for r in reports], "hints": hints,
                   "warnings": [few] if few else []}
        if output is not None:
            write_score_results(output, results, found)
        click.echo(json.dumps(results, indent=2) if as_json
                   else "\n".join([*(f"WARNING: {w}." for w in results["warnings"]),
                                   *attack_table(reports, delta), *hints]))


def direction_hints(reports: list, flipped: set[str], all_flipped: bool = False) -> list[str]:
    """A line for each score column whose AUC lies below chance beyond its 95 % interval:
    the likeliest cause is a score read the wrong way round (a loss taken as a confidence)."""
    hints = []
    for report in reports:
        if all_flipped:
            flip = "drop --lower-is-member"
        else:
            flip = f"{'drop' if report.name in flipped else 'add'} --lower {report.name}"
        m = report.metrics
        low, high = m.intervals.auc if m.intervals else (m.auc, m.auc)
        if high < 0.5:
            hints.append(f"hint: '{report.name}' has AUC {m.auc:.4f}, below chance beyond its "
                         f"95 % interval ({low:.3f} to {high:.3f}): if lower scores mean "
                         f"member (a loss, a distance) or the other way round, {flip}")
    return hints


def parse_thresholds(pairs: tuple[str, ...], scores: dict) -> dict[str, float]:
    """``("lira=0.5",)`` -> ``{"lira": 0.5}``, every name a score column."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().removeprefix("score:")
        try:
            out[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or name not in scores:
            raise ConfigError(f"--threshold expects COLUMN=NUMBER for a score column "
                              f"({', '.join(scores)}), got {pair!r}")
    return out


def measure_file(found, thresholds: dict[str, float], delta: float, seed: int) -> list:
    """One AttackReport per score column, measured as a run measures its attacks."""
    from mia_core.results.measure import audit_seed, measure
    from mia_core.results.metrics import per_class_metrics
    from mia_core.results.types import AttackReport

    reports = []
    for name, values in found.scores.items():
        threshold = thresholds.get(name)
        metrics = measure(found.is_member, values, threshold, delta, audit_seed(seed, name))
        per_class = (per_class_metrics(found.is_member, found.labels, values, threshold)
                     if (found.labels >= 0).all() else {})
        reports.append(AttackReport(name, metrics, 0.0, 0, per_class, None))
    return reports
