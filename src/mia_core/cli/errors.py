"""How the command line fails: one ``Error: ...`` line on stderr and an exit code.

2 for bad input, 1 for runtime errors, 130 for Ctrl-C; a traceback only with ``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from mia_core.errors import MiaError


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
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        sys.exit(130)
    except (click.ClickException, click.Abort):  # click's own: one line from the command
        raise
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the "
                   "traceback)", err=True)
        sys.exit(1)
