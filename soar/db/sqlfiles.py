"""The project's SQL and migrations, kept as plain files beside the package.

In a checkout they are the top-level `sql/`, `alembic/` and `pgbouncer/` folders; an
installed package carries them as `soar/_sql`, `soar/_alembic` and `soar/_pgbouncer`
(pyproject.toml maps the folders there), so `soar db upgrade` works from a wheel.

Fixed queries live in `sql/queries/`: one file per query, or one file per part
holding named blocks (`-- name: read_messages`), loaded once at import by `queries()`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import psycopg

_PACKAGE = Path(__file__).resolve().parent.parent


def project_dir(name: str) -> Path:
    """`sql`, `alembic` or `pgbouncer`: the installed copy, else the checkout's."""
    for candidate in (_PACKAGE / f"_{name}", _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"soar's {name}/ folder is missing beside {_PACKAGE}: reinstall soar")


SQL_DIR = project_dir("sql")


def read(relative: str) -> str:
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def execute(conn: psycopg.Connection, *relative: str) -> None:
    """Run whole SQL files. No parameters are passed, so psycopg sends each file
    as a simple query and `%` or `:` in the SQL mean nothing special."""
    for name in relative:
        conn.execute(read(name).encode())


_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.M)


@functools.cache
def queries(relative: str) -> dict[str, str]:
    """The named blocks of a query file: `-- name: x` starts block x, which runs to
    the next name line. Text before the first name (a header comment) is not a query.
    Each file is read and parsed once per process (modules sharing a file share the
    dict: read it, never change it)."""
    text = read(relative)
    marks = list(_NAME.finditer(text))
    if not marks:
        raise ValueError(f"{relative}: no `-- name:` blocks")
    out: dict[str, str] = {}
    for mark, nxt in zip(marks, [*marks[1:], None], strict=True):
        body = text[mark.end():nxt.start() if nxt else len(text)].strip()
        if mark.group(1) in out:
            raise ValueError(f"{relative}: query {mark.group(1)!r} defined twice")
        out[mark.group(1)] = body
    return out
