"""The CLI edge: every ``teachkit`` command group reports errors the same way.

:class:`CommandGroup` is the Typer group class of the root app and of every sub-app
(``teachkit data``, ``teachers``, ``scores``, ``student``). Around parsing and running a
command it turns

- a :class:`teachkit.util.errors.TeachkitError` into ``error: <one line>`` on stderr and the
  error's exit code (2 for usage and bad input, 1 for runtime failures);
- a usage mistake Typer detects (unknown option, missing argument, bad value) into
  ``error: <message> (see `<command> --help`)`` and exit 2, instead of a boxed panel.

The line is written with ``typer.echo``, never through rich, so it is one line at any
terminal width and off a TTY. Anything else propagates with its traceback: it is a bug,
not a user mistake. ``TEACHKIT_TRACEBACK=1`` shows the traceback of known errors too (a
loading error keeps the exception it came from as its ``__cause__``).

It lives in ``stores`` because both stages mount commands on it and neither may import
the other.
"""

from __future__ import annotations

import contextlib
import os

import typer
from typer.core import TyperGroup

try:  # Typer >= 0.22 vendors click: its exceptions are these classes
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - an older Typer on top of click
    from click import exceptions as click_exceptions

from .errors import TeachkitError


def report(message: str) -> None:
    """Write ``error: <message>`` as one line on stderr (newlines and runs of spaces collapsed)."""
    typer.echo("error: " + " ".join(str(message).split()), err=True)


@contextlib.contextmanager
def one_line_errors():
    """Turn known errors raised inside the block into one stderr line and an exit code."""
    try:
        yield
    except TeachkitError as e:
        if os.environ.get("TEACHKIT_TRACEBACK"):
            raise
        report(e.one_line())
        raise typer.Exit(e.exit_code) from None
    except click_exceptions.NoArgsIsHelpError:
        raise  # shows the help text, as asked for
    except click_exceptions.UsageError as e:
        where = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        report(e.format_message() + where)
        raise typer.Exit(2) from None


class CommandGroup(TyperGroup):
    """A Typer group whose parsing and commands report errors in one line (module docstring)."""

    def make_context(self, info_name, args, parent=None, **extra):
        with one_line_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with one_line_errors():
            return super().invoke(ctx)
