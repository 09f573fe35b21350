"""The result files of a run: results.json, evaluation.csv, split.json, the ROC curve, the
most exposed records' inputs and report.html (rendered from those files)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from mia_core.errors import ConfigError, MiaError
from mia_core.progress import QUIET, Progress
from mia_core.results.exposure import risk
from mia_core.results.metrics import roc_curve
from mia_core.results.runfiles import EXPOSED_FILE, RESULTS_FILE, SCORES_FILE
from mia_core.results.scorefile import ScoreFile
from mia_core.results.types import ExperimentResult, RunArtifacts
from mia_core.splits import MembershipSplit

SPLIT_FILE = "split.json"
REPORT_FILE = "report.html"


def write_output(directory: Path, result: ExperimentResult, artifacts: RunArtifacts,
                 progress: Progress = QUIET) -> list[Path]:
    """Write results.json, evaluation.csv, split.json, roc.csv and roc.png into ``directory``.

    Refuses to overwrite earlier results: a finished run is evidence, not scratch space.
    """
    files = [directory / name for name in (RESULTS_FILE, SCORES_FILE, SPLIT_FILE)]
    hint: str | None = None
    existing = [f.name for f in files if f.exists()]
    if existing:
        raise MiaError(f"{directory} already holds {', '.join(existing)}; "
                       "choose another --output folder or move those files away")
    if directory.exists() and not directory.is_dir():
        raise MiaError(f"--output {directory} exists and is not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        files[0].write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        _write_scores(files[1], artifacts)
        files[2].write_text(json.dumps(_split_dict(artifacts.split)) + "\n")
        scores = {name: s.numpy() for name, s in artifacts.scores.items()}
        roc_files, hint = write_roc(directory, artifacts.eval_is_member.numpy(), scores)
        files += _write_exposed(directory / EXPOSED_FILE, artifacts)
        from mia_core.results.report import write_report

        files.append(write_report([directory], directory / REPORT_FILE))
    except OSError as exc:
        raise MiaError(f"cannot write results to {directory}: {exc.strerror or exc}") from None
    if hint:
        progress.message(hint)
    return files + roc_files


def _write_scores(path: Path, artifacts: RunArtifacts) -> None:
    write_columns(path, artifacts.eval_index.numpy(), artifacts.eval_labels.numpy(),
                  artifacts.eval_is_member.numpy(),
                  {n: s.numpy() for n, s in artifacts.scores.items()})


def write_columns(path: Path, records: np.ndarray, labels: np.ndarray, truth: np.ndarray,
                  scores: dict[str, np.ndarray]) -> None:
    """evaluation.csv: one row per evaluation record, its dataset id, label, truth, each
    attack's score and each attack's risk (the share of non-members it outscores)."""
    names = list(scores)
    columns = [scores[n].tolist() for n in names]
    columns += [risk(scores[n], truth).tolist() for n in names]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["record", "label", "is_member", *(f"score:{n}" for n in names),
                         *(f"risk:{n}" for n in names)])
        for i, (record, label, member) in enumerate(zip(
                records.tolist(), labels.tolist(), truth.tolist(), strict=True)):
            writer.writerow([record, label, int(member), *(repr(col[i]) for col in columns)])


def _write_exposed(path: Path, artifacts: RunArtifacts) -> list[Path]:
    """The most exposed records' inputs, for the report's thumbnails (safetensors)."""
    if artifacts.exposed_inputs is None or not len(artifacts.exposed_records):
        return []
    from safetensors.torch import save_file

    texts = {"texts": json.dumps(list(artifacts.exposed_text))} if artifacts.exposed_text else None
    save_file({"records": artifacts.exposed_records.contiguous(),
               "inputs": artifacts.exposed_inputs.float().contiguous()}, str(path),
              metadata=texts)
    return [path]


def _split_dict(split: MembershipSplit) -> dict[str, list[int]]:
    return {name: getattr(split, name).tolist() for name in
            ("known_members", "known_nonmembers", "eval_members", "eval_nonmembers",
             "population")}


def write_roc(directory: Path, is_member: np.ndarray,
              scores: dict[str, np.ndarray]) -> tuple[list[Path], str | None]:
    """Write roc.csv (every attack's curve) and roc.png; returns files and a hint if no plot."""
    curves = {name: roc_curve(is_member, s)[:2] for name, s in scores.items()}
    csv_path = directory / "roc.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["attack", "fpr", "tpr"])
        for name, (fpr, tpr) in curves.items():
            writer.writerows((name, repr(float(a)), repr(float(b))) for a, b in zip(fpr, tpr,
                                                                                    strict=True))
    try:
        import matplotlib  # noqa: F401  (asked each time: it may have gone since plots loaded)

        from mia_core.results.plots import png_bytes, roc_figure
    except ImportError:
        return [csv_path], ("roc.png not drawn: matplotlib is not installed "
                            "(it is a dependency of mia-core: pip install matplotlib)")
    fig = roc_figure(is_member, curves)
    png = directory / "roc.png"
    png.write_bytes(png_bytes(fig, dpi=120))
    return [csv_path, png], None


def write_score_results(directory: Path, results: dict, scorefile: ScoreFile) -> list[Path]:
    """``mia metrics --output``: results.json, evaluation.csv and report.html for scores
    from another tool (the same files a run writes, as far as scores alone allow)."""
    from mia_core.results.report import write_report

    if (directory / RESULTS_FILE).exists():
        raise ConfigError(f"{directory} already holds {RESULTS_FILE}; choose another --output "
                          "folder or move it away")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
        write_columns(directory / SCORES_FILE, scorefile.records, scorefile.labels,
                      scorefile.is_member, scorefile.scores)
        report = write_report([directory], directory / REPORT_FILE)
    except OSError as exc:
        raise MiaError(f"cannot write results to {directory}: {exc.strerror or exc}") from None
    return [directory / RESULTS_FILE, directory / SCORES_FILE, report]
