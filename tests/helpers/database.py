"""Database fixtures (a pytest plugin, loaded by tests/conftest.py): a real PostgreSQL
cluster (TimescaleDB, PostGIS, pgmq) for the session, a migrated template database, and
a fresh copy of it per test (pytest-postgresql's DatabaseJanitor clones the template).
Nothing about the database is mocked. Unit tests use none of these, so they run with
no PostgreSQL at all."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import psycopg.sql
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from helpers import refdata
from helpers.net import free_port
from soar.db import embedded, migrate
from soar.db.pgbouncer import Bouncer


@pytest.fixture(scope="session")
def pg_cluster():
    home = Path(tempfile.mkdtemp(prefix="soar-tests-"))
    os.chmod(home, 0o755)   # the server runs as `postgres` when the tests run as root
    cluster = embedded.Cluster(home=home, port=free_port(), settings={
        # Durability is not under test; speed is welcome.
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
        # No TimescaleDB scheduler connected to the template while it is cloned.
        "timescaledb.max_background_workers": "0",
    })
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(home, ignore_errors=True)


def _janitor(cluster: embedded.Cluster, dbname: str, **kw) -> DatabaseJanitor:
    return DatabaseJanitor(user=embedded.SUPERUSER, host=str(cluster.rundir), port=cluster.port,
                           dbname=dbname, **kw)


@pytest.fixture(scope="session")
def db_template(pg_cluster) -> str:
    name = "soar_template"
    janitor = _janitor(pg_cluster, name, as_template=True)
    janitor.drop()
    janitor.init()
    migrate.upgrade(pg_cluster.url(name))
    yield name
    janitor.drop()


@dataclass
class TestDatabase:
    __test__ = False    # a fixture's value, not a test class
    cluster: embedded.Cluster
    name: str

    def url(self, role: str | None = None) -> str:
        user = f"soar_{role}" if role else embedded.SUPERUSER
        return self.cluster.url(self.name, user=user)

    def connect(self, role: str | None = None, **kw) -> psycopg.Connection:
        return psycopg.connect(self.url(role), **kw)


@contextmanager
def new_database(cluster: embedded.Cluster, template: str, prefix: str = "soar_test"):
    """A fresh copy of the migrated template, dropped afterwards: the `database`
    fixture's, and a module-scoped fixture's where tests only read what a shared,
    slow set-up stored."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _janitor(cluster, name, template_dbname=template):
        yield TestDatabase(cluster, name)


@pytest.fixture
def database(pg_cluster, db_template) -> TestDatabase:
    with new_database(pg_cluster, db_template) as db:
        yield db


@pytest.fixture
def empty_database(pg_cluster) -> TestDatabase:
    """A database with no schema at all (for migration tests)."""
    name = f"soar_empty_{uuid.uuid4().hex[:10]}"
    with _janitor(pg_cluster, name):
        yield TestDatabase(pg_cluster, name)


@pytest.fixture
def conn(database) -> psycopg.Connection:
    with database.connect() as c:
        yield c


@pytest.fixture
def refdb(pg_cluster, db_template) -> TestDatabase:
    """A fresh database with the schema, all OurAirports airports and runways and all
    GeoNames places (imported once per session into a template, cloned per test)."""
    template = refdata.reference_template(pg_cluster, db_template)
    name = f"soar_ref_{uuid.uuid4().hex[:10]}"
    with refdata.janitor(pg_cluster, name, template_dbname=template):
        yield TestDatabase(pg_cluster, name)


@contextlib.contextmanager
def own_cluster(prefix: str, databases: tuple[str, ...]):
    """A cluster of a test's own (the test stops and starts it, so it cannot share the
    session's), migrated, with `databases` cloned from the migrated `soar`. Durable
    across a crash of the server process: synchronous_commit stays on (the default), so
    an acknowledged commit is in the OS's hands; fsync off only matters if the machine
    itself fails."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(home, 0o755)   # the server runs as `postgres` when the tests run as root
    cluster = embedded.Cluster(home=home, port=free_port(), settings={
        "fsync": "off", "full_page_writes": "off", "timescaledb.max_background_workers": "0"})
    cluster.start()
    try:
        migrate.upgrade(cluster.url())
        with psycopg.connect(cluster.conninfo("postgres"), autocommit=True) as c:
            for name in databases:
                c.execute(psycopg.sql.SQL("CREATE DATABASE {} TEMPLATE soar").format(
                    psycopg.sql.Identifier(name)))
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def small_bouncer(pg_cluster):
    """PgBouncer in transaction mode with 2 server connections per database and user:
    clients outnumber servers, so consecutive transactions of one client meet different
    server connections (what a prepared statement does not survive)."""
    b = Bouncer(pg_cluster, free_port(), pool_size=2)
    b.start()
    yield b
    b.stop()


@contextmanager
def tcp_login(conn: psycopg.Connection, member_of: str):
    """A login with `member_of`'s privileges and a password, for TCP (the cluster asks
    TCP clients for SCRAM), as (role, password); dropped afterwards (roles are
    cluster-wide). Role settings (ALTER ROLE ... SET) are not inherited by it."""
    role, password = f"soar_tcp_{secrets.token_hex(4)}", secrets.token_hex(12)
    conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
        psycopg.sql.Identifier(role), psycopg.sql.Literal(password),
        psycopg.sql.Identifier(member_of)))
    conn.commit()
    try:
        yield role, password
    finally:
        conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))
        conn.commit()
