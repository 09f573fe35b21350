"""Scores from any tool: a CSV or NPZ of per-record membership scores and labels, checked.

``mia metrics`` turns them into the same metrics, ε_lb and report as a run. Membership must be
0/1 or true/false; higher scores must mean "member" (``lower_is_member`` flips them). A file
that cannot be measured is one line: a missing column, NaN scores, one class only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import attrs
import numpy as np

from mia_core.errors import ConfigError

TRUE, FALSE = {"1", "true", "yes", "member", "in"}, {"0", "false", "no", "nonmember", "out"}
# the membership column's common names, tried in order when --member-column is left as
# is_member; and the record-id column's, as --train-records reads them
MEMBER_COLUMNS = ("is_member", "member", "membership", "is_in", "in_training")
RECORD_COLUMNS = ("record", "record_id", "id", "index")


@attrs.frozen(eq=False)
class ScoreFile:
    """What a score file holds: truth, scores per attack column, optional ids and labels."""

    path: Path
    is_member: np.ndarray
    scores: dict[str, np.ndarray]
    records: np.ndarray
    labels: np.ndarray


def read_scores(path: Path, member_column: str, score_columns: Sequence[str],
                lower_is_member: bool | Collection[str]) -> ScoreFile:
    """The file's membership and score columns (default: every ``score*`` column, else every
    column but the membership, ``record`` and ``label``), each oriented so higher means
    member: ``lower_is_member`` flips every column (``True``) or the columns it names."""
    if not path.is_file():
        raise ConfigError(f"score file {path} does not exist")
    columns = _npz(path) if path.suffix == ".npz" else _csv(path)
    if member_column == MEMBER_COLUMNS[0] and member_column not in columns:
        member_column = next((c for c in MEMBER_COLUMNS if c in columns), member_column)
    if member_column not in columns:
        raise ConfigError(f"{path} has no membership column {member_column!r} (columns: "
                          f"{', '.join(columns)}); name it with --member-column")
    truth = _membership(columns[member_column], path, member_column)
    names = list(score_columns) or _default_scores(columns, member_column)
    missing = [n for n in names if n not in columns]
    if missing or not names:
        raise ConfigError(f"{path} has no score column {', '.join(missing) or '(none found)'}"
                          f" (columns: {', '.join(columns)}); choose them with --score")
    scores = {n.removeprefix("score:"): _numbers(columns[n], path, n) for n in names}
    flipped = set(scores) if lower_is_member is True else set(lower_is_member or ())
    unknown = sorted(flipped - set(scores))
    if unknown:
        raise ConfigError(f"--lower {unknown[0]}: not a score column of {path} (scores: "
                          f"{', '.join(scores)})")
    scores = {n: -s if n in flipped else s for n, s in scores.items()}
    n = len(truth)
    ids = next((columns[c] for c in RECORD_COLUMNS if c in columns), None)
    records = _optional_ints(ids, n)
    labels = _optional_ints(columns.get("label"), n, fill=-1)
    return ScoreFile(path, truth, scores, records, labels)


def _default_scores(columns: dict[str, list], member: str) -> list[str]:
    scored = [c for c in columns if c.startswith("score")]
    return scored or [c for c in columns if c not in (member, *RECORD_COLUMNS, "label")
                      and not c.startswith("risk:")]


def _csv(path: Path) -> dict[str, list]:
    from mia_core.results.runfiles import read_columns

    try:
        return read_columns(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read score file {path}: {exc}") from None


def _npz(path: Path) -> dict[str, list]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k].reshape(-1).tolist() for k in data.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not an NPZ file of plain arrays ({exc})") from None


def _membership(values: list, path: Path, column: str) -> np.ndarray:
    truth = []
    for row, value in enumerate(values, start=2):
        text = str(value).strip().lower()
        if text in ("1.0", "0.0"):
            text = text[0]
        if text not in TRUE | FALSE:
            raise ConfigError(f"{path}, row {row}: membership {value!r} in {column!r} is not "
                              "0/1 or true/false")
        truth.append(text in TRUE)
    result = np.asarray(truth, dtype=bool)
    if result.all() or not result.any():
        raise ConfigError(f"{path} holds only {'members' if result.any() else 'non-members'}"
                          f" in {column!r}; metrics need both")
    return result


def _numbers(values: list, path: Path, column: str) -> np.ndarray:
    try:
        scores = np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError as exc:
        raise ConfigError(f"{path}: score column {column!r} holds a non-number ({exc})") \
            from None
    bad = ~np.isfinite(scores)
    if bad.any():
        raise ConfigError(f"{path}: score column {column!r} has {int(bad.sum())} NaN or "
                          f"infinite score(s), the first in row {int(np.argmax(bad)) + 2}")
    return scores


def _optional_ints(values: list | None, n: int, fill: int | None = None) -> np.ndarray:
    if values is None:
        return np.arange(n) if fill is None else np.full(n, fill)
    try:
        return np.asarray([int(float(v)) for v in values], dtype=np.int64)
    except (ValueError, OverflowError):  # text, NaN, or a number past int64: not ids
        return np.arange(n) if fill is None else np.full(n, fill)
