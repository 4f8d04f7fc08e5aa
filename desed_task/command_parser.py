"""The argument parser of every command line: a usage error is one line on stderr and exit status 2.

The line reads ``error: <what was wrong> (see <prog> --help)``, like every other user error of the commands.
argparse reads ``-take1.wav`` as an unknown option, and then reports what is missing (``the following arguments
are required: AUDIO``, ``expected one argument``) without a word about the name: the error gets the remedy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import NoReturn


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def dash_name_hint(tokens: Sequence[str], options: Iterable[str]) -> str:
    """Advice for the first of ``tokens`` that starts with '-' but is none of ``options`` (nor a long option's
    abbreviation, nor a negative number); "" when there is none."""
    options = list(options)
    for token in tokens:
        if token == "--":
            break
        if not token.startswith("-") or token == "-" or _is_number(token):
            continue
        name = token.split("=", 1)[0]
        if name in options or (name.startswith("--") and any(o.startswith(name) for o in options)):
            continue
        return (
            f"; {token!r} was read as an option: write a file name that starts with '-' as ./{token} (or put "
            f"it after '--', behind every option), or as an option's value --option={token}"
        )
    return ""


EXIT_USAGE_ERROR = 2


class CommandParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage error is one line (exit status 2) ending with
    :func:`dash_name_hint`'s advice; subcommand parsers are of the same class."""

    _tokens: list[str] = []

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 (argparse's own)
        self._tokens = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def add_subparsers(self, **kwargs):  # noqa: D102 (argparse's own)
        kwargs.setdefault("parser_class", CommandParser)
        return super().add_subparsers(**kwargs)

    def hinted(self, message: str) -> str:
        """``message`` with the advice for a file name that starts with '-', when one was given."""
        return message + dash_name_hint(self._tokens, self._option_string_actions)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE_ERROR, f"error: {self.hinted(message)} (see {self.prog} --help)\n")
