"""Extra report files: per-class metrics and ROC curves (plotted when matplotlib is there)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from mia_core.results.metrics import compute_metrics, roc_curve


def per_class_metrics(is_member: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                      threshold: float | None) -> dict[str, dict[str, Any]]:
    """Metrics of one attack on the evaluation records of each true class."""
    out: dict[str, dict[str, Any]] = {}
    for cls in np.unique(labels):
        rows = labels == cls
        members = int(is_member[rows].sum())
        entry: dict[str, Any] = {"members": members, "nonmembers": int(rows.sum()) - members}
        if members and entry["nonmembers"]:
            m = compute_metrics(is_member[rows], scores[rows], threshold)
            entry.update(auc=m.auc, advantage=m.advantage, accuracy=m.accuracy,
                         tpr_at_1pct_fpr=m.tpr_at_1pct_fpr)
        out[str(int(cls))] = entry
    return out


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
