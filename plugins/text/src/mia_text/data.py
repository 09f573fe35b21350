"""Text datasets: any file of the user's, and WordNet's glosses as the offline default.

Record ids are positions in the file's order after empty records and exact duplicates are
dropped (a duplicate would be a member and a non-member at once), so the same file gives the
same ids in every run.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import torch

from mia_core import ConfigError, LoadEnv, Records, option, positive

from .encoding import check_texts, encode
from .sources import WORDNET, csv_records, jsonl_records, plain_records, wordnet_glosses

FORMATS = ("auto", "lines", "paragraphs", "jsonl", "csv")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def unique(texts: list[str]) -> list[str]:
    """``texts`` without repeats, first occurrences kept in order."""
    return list(dict.fromkeys(texts))


@attrs.frozen
class TextFileOptions:
    path: str = option("", "the file: plain text, JSON lines or CSV")
    format: str = option("auto", "lines or paragraphs (plain text: a record per line, or per "
                         "block between blank lines), jsonl, csv; auto: by the file's suffix "
                         "(.jsonl, .csv; else lines)", choices=FORMATS)
    field: str = option("text", "jsonl: the field holding each record's text; csv: the column")
    max_bytes: int = option(128, "longer texts are cut to this many UTF-8 bytes", positive)


class TextFile:
    """Text records from a file of the user's."""

    def __init__(self, options: TextFileOptions) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> Records:
        o = self.options
        if not o.path:
            raise ConfigError("dataset 'text' needs a file: -o text.path=FILE")
        path = Path(o.path).expanduser()
        kind = o.format if o.format != "auto" else SUFFIXES.get(path.suffix.lower(), "lines")
        if kind == "jsonl":
            texts = jsonl_records(path, o.field)
        elif kind == "csv":
            texts = csv_records(path, o.field)
        else:
            texts = plain_records(path, "line" if kind == "lines" else "paragraph")
        check_texts(texts, str(path))
        kept = unique(texts)
        if len(kept) < len(texts):
            env.progress.message(f"text: {len(texts) - len(kept)} duplicate record(s) of "
                                 f"{path} dropped (a text cannot be a member and a "
                                 "non-member)")
        check_texts(kept, str(path))
        return encode(kept, o.max_bytes)


@attrs.frozen
class GlossOptions:
    records: int = option(4000, "glosses drawn (a fixed sample, the same in every run)",
                          positive)
    max_bytes: int = option(64, "longer glosses are cut to this many UTF-8 bytes", positive)
    folder: str = option(str(WORDNET), "the WordNet 3.0 dict folder (Debian's wordnet-base)")


class WordnetGlosses:
    """WordNet 3.0's glosses: short English definitions with usage examples, installed offline
    from Debian's wordnet-base. A fixed random sample, so members are drawn from text of one
    kind (a random split is correct ground truth)."""

    suggested_members = 1000

    def __init__(self, options: GlossOptions) -> None:
        self.options = options

    def load(self, env: LoadEnv) -> Records:
        o = self.options
        glosses = unique(wordnet_glosses(Path(o.folder)))
        if o.records > len(glosses):
            raise ConfigError(f"wordnet-glosses has {len(glosses)} distinct glosses; ask for "
                              f"at most that many with -o wordnet-glosses.records=N")
        picked = torch.randperm(len(glosses), generator=torch.Generator().manual_seed(2006))
        return encode([glosses[i] for i in picked[:o.records].tolist()], o.max_bytes)
