"""Progress on stderr for long phases; silent with ``--quiet``."""

from __future__ import annotations

import contextlib
import sys
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
        with click.progressbar(length=total, label=label, file=sys.stderr,
                               show_eta=True, show_percent=True) as bar:
            yield bar.update


QUIET = Progress(enabled=False)
