"""A finished run as its files: results.json, evaluation.csv and exposed.safetensors, read back.

The report is always rendered from these files, for a run that just finished as for
``mia report`` days later, so the two are the same document; a folder that is not a run is
one line saying what is missing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mia_core.errors import ConfigError

RESULTS_FILE = "results.json"
SCORES_FILE = "evaluation.csv"
EXPOSED_FILE = "exposed.safetensors"
SEEDS_FILE = "seeds.json"


@attrs.frozen(eq=False)
class RunFiles:
    """One run's results (results.json as a dict) and per-record columns."""

    folder: Path
    results: dict[str, Any]
    records: np.ndarray
    labels: np.ndarray
    is_member: np.ndarray
    scores: dict[str, np.ndarray]
    risks: dict[str, np.ndarray]
    exposed: dict[int, np.ndarray] = attrs.field(factory=dict)  # record id -> its input
    exposed_text: dict[int, str] = attrs.field(factory=dict)  # record id -> it as text

    @property
    def name(self) -> str:
        return self.folder.name or str(self.folder)


def load_run(folder: Path) -> RunFiles:
    """The run in ``folder``, checked: results.json and evaluation.csv must both be there."""
    results_path, scores_path = folder / RESULTS_FILE, folder / SCORES_FILE
    for path in (results_path, scores_path):
        if not path.is_file():
            raise ConfigError(f"{folder} holds no {path.name}; give a folder written by "
                              "mia-run --output DIR (or mia metrics --output DIR)")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{results_path} is not readable JSON ({exc})") from None
    columns = read_columns(scores_path)
    try:
        truth = np.asarray(columns["is_member"], dtype=np.float64).astype(bool)
        records = np.asarray(columns.get("record", range(len(truth))), dtype=np.int64)
        labels = np.asarray(columns.get("label", [-1] * len(truth)), dtype=np.int64)
        scores = {k[6:]: np.asarray(v, dtype=np.float64) for k, v in columns.items()
                  if k.startswith("score:")}
        risks = {k[5:]: np.asarray(v, dtype=np.float64) for k, v in columns.items()
                 if k.startswith("risk:")}
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{scores_path} is not an evaluation.csv of mia-core ({exc})") from None
    return RunFiles(folder, results, records, labels, truth, scores, risks,
                    *_exposed(folder / EXPOSED_FILE))


def read_columns(path: Path) -> dict[str, list[str]]:
    """A CSV file with a header as columns of text."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ConfigError(f"{path} is empty")
    header = rows[0]
    ragged = next((n for n, row in enumerate(rows[1:], 2) if len(row) != len(header)), None)
    if ragged is not None:
        raise ConfigError(f"{path}, line {ragged}: {len(rows[ragged - 1])} fields, but the "
                          f"header has {len(header)}")
    return {name: [row[i] for row in rows[1:]] for i, name in enumerate(header)}


def _exposed(path: Path) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """The most exposed records' inputs, and their texts where the run saved them."""
    if not path.is_file():
        return {}, {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as opened:  # tensors and texts, one read
            tensors = {name: opened.get_tensor(name) for name in ("records", "inputs")}
            meta = opened.metadata() or {}
        texts = json.loads(meta["texts"]) if "texts" in meta else []
    except Exception:  # a damaged file costs the thumbnails, not the report
        return {}, {}
    ids = [int(r) for r in tensors["records"]]
    inputs = dict(zip(ids, tensors["inputs"], strict=True))
    readable = dict(zip(ids, texts, strict=True)) if len(texts) == len(ids) else {}
    return inputs, {k: v for k, v in readable.items() if isinstance(v, str)}


def load_seeds(folder: Path) -> tuple[list[RunFiles], dict[str, Any] | None]:
    """A ``--seeds`` output folder: each ``seed-N`` run and the aggregate (seeds.json); any
    other folder is one run and no aggregate."""
    seeds_path = folder / SEEDS_FILE
    if not seeds_path.is_file():
        return [load_run(folder)], None
    runs = [load_run(f) for f in sorted(folder.glob("seed-*"), key=_seed_number)
            if (f / RESULTS_FILE).is_file()]
    return runs, json.loads(seeds_path.read_text(encoding="utf-8"))


def _seed_number(folder: Path) -> int:
    tail = folder.name.removeprefix("seed-")
    return int(tail) if tail.isdigit() else 0
