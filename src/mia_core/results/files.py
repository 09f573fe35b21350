"""The result files of a run: results.json, evaluation.csv, split.json, the ROC curve."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from mia_core.errors import MiaError
from mia_core.progress import QUIET, Progress
from mia_core.results.metrics import roc_curve
from mia_core.results.types import ExperimentResult, RunArtifacts
from mia_core.splits import MembershipSplit

RESULTS_FILE = "results.json"
SCORES_FILE = "evaluation.csv"
SPLIT_FILE = "split.json"


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
    except OSError as exc:
        raise MiaError(f"cannot write results to {directory}: {exc.strerror or exc}") from None
    if hint:
        progress.message(hint)
    return files + roc_files


def _write_scores(path: Path, artifacts: RunArtifacts) -> None:
    names = list(artifacts.scores)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["record", "label", "is_member", *(f"score:{n}" for n in names)])
        columns = [artifacts.scores[n].tolist() for n in names]
        for i, (record, label, member) in enumerate(zip(
                artifacts.eval_index.tolist(), artifacts.eval_labels.tolist(),
                artifacts.eval_is_member.tolist(), strict=True)):
            writer.writerow([record, label, int(member), *(repr(col[i]) for col in columns)])


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
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [csv_path], ("roc.png not drawn: matplotlib is not installed "
                            "(it is a dependency of mia-core: pip install matplotlib)")
    fig, (lin, log) = plt.subplots(1, 2, figsize=(11, 5))
    floor = 0.5 / max(int((~is_member.astype(bool)).sum()), 1)
    for name, (fpr, tpr) in curves.items():
        lin.plot(fpr, tpr, label=name)
        log.plot(np.maximum(fpr, floor), np.maximum(tpr, floor), label=name)
    for ax, scale in ((lin, "linear"), (log, "log")):
        ax.plot([floor, 1], [floor, 1], "k:", lw=1, label="chance")
        ax.set_xscale(scale)
        ax.set_yscale(scale)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.grid(True, which="both", alpha=0.3)
    lin.set_title("ROC (linear)")
    log.set_title("ROC (log-log: the low-FPR regime)")
    log.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    png = directory / "roc.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return [csv_path, png], None
