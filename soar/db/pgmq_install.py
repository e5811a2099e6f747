"""pgmq: the extension where the server has it, else the SQL that the pgmq package ships."""

from __future__ import annotations

import psycopg
from pgmq.install import get_embedded_install_sql


def ensure(conn: psycopg.Connection) -> str:
    """Make pgmq usable in this database; return how ('extension' or 'sql')."""
    available = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pgmq'").fetchone()
    if available:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgmq")
        return "extension"
    installed = conn.execute(
        "SELECT 1 FROM pg_namespace WHERE nspname = 'pgmq'").fetchone()
    if not installed:
        # The bundled script is not re-runnable, hence the check above.
        conn.execute(get_embedded_install_sql().encode())
    return "sql"


def drop_if_unused(conn: psycopg.Connection) -> None:
    """Remove pgmq when no queue is left in it (other applications may share it)."""
    if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'pgmq'").fetchone():
        return
    if conn.execute("SELECT 1 FROM pgmq.meta LIMIT 1").fetchone():
        return
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pgmq'").fetchone():
        conn.execute("DROP EXTENSION pgmq")
    else:
        conn.execute("DROP SCHEMA pgmq CASCADE")
