"""Where the database is, and connecting to it with errors that say what to do.

Without configuration everything uses the embedded cluster (soar.db.embedded). With
SOAR_DATABASE_URL (or --database-url) everything uses that server; each component
may have its own login through SOAR_INGEST_DATABASE_URL, SOAR_WORKER_DATABASE_URL
or SOAR_READONLY_DATABASE_URL (production: one login per least-privilege role).
"""

from __future__ import annotations

import os

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from soar.db import embedded
from soar.errors import SoarError, last_line

ROLES = ("ingest", "worker", "readonly")
_override: str | None = None
_embedded_database = embedded.DATABASE


def use_embedded_database(name: str) -> None:
    """Point the embedded default at another database of the cluster (the demo's)."""
    global _embedded_database
    _embedded_database = name


def set_database_url(url: str | None) -> None:
    """--database-url on the command line wins over the environment."""
    global _override
    _override = url


def external_url() -> str | None:
    return _override or os.environ.get("SOAR_DATABASE_URL") or None


def admin_url() -> str:
    """The owner's login: migrations, imports, administration."""
    return external_url() or embedded.default_cluster().url(_embedded_database)


def role_url(role: str) -> str:
    """The login of one component, with only that component's privileges."""
    if role not in ROLES:
        raise ValueError(role)
    specific = os.environ.get(f"SOAR_{role.upper()}_DATABASE_URL")
    if specific:
        return specific
    external = external_url()
    if external:
        return external
    return embedded.default_cluster().url(_embedded_database, user=f"soar_{role}")


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo(**params)


def connect(url: str, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(url, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        hint = ("start the embedded database with `soar db start`" if not external_url()
                else "check SOAR_DATABASE_URL / --database-url and that the server is up")
        raise SoarError(f"cannot connect to the database ({redact(url)}): {last_line(exc)}; "
                        f"{hint}") from None
    except psycopg.ProgrammingError as exc:
        raise SoarError(f"invalid database URL: {exc}; fix SOAR_DATABASE_URL / --database-url") from None
