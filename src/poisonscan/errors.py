"""Exceptions raised by poisonscan.

Every problem caused by the user's input (a missing file, a malformed array, an unknown option)
raises :class:`InputError`. The command-line interface turns it into a one-line message and exit
code 2; anything else is an internal error (exit code 1).
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """The input (data, option or file) is not what poisonscan expects.

    The message says what was expected and what was received.
    """
