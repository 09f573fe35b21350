"""Errors the user can act on.

Everything the CLI shows as one line derives from :class:`MiaError`; anything else is a bug
and keeps its traceback (visible with ``--debug``).
"""

from __future__ import annotations

import difflib
import signal
from collections.abc import Iterable
from typing import Any


class MiaError(Exception):
    """A runtime problem with a clear fix (missing data, unavailable device ...); exit code 1."""

    exit_code = 1


class ConfigError(MiaError):
    """The user asked for something invalid (unknown name, bad option value ...); exit code 2."""

    exit_code = 2


class PluginError(MiaError):
    """A plugin broke the contract (bad registration, hook raised, wrong return type)."""


class DataFileError(ConfigError):
    """A data file that cannot be used as it is (malformed, a wrong digest, a value out of
    range, an archive that would unpack outside its folder): the user's input, so exit code
    2, saying which file and what to do. A file that is missing is a :class:`MiaError`."""


class DataError(PluginError):
    """Records that break LabeledData's contract (labels, shapes); the core names the plugin
    whose data it was."""


class TrainingDiverged(PluginError):
    """Training produced a non-finite loss; the core names the component that trained."""


class ReportError(MiaError):
    """The experiment finished but a reporter could not deliver it; the result is kept so the
    summary can still be shown."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


class Stopped(BaseException):
    """The run was asked to stop by signal ``signum`` (Ctrl-C, a scheduler's SIGTERM).

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` in a plugin swallows
    it; cleanups (``finally``) still run: workers are stopped, finished models stay cached.
    ``kept`` is filled in by whoever knows what was kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.kept = ""

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def stopped_inside(exc: BaseException) -> BaseException | None:
    """The stop request (Stopped, KeyboardInterrupt) that ``exc`` was raised from, if any: a
    signal that arrives inside a C extension (Ray's wait, say) surfaces as that extension's
    SystemError with the stop as its context."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, Stopped | KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``: one line, whatever the exception says."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: the plugin called exit({exc.code!r})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.5) -> str:
    """``"; did you mean 'a' or 'b'?"`` for close matches of ``name``, else ``""``."""
    close = difflib.get_close_matches(name, sorted(candidates), n=n, cutoff=cutoff)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def call_plugin(who: str, obj: Any, method: str, *args: Any, where: str = "") -> Any:
    """``obj.method(*args)``, blaming ``who`` (e.g. "target 'cnn' (plugin 'mia-cnn-target')") for
    anything it raises, in one line; ``where`` says for what it was called (" for reference
    model 3"). The core's own user-facing errors pass through unchanged."""
    try:
        return getattr(obj, method)(*args)
    except (TrainingDiverged, DataError) as exc:  # raised by the core's checks: say whose
        raise PluginError(f"{who}: {exc}{where}") from exc
    except MiaError:
        raise
    except SystemExit as exc:  # a plugin must not end the run silently
        raise PluginError(f"{who} called exit({exc.code!r}) in {method}(){where}") from None
    except Exception as exc:
        raise PluginError(f"{who} failed in {method}(){where}: {describe(exc)}") from exc
