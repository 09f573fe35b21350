"""Progress on stderr for long phases; silent with ``--quiet``."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Protocol

import click


class Advance(Protocol):
    def __call__(self, n: int = 1) -> None: ...


class Progress:
    """Bars and one-line messages on stderr; everything is a no-op when disabled."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def message(self, text: str) -> None:
        if self.enabled:
            click.echo(text, err=True)

    @contextlib.contextmanager
    def bar(self, label: str, total: int) -> Iterator[Advance]:
        """A bar for ``total`` steps; call the yielded function with the steps done."""
        if not self.enabled:
            yield lambda n=1: None
            return
        if not sys.stderr.isatty():  # a log file: one line at the start and one at the end
            start = time.perf_counter()
            click.echo(f"{label}: {total} steps ...", err=True)
            yield lambda n=1: None
            click.echo(f"{label}: done in {time.perf_counter() - start:.1f}s", err=True)
            return
        with click.progressbar(length=total, label=label, file=sys.stderr,
                               show_eta=True, show_percent=True) as bar:
            yield bar.update


QUIET = Progress(enabled=False)
