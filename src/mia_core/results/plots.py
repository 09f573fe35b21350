"""The report's pictures, drawn with matplotlib: ROC curves, score histograms, thumbnails of
records and the privacy-utility picture, each as PNG bytes or an inline ``data:`` URI.

PNGs are written without a timestamp or version stamp, so the same run gives the same bytes
and a rebuilt report equals the first one.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only: never a window, never a display server
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

Curve = tuple[np.ndarray, np.ndarray]  # (fpr, tpr)


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """``fig`` as PNG bytes (closed afterwards), with no metadata that changes between runs."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def roc_figure(is_member: np.ndarray, curves: Mapping[str, Curve]) -> Figure:
    """Every attack's ROC twice: linear, and log-log where the low-FPR regime is visible."""
    fig, (lin, log) = plt.subplots(1, 2, figsize=(11, 5))
    floor = 0.5 / max(int((~np.asarray(is_member, dtype=bool)).sum()), 1)
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
    return fig


def histogram_figure(is_member: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    """Per attack, the scores of members and of non-members on shared bins."""
    names = list(scores)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    truth = np.asarray(is_member, dtype=bool)
    for ax, name in zip(axes.flat, names, strict=False):
        values = np.asarray(scores[name], dtype=np.float64)
        finite = values[np.isfinite(values)]
        low, high = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
        if not low < high:
            low, high = low - 0.5, high + 0.5
        bins = np.linspace(low, high, 41)
        values = np.clip(values, low, high)  # a few extreme scores must not hide the rest
        ax.hist(values[~truth], bins=bins, alpha=0.55, label="non-members", color="#4477aa")
        ax.hist(values[truth], bins=bins, alpha=0.55, label="members", color="#cc6677")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("score (higher: member)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def thumbnail(image: np.ndarray, size: int = 56) -> str | None:
    """A (C, H, W) record with C = 1 or 3 as a small PNG data URI (scaled to its own range);
    ``None`` for anything that is not an image."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        return None
    pixels = image.transpose(1, 2, 0).astype(np.float64)
    low, high = float(pixels.min()), float(pixels.max())
    pixels = (pixels - low) / (high - low) if high > low else np.zeros_like(pixels)
    fig = plt.figure(figsize=(size / 100, size / 100))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    cmap = "gray" if pixels.shape[2] == 1 else None
    ax.imshow(pixels[:, :, 0] if cmap else pixels, cmap=cmap, vmin=0, vmax=1,
              interpolation="nearest")
    return data_uri(png_bytes(fig, dpi=100))


def tradeoff_figure(points: Sequence[tuple[str, float, float, float, float]]) -> Figure:
    """Runs as (tick label, DP ε, strongest AUC, strongest TPR at 0.1 % FPR, test
    accuracy), ε ascending; a run without DP has a finite stand-in ε and its own label."""
    fig, (leak, util) = plt.subplots(1, 2, figsize=(11, 4))
    eps = [p[1] for p in points]
    leak.plot(eps, [p[2] for p in points], "o-", label="AUC (strongest attack)")
    leak.plot(eps, [p[3] for p in points], "s-", label="TPR at 0.1 % FPR")
    util.plot(eps, [p[4] for p in points], "o-", color="#228833")
    for ax, title in ((leak, "what an attacker gets"), (util, "target test accuracy")):
        ax.set_xscale("log")
        ax.set_xticks(eps, [p[0] for p in points])
        ax.minorticks_off()
        ax.set_xlabel("DP ε of the training")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    leak.legend(fontsize=8)
    fig.tight_layout()
    return fig
