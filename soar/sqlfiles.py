"""The project's SQL, kept in `sql/` as plain files and applied by the migrations."""

from __future__ import annotations

from pathlib import Path

import psycopg

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def read(relative: str) -> str:
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def execute(conn: psycopg.Connection, *relative: str) -> None:
    """Run whole SQL files. No parameters are passed, so psycopg sends each file
    as a simple query and `%` or `:` in the SQL mean nothing special."""
    for name in relative:
        conn.execute(read(name).encode())
