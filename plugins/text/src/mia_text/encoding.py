"""Text records as tensors: UTF-8 bytes, one token each, after a start token.

Bytes are the one encoding every tokenizer can start from, so a text record loses nothing: a
model with a tokenizer of its own decodes the bytes and encodes them its way. Record ``i`` is
``x[i, :lengths[i]]``: ``BOS`` then at most ``max_bytes`` bytes of the text (then ``EOS`` when
the text fitted); the rest of the row is ``PAD``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mia_core import ConfigError, DataFileError, Records

BOS, EOS, PAD = 256, 257, 258
VOCAB = 259  # byte values, then the three special tokens


def encode(texts: Sequence[str], max_bytes: int, width: int | None = None) -> Records:
    """``texts`` as byte-token records of at most ``1 + max_bytes + 1`` tokens; texts cut at a
    character boundary (never in the middle of a UTF-8 sequence). ``width``: pad the rows to
    it (so records made later line up with a pool's), else to the longest."""
    rows = [_tokens(text, max_bytes) for text in texts]
    longest = max((len(r) for r in rows), default=1)
    if width is not None and width < longest:
        raise ValueError(f"records of {longest} tokens do not fit a width of {width}")
    width = width or longest
    x = torch.full((len(rows), width), PAD, dtype=torch.int64)
    for i, row in enumerate(rows):
        x[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
    return Records(x, lengths=torch.tensor([len(r) for r in rows], dtype=torch.int64))


def _tokens(text: str, max_bytes: int) -> list[int]:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return [BOS, *data, EOS]
    cut = data[:max_bytes].decode("utf-8", errors="ignore").encode("utf-8")
    return [BOS, *cut]


def secrets(pool: Records, count: int, generator: torch.Generator) -> Records:
    """The secret sharer's canaries (Carlini et al. 2019): ``count`` texts "my secret number
    is " + 9 random digits, each a secret the model can only know by memorising it, padded to
    the pool's width."""
    digits = torch.randint(0, 10, (count, 9), generator=generator).tolist()
    texts = ["my secret number is " + "".join(map(str, row)) for row in digits]
    needed = len(texts[0]) + 2 if texts else 0
    if needed > pool.x.shape[1]:
        raise ConfigError(f"the canaries are {needed} tokens long, longer than these records "
                          f"({pool.x.shape[1]}); raise the dataset's max_bytes")
    return encode(texts, needed, width=pool.x.shape[1])


def text_of(records: Records, i: int) -> str:
    """The text of record ``i`` (the bytes between the special tokens)."""
    return bytes_of(records, i).decode("utf-8", errors="replace")


def texts_of(records: Records) -> list[str]:
    return [text_of(records, i) for i in range(len(records))]


def bytes_of(records: Records, i: int) -> bytes:
    """Record ``i``'s UTF-8 bytes, as stored."""
    assert records.lengths is not None
    return bytes(t for t in records.x[i, :int(records.lengths[i])].tolist() if t < 256)


def check_texts(texts: Sequence[str], where: str, needed: int = 8) -> None:
    """A corpus a run can use: enough records, none empty."""
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise DataFileError(f"{where}: record {empty[0] + 1} is empty ({len(empty)} empty in "
                            "all); remove empty records or choose another field")
    if len(texts) < needed:
        raise DataFileError(f"{where} holds {len(texts)} records; a run needs at least "
                            f"{needed} (members, non-members and the attacker's)")
