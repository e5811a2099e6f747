"""Expected failures, and how an exception becomes one line of text.

A SoarError's message says what to do; the CLI prints it on one line and exits with
code 2. Every other place that turns an exception into a log line or an error message
uses `first_line` / `last_line`, so the wording is the same everywhere.
"""

from __future__ import annotations


class SoarError(Exception):
    """An expected failure whose message says what to do."""


def first_line(exc: BaseException, named: bool = False) -> str:
    """The first non-empty line of an exception's text (a server error's own message),
    or the exception's class name when it has no text. `named`: the class name first
    (`ValueError: bad thing`), for errors whose text alone does not say what failed."""
    name = type(exc).__name__
    for line in str(exc).splitlines():
        if line.strip():
            return f"{name}: {line.strip()}" if named else line.strip()
    return name


def last_line(text: str | BaseException, default: str = "") -> str:
    """The last non-empty line: where libpq and command-line tools put the reason
    (`connection failed: ...` then the detail on the line after)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if lines:
        return lines[-1]
    return default or (type(text).__name__ if isinstance(text, BaseException) else "")
