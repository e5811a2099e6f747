"""soar.db.sqlstate on errors a real server raises: each provoked the way ingest met
or could meet it, then classified."""

from __future__ import annotations

import psycopg
import pytest

from soar.db.sqlstate import Action, classify, explain

CASES = [
    # (SQLSTATE, role, statement, action)
    ("22P02", None, "SELECT 'not a number'::integer", Action.DATA),
    ("23505", None, "INSERT INTO receivers (name) VALUES ('EDFS'), ('EDFS')", Action.DATA),
    # The line: a receiver name of incompressible text over the btree row limit
    # (the length CHECK dropped for this, to reach the index as before revision 0012).
    ("54000", None, "ALTER TABLE receivers DROP CONSTRAINT receivers_name_length; "
                    "INSERT INTO receivers (name) SELECT string_agg(md5(i::text), '') "
                    "FROM generate_series(1, 100) i", Action.DATA),
    ("42501", "readonly", "INSERT INTO receivers (name) VALUES ('EDFS')", Action.FATAL),
    ("42P01", None, "SELECT * FROM fixes_that_do_not_exist", Action.FATAL),
    ("25006", None, "SET TRANSACTION READ ONLY; INSERT INTO receivers (name) VALUES ('X')",
     Action.FATAL),
]


@pytest.mark.parametrize("code, role, statement, action", CASES, ids=[c[0] for c in CASES])
def test_a_real_server_error_is_classified_by_its_sqlstate(database, code, role, statement,
                                                            action):
    with database.connect(role) as c, pytest.raises(psycopg.Error) as caught, c.transaction():
        for part in statement.split("; "):
            c.execute(part)
    assert caught.value.sqlstate == code
    assert classify(caught.value) is action
    line = explain(caught.value)
    assert line.startswith(f"SQLSTATE {code}: ") and "\n" not in line


def test_a_connection_the_server_terminates_is_transient(database):
    with database.connect() as victim, database.connect() as admin:
        pid = victim.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError) as caught:
            victim.execute("SELECT 1")
    assert classify(caught.value) is Action.TRANSIENT, (caught.value.sqlstate, caught.value)
