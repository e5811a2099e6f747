"""Ingest and the worker log in as their own role: the owner or a superuser is refused
unless allowed explicitly, and then warned about (soar.db.check_role)."""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest
from psycopg import sql

from soar import db
from soar.errors import SoarError


@pytest.mark.parametrize("role", ["ingest", "worker"])
def test_superuser_is_refused_with_the_fix_named(database, role):
    with database.connect() as c, pytest.raises(SoarError) as err:
        db.check_role(c, role, allow_owner=False)
    message = str(err.value)
    assert "'postgres', a superuser" in message
    assert f"SOAR_{role.upper()}_DATABASE_URL" in message and "--allow-owner" in message
    assert "\n" not in message


@pytest.mark.parametrize("role", ["ingest", "worker"])
def test_allowed_owner_is_warned_about(database, role, caplog):
    with database.connect() as c, caplog.at_level(logging.WARNING, logger="soar.db"):
        db.check_role(c, role, allow_owner=True)
        # The check leaves the caller's connection usable, outside a transaction.
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "--allow-owner" in record.getMessage()


def test_allow_owner_defaults_to_the_flag_then_the_environment(database, monkeypatch):
    monkeypatch.delenv("SOAR_ALLOW_OWNER", raising=False)
    with database.connect() as c:
        with pytest.raises(SoarError):
            db.check_role(c, "ingest")
        monkeypatch.setenv("SOAR_ALLOW_OWNER", "1")
        db.check_role(c, "ingest")
        monkeypatch.setenv("SOAR_ALLOW_OWNER", "0")
        try:
            db.set_allow_owner(True)
            db.check_role(c, "ingest")
        finally:
            db.set_allow_owner(False)
        with pytest.raises(SoarError):
            db.check_role(c, "ingest")


@pytest.mark.parametrize("role", ["ingest", "worker"])
def test_own_role_passes_and_the_wrong_role_is_refused(database, role, caplog):
    with database.connect(role) as c, caplog.at_level(logging.WARNING, logger="soar.db"):
        db.check_role(c, role, allow_owner=False)
    assert caplog.records == []
    other = "worker" if role == "ingest" else "ingest"
    with database.connect(other) as c, pytest.raises(SoarError) as err:
        db.check_role(c, role, allow_owner=True)      # not the owner: the flag does not help
    assert f"lacks the privileges of soar_{role}" in str(err.value)


@pytest.fixture
def login_role(database):
    """A throw-away login role (roles are cluster-wide: dropped afterwards)."""
    name = f"soar_test_login_{uuid.uuid4().hex[:8]}"
    role = sql.Identifier(name)
    with database.connect(autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(database.name), role))
        try:
            yield name
        finally:
            admin.execute(sql.SQL("REASSIGN OWNED BY {} TO postgres").format(role))
            admin.execute(sql.SQL("DROP OWNED BY {}").format(role))
            admin.execute(sql.SQL("DROP ROLE {}").format(role))


def _connect_as(database, user: str) -> psycopg.Connection:
    return psycopg.connect(database.cluster.url(database.name, user=user))


def test_a_member_of_the_role_passes(database, login_role):
    """Production: the DBA grants soar_ingest to a login user of its own."""
    with database.connect(autocommit=True) as admin:
        admin.execute(sql.SQL("GRANT soar_ingest TO {}").format(sql.Identifier(login_role)))
    with _connect_as(database, login_role) as c:
        db.check_role(c, "ingest", allow_owner=False)


def test_a_non_superuser_owner_is_refused(database, login_role):
    """The owner of the tables (the role that ran the migrations) is not a superuser
    in production; it is refused all the same, even when also granted soar_ingest."""
    with database.connect(autocommit=True) as admin:
        admin.execute(sql.SQL("GRANT soar_ingest TO {}").format(sql.Identifier(login_role)))
        admin.execute(sql.SQL("ALTER TABLE flights OWNER TO {}").format(
            sql.Identifier(login_role)))
    try:
        with _connect_as(database, login_role) as c, pytest.raises(SoarError) as err:
            db.check_role(c, "ingest", allow_owner=False)
        assert "the owner of the tables" in str(err.value)
    finally:
        with database.connect(autocommit=True) as admin:
            admin.execute("ALTER TABLE flights OWNER TO postgres")


def test_an_unmigrated_database_names_the_upgrade(empty_database, login_role):
    with _connect_as(empty_database, login_role) as c, pytest.raises(SoarError) as err:
        db.check_role(c, "worker", allow_owner=False)
    assert "soar db upgrade" in str(err.value)
