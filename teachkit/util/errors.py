"""The one error type of teachkit, and what a command does with it.

Every mistake a user can make (a bad config field, a path that is not a checkpoint, a
store that does not exist) raises a :class:`TeachkitError` subclass whose message is one
line naming the thing and what is wrong with it. The CLI prints ``error: <message>`` on one
line to stderr, with no traceback, and exits with the error's :attr:`exit_code`:

- 2: usage and bad input (:class:`UsageError`, :class:`InputError`, config errors);
- 1: runtime failures (:class:`RuntimeFailure`): the input was fine, the work failed.

Unexpected exceptions still show their traceback: they are bugs, not user mistakes.
"""

from __future__ import annotations


class TeachkitError(Exception):
    """Base of every error a user is meant to read (one line, no traceback)."""

    exit_code = 1

    def one_line(self) -> str:
        return " ".join(str(self).split())


class UsageError(TeachkitError):
    """The command was called wrongly (bad option value, conflicting flags)."""

    exit_code = 2


class InputError(TeachkitError):
    """An input (config, file, checkpoint, store) is missing or unusable."""

    exit_code = 2


class RuntimeFailure(TeachkitError):
    """The inputs were fine but the work failed (decoding, a model's forward, I/O)."""

    exit_code = 1
