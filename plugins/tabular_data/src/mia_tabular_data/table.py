"""Reading a table of numbers with a label column into tensors, with one-line errors.

Labels of any kind (integers 1..100, strings) become class indices 0..K-1 in sorted order.
Features are kept as they are: standardisation belongs to the model, computed from the
records it is trained on (the ``mlp`` target's ``standardize``), never from the records an
attack is evaluated on.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mia_core import ConfigError, DataFileError, LabeledData

FLOAT32_MAX = float(np.finfo(np.float32).max)


def encode_labels(values: Sequence[str], where: str) -> tuple[torch.Tensor, list[str]]:
    """Class indices for ``values`` (numbers sorted numerically, else as text) and the names."""
    names = sorted(set(values), key=_sort_key)
    if len(names) < 2:
        raise ConfigError(f"{where} holds {len(names)} class(es); a classifier needs at least 2")
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[v] for v in values], dtype=torch.int64), names


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def read_csv_table(path: Path, label: str, columns: Sequence[str] | None,
                   delimiter: str) -> LabeledData:
    """A CSV file with a header: ``label`` is the class, ``columns`` (default: all others)
    the numeric features."""
    lines, rows = _rows(path, delimiter)
    header = [h.strip() for h in rows[0]]
    if label not in header:
        raise ConfigError(f"CSV {path} has no label column {label!r} (columns: "
                       f"{', '.join(header[:12])}{' ...' if len(header) > 12 else ''}); "
                       "name it with -o csv.label=COLUMN")
    features = list(columns) if columns else [h for h in header if h != label]
    unknown = [c for c in features if c not in header]
    if unknown:
        raise ConfigError(f"CSV {path} has no column(s) {', '.join(unknown)}")
    if not features:
        raise ConfigError(f"CSV {path} has no feature columns besides {label!r}")
    body, lines = rows[1:], lines[1:]
    ragged = next((n for n, row in enumerate(body) if len(row) != len(header)), None)
    if ragged is not None:
        raise ConfigError(f"CSV {path}, line {lines[ragged]}: {len(body[ragged])} fields, but "
                          f"the header has {len(header)}")
    x = np.empty((len(body), len(features)), dtype=np.float32)
    for j, name in enumerate(features):
        column = header.index(name)
        x[:, j] = _numeric_column([row[column] for row in body], lines, path, name)
    at = header.index(label)
    y, _ = encode_labels([row[at].strip() for row in body], f"CSV {path}")
    return LabeledData(torch.from_numpy(x), y, int(y.max()) + 1)


def _rows(path: Path, delimiter: str) -> tuple[list[int], list[list[str]]]:
    """The non-empty rows and the line each ends on (as an editor numbers them)."""
    lines, rows = [], []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                if row:
                    lines.append(reader.line_num)
                    rows.append(row)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"cannot read CSV {path}: {reason}") from None
    except csv.Error as exc:
        raise ConfigError(f"CSV {path}, line {reader.line_num}: {exc}") from None
    if len(rows) < 2:
        raise ConfigError(f"CSV {path} needs a header line and at least one record")
    return lines, rows


def _numeric_column(cells: list[str], lines: list[int], path: Path, name: str) -> np.ndarray:
    """The column's values, each a finite number that float32 (the features' type) holds."""
    values = np.empty(len(cells), dtype=np.float64)
    for n, cell in enumerate(cells):
        text = cell.strip()
        where = f"CSV {path}, line {lines[n]}: column {name!r}"
        try:
            value = float(text)
        except ValueError:
            what = "is empty" if not text else f"holds {text[:40]!r}, not a number"
            raise ConfigError(f"{where} {what}; features must be numeric (encode categories as "
                              "numbers first)") from None
        if not math.isfinite(value):
            raise ConfigError(f"{where} holds {text}; fill or drop records with NaN or infinite "
                              "features")
        if abs(value) > FLOAT32_MAX:
            raise ConfigError(f"{where} holds {text}, beyond the float32 range of features "
                              "(±3.4e38); rescale the column")
        values[n] = value
    return values


def read_number_lines(path: Path, what: str, width: int | None = None) -> np.ndarray:
    """Comma-separated numbers, one record per line, all of one width (checked)."""
    try:
        data = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else "unreadable"
        raise DataFileError(f"{path} is not a {what} file of comma-separated numbers "
                            f"({first}); delete it and download it again") from None
    if width is not None and data.shape[1] != width:
        raise DataFileError(f"{path} has {data.shape[1]} values per line; a {what} file has "
                            f"{width}")
    if not np.isfinite(data).all():  # float32 overflow reads as infinite too
        raise DataFileError(f"{path} holds NaN or infinite values (or values beyond float32); "
                            f"it is not a {what} file")
    return data
