"""Progress on stderr for long phases, or a bar in the notebook under Jupyter; silent with
``--quiet``."""

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


class NotebookProgress(Progress):
    """Progress in a Jupyter notebook: each bar is an HTML ``<progress>`` updated in place in
    the cell's output (at most every ``every`` seconds), messages are lines on the cell's
    stderr. Needs IPython only, no widgets."""

    def __init__(self, enabled: bool = True, every: float = 0.25) -> None:
        super().__init__(enabled)
        self.every = every

    def message(self, text: str) -> None:
        if self.enabled:
            print(text, file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def bar(self, label: str, total: int) -> Iterator[Advance]:
        if not self.enabled:
            yield lambda n=1: None
            return
        from IPython.display import HTML, display

        start, done, shown = time.perf_counter(), 0, 0.0
        handle = display(HTML(_bar_html(label, 0, total, 0.0)), display_id=True)

        def advance(n: int = 1) -> None:
            nonlocal done, shown
            done += n
            now = time.perf_counter()
            if now - shown >= self.every or done >= total:
                shown = now
                handle.update(HTML(_bar_html(label, done, total, now - start)))

        yield advance
        handle.update(HTML(_bar_html(label, total, total, time.perf_counter() - start)))


def _bar_html(label: str, done: int, total: int, seconds: float) -> str:
    from html import escape

    return (f"<div><code>{escape(label)}</code> <progress value='{done}' max='{max(total, 1)}' "
            f"style='width: 40%'></progress> {done}/{total} ({seconds:.1f}s)</div>")


def in_notebook() -> bool:
    """Whether this is a Jupyter kernel, where a notebook bar can be drawn."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and hasattr(ipython, "kernel")


def progress_for(quiet: bool) -> Progress:
    """Progress where it can be seen: a notebook bar in Jupyter, stderr elsewhere."""
    if quiet:
        return QUIET
    return NotebookProgress() if in_notebook() else Progress()
