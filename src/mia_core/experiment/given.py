"""A model trained elsewhere: its weights file and the list of records it was trained on.

An auditor's question is about one model that exists already. Its file is read without
unpickling any object (safetensors, or a state dict through ``torch.load(weights_only=True)``)
and loaded into the target plugin's ``build()``; its membership ground truth is the user's
list of record ids, checked here before any work: ids that are missing, repeated or outside
the dataset are one line each.
"""

from __future__ import annotations

import csv
import warnings
import zipfile
from pathlib import Path

import attrs
import torch
from torch import nn

from mia_core.errors import ConfigError

ID_COLUMNS = ("record_id", "id", "index")  # the CSV column read, first found


@attrs.frozen(eq=False)
class GivenRecords:
    """Who the given model was trained on: ``members`` (dataset indices), ``nonmembers`` (the
    heldout list, else every other record) and where each came from, for the results."""

    members: torch.Tensor
    nonmembers: torch.Tensor
    members_file: str
    heldout_file: str | None

    def describe(self) -> str:
        """The membership claim in words, for the summary and results.json."""
        others = (f"the {len(self.nonmembers)} records listed in {self.heldout_file}"
                  if self.heldout_file else f"the dataset's other {len(self.nonmembers)} "
                  "records, which the user asserts the model never saw")
        return (f"members: the {len(self.members)} records listed in {self.members_file}; "
                f"non-members: {others}")


def read_given_records(train_file: str, heldout_file: str | None,
                       pool_size: int) -> GivenRecords:
    """The member and non-member indices of a given model, checked against the dataset."""
    members = read_record_ids(Path(train_file), pool_size, "--train-records")
    if heldout_file is None:
        outside = torch.ones(pool_size, dtype=torch.bool)
        outside[members] = False
        nonmembers = torch.nonzero(outside)[:, 0]
    else:
        nonmembers = read_record_ids(Path(heldout_file), pool_size, "--heldout-records")
        both = set(members.tolist()) & set(nonmembers.tolist())
        if both:
            raise ConfigError(f"{len(both)} record id(s) are in both --train-records and "
                              f"--heldout-records (e.g. {min(both)}); a record is a member or "
                              "not, never both")
    if len(nonmembers) < 2:
        raise ConfigError(f"only {len(nonmembers)} non-member record(s) remain besides the "
                          f"{len(members)} in {train_file}; an audit needs at least 2 records "
                          "the model never saw")
    return GivenRecords(members, nonmembers, train_file, heldout_file)


def read_record_ids(path: Path, pool_size: int, flag: str) -> torch.Tensor:
    """Record ids (dataset indices) from ``path``: one per line, or a CSV column."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"cannot read {flag} {path}: {reason}") from None
    cells = _csv_column(text, path, flag) if path.suffix.lower() == ".csv" else _lines(text)
    ids = []
    for line, cell in cells:
        try:
            ids.append(int(cell))
        except ValueError:
            raise ConfigError(f"{flag} {path}, line {line}: {_clip(cell)!r} is not a record id "
                              "(an integer index into the dataset)") from None
    return _checked_ids(ids, path, pool_size, flag)


def _clip(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters (an error line never echoes a whole file)."""
    return text if len(text) <= width else text[:width] + "..."


def _lines(text: str) -> list[tuple[int, str]]:
    """Non-empty lines, ``#`` comments dropped, with their line numbers."""
    rows = [(n, line.split("#", 1)[0].strip()) for n, line in enumerate(text.splitlines(), 1)]
    return [(n, cell) for n, cell in rows if cell]


def _csv_column(text: str, path: Path, flag: str) -> list[tuple[int, str]]:
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise ConfigError(f"{flag} {path} is empty; list one record id per line")
    header = [h.strip() for h in rows[0]]
    names = [c for c in ID_COLUMNS if c in header]
    if not names and len(header) != 1:
        raise ConfigError(f"{flag} {path} has no column {' / '.join(ID_COLUMNS)} (columns: "
                          f"{', '.join(header)}); name the record-id column record_id")
    column = header.index(names[0]) if names else 0
    return [(n, row[column].strip()) for n, row in enumerate(rows[1:], 2)
            if len(row) > column and row[column].strip()]


def _checked_ids(ids: list[int], path: Path, pool_size: int, flag: str) -> torch.Tensor:
    if not ids:
        raise ConfigError(f"{flag} {path} lists no record ids")
    bad = [i for i in ids if not 0 <= i < pool_size]
    if bad:
        raise ConfigError(f"{flag} {path}: record id {bad[0]} is outside the dataset's "
                          f"{pool_size} records (ids run from 0 to {pool_size - 1})"
                          + (f", and {len(bad) - 1} more" if len(bad) > 1 else ""))
    index = torch.tensor(ids, dtype=torch.int64)
    unique, counts = index.unique(return_counts=True)
    if len(unique) < len(index):
        twice = unique[counts > 1]
        raise ConfigError(f"{flag} {path}: record id {int(twice[0])} is listed "
                          f"{int(counts.max())} times ({len(twice)} id(s) repeated); list "
                          "each record once")
    return unique  # sorted: the split depends on which records are listed, not their order


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file or a saved state dict; never an unpickled object."""
    if not path.is_file():
        raise ConfigError(f"--model {path} is not a file")
    with path.open("rb") as f:
        head = f.read(8)
    if path.suffix == ".safetensors" or _looks_like_safetensors(head, path):
        return _read_safetensors(path)
    if zipfile.is_zipfile(path) and _is_torchscript(path):
        raise ConfigError(f"--model {path} is a TorchScript archive; audit it with --target "
                          "torchscript, or save the model's state_dict() instead")
    try:
        with warnings.catch_warnings():  # a pickle's protocol warning is not the user's news
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch's message suggests weights_only=False, which we never do
        raise ConfigError(f"--model {path} cannot be read without unpickling code: it is not "
                          "a safetensors file or a saved state dict of tensors (a pickled "
                          "module or other pickle is never loaded); save model.state_dict() "
                          "with torch.save or safetensors") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a checkpoint that wraps its weights
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ConfigError(f"--model {path} holds a {type(state).__name__}, not a state dict "
                          "of named tensors; save model.state_dict()")
    return state


def load_into(model: nn.Module, state: dict[str, torch.Tensor], path: Path,
              who: str) -> nn.Module:
    """``model`` with the file's weights; a mismatch is one line naming both. A file saved
    from ``DataParallel`` / ``DistributedDataParallel`` (every key prefixed ``module.``) is
    read as the module it wraps."""
    expected = model.state_dict()
    wrapped = state and all(k.startswith(WRAPPER) for k in state)
    if wrapped and not any(k.startswith(WRAPPER) for k in expected):
        state = {k.removeprefix(WRAPPER): v for k, v in state.items()}
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f"missing {_some(missing)}")
    if extra:
        problems.append(f"unexpected {_some(extra)}")
    if shapes:
        k = shapes[0]
        problems.append(f"{k} has shape {tuple(state[k].shape)} in the file but "
                        f"{tuple(expected[k].shape)} in the model"
                        + (f" ({len(shapes) - 1} more differ)" if len(shapes) > 1 else ""))
    if problems:
        raise ConfigError(f"--model {path} does not fit {who}'s architecture "
                          f"({type(model).__name__}): {'; '.join(problems)}; choose the "
                          "target (and its options) the model was built with")
    model.load_state_dict(state)
    return model.eval()


WRAPPER = "module."  # the prefix DataParallel and DistributedDataParallel give every key


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:3])
    return f"{shown} (+{len(keys) - 3} more)" if len(keys) > 3 else shown


def _looks_like_safetensors(head: bytes, path: Path) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON object."""
    if len(head) < 8:
        return False
    size = int.from_bytes(head, "little")
    if not 2 <= size <= path.stat().st_size - 8:
        return False
    with path.open("rb") as f:
        f.seek(8)
        return f.read(1) == b"{"


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"--model {path} is not a readable safetensors file "
                          f"({_first_line(exc)})") from None


def _is_torchscript(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
