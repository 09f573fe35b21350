"""Text datasets: any file of the user's, and WordNet's glosses as the offline default.

Record ids are positions in the file's order after empty records and exact duplicates are
dropped (a duplicate would be a member and a non-member at once), so the same file gives the
same ids in every run.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import torch

from mia_core import (
    ConfigError,
    DataFileError,
    LoadEnv,
    Records,
    data_root,
    option,
    positive,
)

from .encoding import check_texts, encode, secrets, texts_of
from .sources import (
    WORDNET,
    csv_records,
    download_rows,
    jsonl_records,
    labelled_records,
    plain_records,
    wordnet_glosses,
)

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

    def canaries(self, pool: Records, count: int, generator: torch.Generator) -> Records:
        """Secret-sharer canaries for ``--canaries``."""
        return secrets(pool, count, generator)

    def readable(self, records: Records) -> list[str]:
        """The records' texts, for the report."""
        return texts_of(records)


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

    def canaries(self, pool: Records, count: int, generator: torch.Generator) -> Records:
        """Secret-sharer canaries for ``--canaries``."""
        return secrets(pool, count, generator)

    def readable(self, records: Records) -> list[str]:
        """The records' texts, for the report."""
        return texts_of(records)


WIKIMIA = "swj0419/WikiMIA"  # Shi et al. 2024, on Hugging Face
LENGTHS = ("32", "64", "128", "256")


@attrs.frozen
class BenchmarkOptions:
    path: str = option("", "the benchmark file: JSON lines (or a JSON array) of objects with "
                       "the text and its 0/1 member label, as its authors publish it (WikiMIA: "
                       "datasets' to_json of swj0419/WikiMIA, fields input and label); empty: "
                       "WikiMIA's split of this length from the data folder, downloaded there "
                       "when missing")
    length: str = option("32", "WikiMIA's split: texts of 32, 64, 128 or 256 words",
                         choices=LENGTHS)
    text_field: str = option("input", "the field holding each text")
    label_field: str = option("label", "the field holding each text's member label (1: member)")
    max_bytes: int = option(256, "longer texts are cut to this many UTF-8 bytes", positive)


class LabelledBenchmark:
    """An LM membership benchmark whose members are fixed by its labels (WikiMIA: Wikipedia
    events before and after a model's training cut-off). The run trains the target on its
    members, and warns: members and non-members differ in date, so an attack that never looks
    at the model can tell them apart (``blind-ngram`` shows how far)."""

    def __init__(self, options: BenchmarkOptions) -> None:
        self.options = options
        self._labels: dict[str, torch.Tensor] = {}

    def load(self, env: LoadEnv) -> Records:
        o = self.options
        if o.path:
            path = Path(o.path).expanduser()
        else:
            split = f"WikiMIA_length{o.length}"
            path = data_root(env.data_dir) / "wikimia" / f"{split}.jsonl"
            if not path.is_file():
                env.progress.message(f"wikimia: downloading {split} of {WIKIMIA} into {path}")
                download_rows(WIKIMIA, split, path, what=f"WikiMIA ({split})")
        texts, labels = labelled_records(path, o.text_field, o.label_field)
        check_texts(texts, str(path))
        first: dict[str, int] = {}
        for text, label in zip(texts, labels, strict=True):
            if first.setdefault(text, label) != label:
                raise DataFileError(f"{path}: the text {text[:40]!r}... is labelled both "
                                    "member and non-member; fix the file")
        kept = list(first)
        member = torch.tensor([first[t] == 1 for t in kept])
        if int(member.sum()) < 4 or int((~member).sum()) < 4:
            raise DataFileError(f"{path}: {int(member.sum())} members and "
                                f"{int((~member).sum())} non-members; a run needs at least 4 "
                                "of each")
        records = encode(kept, o.max_bytes)
        self._labels[records.fingerprint()] = member
        return records

    def readable(self, records: Records) -> list[str]:
        """The records' texts, for the report."""
        return texts_of(records)

    def membership(self, data: Records) -> torch.Tensor:
        """The benchmark's member labels of the records ``load`` returned."""
        return self._labels[data.fingerprint()]
