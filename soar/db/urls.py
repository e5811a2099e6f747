"""Where the database is, and connecting to it with errors that say what to do.

Without configuration everything uses the embedded cluster (soar.db.embedded). With
SOAR_DATABASE_URL (or --database-url) everything uses that server; each component
may have its own login through SOAR_INGEST_DATABASE_URL, SOAR_WORKER_DATABASE_URL
or SOAR_READONLY_DATABASE_URL (production: one login per least-privilege role).

The rule this module enforces: ingest, the worker and the web run as their own role. A
login that is a superuser or owns the schema (e.g. SOAR_DATABASE_URL alone, which they
fall back to) could change the privacy flags, the enrichment columns or drop tables, and
reads the rows the public views hide, so `check_role` refuses it unless the owner was
allowed explicitly (`soar --allow-owner`, SOAR_ALLOW_OWNER=1), and then logs a warning.
"""

from __future__ import annotations

import logging
import os

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from soar.db import embedded, sqlfiles
from soar.errors import SoarError, last_line

ROLES = ("ingest", "worker", "readonly")
# The components that must not run as the owner (check_role): ingest and the worker
# write; the web (readonly) answers anyone on the network through the public views.
COMPONENTS = ("ingest", "worker", "readonly")
_override: str | None = None
_allow_owner = False
log = logging.getLogger("soar.db")
QUERIES = sqlfiles.queries("queries/roles.sql")
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


def set_allow_owner(allow: bool) -> None:
    """`soar --allow-owner` (or SOAR_ALLOW_OWNER=1): let ingest, the worker or the web
    log in as the owner or a superuser, with a warning."""
    global _allow_owner
    _allow_owner = allow


def _env_allows_owner() -> bool:
    return os.environ.get("SOAR_ALLOW_OWNER", "").strip().lower() in ("1", "true", "yes", "on")


def check_role(conn: psycopg.Connection, role: str, allow_owner: bool | None = None) -> None:
    """Refuse (SoarError naming the fix) a connection of component `role` (ingest,
    worker, or readonly: the web) whose login is a superuser or owns the schema, unless
    the owner is allowed (`allow_owner`, default: --allow-owner or SOAR_ALLOW_OWNER),
    then log a warning.
    Also refuse a login that lacks the role's privileges (neither soar_<role> nor a
    member of it): its first write would fail anyway, later and less clearly."""
    if role not in COMPONENTS:
        raise ValueError(role)
    allowed = (_allow_owner or _env_allows_owner()) if allow_owner is None else allow_owner
    user, superuser, owner, member, migrated = conn.execute(
        QUERIES["login"], {"role": f"soar_{role}"}).fetchone()
    conn.rollback()     # leave no transaction open on the caller's connection
    env = f"SOAR_{role.upper()}_DATABASE_URL"
    if superuser or owner:
        what = "a superuser" if superuser else "the owner of the tables"
        if not allowed:
            raise SoarError(f"{role} would log in as {user!r}, {what}: set {env} to a login of "
                            f"soar_{role}, or run `soar --allow-owner ...` (SOAR_ALLOW_OWNER=1) "
                            "to use the owner anyway")
        log.warning("%s logs in as %r, %s (--allow-owner): it may change privacy flags, "
                    "enrichment columns and tables its role may not; set %s to a login of "
                    "soar_%s", role, user, what, env, role)
        return
    if not migrated:
        raise SoarError(f"the database has no soar schema or no role soar_{role}: "
                        "run `soar db upgrade`")
    if not member:
        raise SoarError(f"{role} would log in as {user!r}, which lacks the privileges of "
                        f"soar_{role}: set {env} to a login of soar_{role} (or GRANT soar_{role} "
                        f"TO {user})")


def component_url(role: str) -> str:
    """role_url(role) for a component about to run (ingest or worker), after one
    connection has checked its login with check_role."""
    url = role_url(role)
    with connect(url) as conn:
        check_role(conn, role)
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo(**params)


# What every connection of soar's sets unless its caller says otherwise. Any of them may
# pass through PgBouncer in transaction mode, whose Debian 12 version (1.18) does not
# carry a prepared statement to the next server connection (psycopg prepares after 5
# executions: `prepared statement "_pg3_0" does not exist`), so none is prepared. Any
# of them may meet a half-open TCP link (a failover, a dropped NAT entry): keepalives
# and TCP_USER_TIMEOUT close it within idle + interval x count = 25 s instead of a
# slot held forever (libpq ignores them on a unix socket, which cannot go half-open).
SAFE_CONNECT = {"prepare_threshold": None, "connect_timeout": 10, "keepalives": 1,
                "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                "tcp_user_timeout": 25_000}


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A connection with SAFE_CONNECT's settings (kwargs override them), or a SoarError
    naming the fix."""
    try:
        return psycopg.connect(url, **{**SAFE_CONNECT, **kwargs})
    except psycopg.OperationalError as exc:
        hint = ("start the embedded database with `soar db start`" if not external_url()
                else "check SOAR_DATABASE_URL / --database-url and that the server is up")
        raise SoarError(f"cannot connect to the database ({redact(url)}): {last_line(exc)}; "
                        f"{hint}") from None
    except psycopg.ProgrammingError as exc:
        raise SoarError(f"invalid database URL: {exc}; fix SOAR_DATABASE_URL / --database-url") from None
