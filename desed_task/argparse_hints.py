"""An ``ArgumentParser`` whose usage errors say how to pass a file name that starts with ``-``.

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
        return (f"; {token!r} was read as an option: write a file name that starts with '-' as ./{token} (or put "
                f"it after '--', behind every option), or as an option's value --option={token}")
    return ""


class HintingArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose error message ends with :func:`dash_name_hint`'s advice."""

    _tokens: list[str] = []

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 (argparse's own)
        self._tokens = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def hinted(self, message: str) -> str:
        """``message`` with the advice for a file name that starts with '-', when one was given."""
        return message + dash_name_hint(self._tokens, self._option_string_actions)

    def error(self, message: str) -> NoReturn:
        super().error(self.hinted(message))
