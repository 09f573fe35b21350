"""Reading text records from files: plain text, JSON lines, CSV, and WordNet's glosses.

Every problem with a file is one line naming the file and what to do (a
:class:`~mia_core.DataFileError`, exit 2); a file that is not there is a
:class:`~mia_core.MiaError`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from mia_core import DataFileError, MiaError, allow_download

WORDNET = Path("/usr/share/wordnet")  # Debian's wordnet-base
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")


def read_text(path: Path) -> str:
    """The file's text, as UTF-8."""
    if not path.is_file():
        raise MiaError(f"{path}: no such file; give an existing file with -o text.path=FILE")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataFileError(f"{path}: line {line} is not UTF-8 text (byte {exc.start}); "
                            "convert the file to UTF-8") from None


def plain_records(path: Path, unit: str) -> list[str]:
    """One record per line, or per paragraph (blocks separated by blank lines); blank lines
    are not records."""
    text = read_text(path).replace("\r\n", "\n")
    if unit == "line":
        return [line.strip() for line in text.split("\n") if line.strip()]
    blocks = [" ".join(b.split()) for b in text.split("\n\n")]
    return [b for b in blocks if b]


def jsonl_records(path: Path, field: str) -> list[str]:
    """The string ``field`` of each JSON object, one per line (blank lines skipped)."""
    found = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}: line {number} is not JSON ({exc.msg}); give one "
                                "JSON object per line") from None
        if not isinstance(item, dict) or field not in item:
            keys = ", ".join(sorted(item)) if isinstance(item, dict) else type(item).__name__
            raise DataFileError(f"{path}: line {number} has no field '{field}' (it has: "
                                f"{keys}); choose one with -o text.field=NAME")
        if not isinstance(item[field], str):
            raise DataFileError(f"{path}: line {number}: field '{field}' is "
                                f"{type(item[field]).__name__}, not text")
        found.append(item[field])
    return found


def csv_records(path: Path, column: str) -> list[str]:
    """Column ``column`` of a CSV file with a header line."""
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    if reader.fieldnames is None or column not in reader.fieldnames:
        have = ", ".join(reader.fieldnames or []) or "no header"
        raise DataFileError(f"{path}: no column '{column}' (it has: {have}); choose one with "
                            "-o text.field=NAME")
    return [row[column] or "" for row in reader]


def wordnet_glosses(folder: Path = WORDNET) -> list[str]:
    """Every synset's gloss (definition and examples) in WordNet 3.0, in file order: nouns,
    verbs, adjectives, adverbs. About 117,000 short English texts."""
    missing = [name for name in WORDNET_FILES if not (folder / name).is_file()]
    if missing:
        raise MiaError(f"WordNet is not installed ({folder / missing[0]} is missing): install "
                       "Debian's wordnet-base (make install-text does), or point "
                       "-o wordnet-glosses.folder=DIR at a WordNet 3.0 dict folder")
    glosses = []
    for name in WORDNET_FILES:
        for line in read_text(folder / name).splitlines():
            if line.startswith("  ") or " | " not in line:
                continue  # the licence header, or a line without a gloss
            glosses.append(line.split(" | ", 1)[1].strip())
    return glosses


def labelled_records(path: Path, text_field: str = "input",
                     label_field: str = "label") -> tuple[list[str], list[int]]:
    """A membership benchmark in the format its authors publish it (WikiMIA, and MIMIR's
    exports through Hugging Face ``datasets``' ``to_json``): JSON lines, or one JSON array, of
    objects with the text and a 0/1 member label."""
    text = read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        rows = list(enumerate(items, start=1))
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataFileError(f"{path}: line {number} is not JSON ({exc.msg}); give "
                                        "one JSON object per line") from None
    texts, labels = [], []
    for number, item in rows:
        if not isinstance(item, dict) or text_field not in item or label_field not in item:
            raise DataFileError(f"{path}: record {number} lacks '{text_field}' or "
                                f"'{label_field}'; a benchmark file holds both for each text")
        if not isinstance(item[text_field], str) or item[label_field] not in (0, 1):
            raise DataFileError(f"{path}: record {number}: '{text_field}' must be text and "
                                f"'{label_field}' 0 or 1, got {item[label_field]!r}")
        texts.append(item[text_field])
        labels.append(int(item[label_field]))
    return texts, labels


ROWS_URL = "https://datasets-server.huggingface.co/rows"  # Hugging Face's dataset viewer
PAGE = 100  # the most rows the viewer returns at once


def download_rows(dataset: str, split: str, dest: Path, opener=None, what: str = "") -> Path:
    """Every row of a Hugging Face dataset split, fetched page by page from the dataset
    viewer's ``/rows`` API (plain JSON, no parquet reader needed) and written to ``dest`` as
    JSON lines, the format :func:`labelled_records` reads. Written whole or not at all."""
    import urllib.error
    import urllib.parse
    import urllib.request

    allow_download(what or dataset, dest)
    opener = opener or urllib.request.urlopen
    rows: list[dict] = []
    total = None
    while total is None or len(rows) < total:
        query = urllib.parse.urlencode({"dataset": dataset, "config": "default", "split": split,
                                        "offset": len(rows), "length": PAGE})
        try:
            with opener(f"{ROWS_URL}?{query}", timeout=60) as response:
                page = json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise MiaError(f"cannot download {what or dataset} ({exc}); put its rows at {dest} "
                           "as JSON lines (datasets' to_json), or give the file with -o "
                           "wikimia.path=FILE") from None
        batch = page.get("rows") or []
        if not batch:
            break
        if any(r.get("truncated_cells") for r in batch):
            raise MiaError(f"the dataset viewer truncated rows of {dataset}; download "
                           f"{split} with datasets and give it with -o wikimia.path=FILE")
        rows += [r["row"] for r in batch]
        total = int(page.get("num_rows_total", len(rows)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    tmp.replace(dest)
    return dest
