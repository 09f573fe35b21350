"""How the command line fails: one ``Error: ...`` line on stderr and an exit code.

2 for bad input, 1 for runtime errors, 128 + N for signal N (130 for Ctrl-C, 143 for a
scheduler's SIGTERM); a traceback only with ``--debug``.
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from mia_core.errors import MiaError, Stopped, stopped_inside

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[Stopped] = []  # the stop this process was asked for, once one arrived


def stop_on_signals() -> None:
    """SIGINT and SIGTERM stop the run through :class:`Stopped`; a second one while it
    stops ends the process at once (the default action)."""

    def stop(signum: int, frame: Any) -> None:
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_DFL)
        _received.append(Stopped(signum))
        raise _received[-1]

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)


def _one_line_main(command: click.Command, *args: Any, **kwargs: Any) -> None:
    kwargs["standalone_mode"] = False
    try:
        result = click.Command.main(command, *args, **kwargs)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Error: aborted", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)


class OneLineCommand(click.Command):
    """Usage errors as one ``Error: ...`` line (exit 2), like every other error."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        _one_line_main(self, *args, **kwargs)


class OneLineGroup(click.Group):
    """A command group whose usage errors are one line too."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        _one_line_main(self, *args, **kwargs)


@contextmanager
def user_errors(debug: bool) -> Iterator[None]:
    """Turn every failure into one line on stderr and an exit code (traceback with --debug)."""
    try:
        yield
    except MiaError as exc:
        _exit_if_stopped(exc)
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Stopped as stop:
        click.echo(f"Error: stopped by {stop.name}{stop.kept}", err=True)
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        sys.exit(130)
    except (click.ClickException, click.Abort):  # click's own: one line from the command
        raise
    except Exception as exc:
        _exit_if_stopped(exc)
        if debug:
            traceback.print_exc()
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the "
                   "traceback)", err=True)
        sys.exit(1)


def _exit_if_stopped(exc: BaseException) -> None:
    """A failure that follows a stop request is the stop: the signal may surface as a C
    extension's error (Ray's wait, say), or as whatever a plugin's half-torn-down machinery
    raises next (Ray's workers going away), and the exit code must still say "stopped"."""
    stop = stopped_inside(exc)
    if not isinstance(stop, Stopped) and _received:
        stop = _received[-1]
    if isinstance(stop, Stopped):
        click.echo(f"Error: stopped by {stop.name}{stop.kept}", err=True)
        sys.exit(128 + stop.signum)
