"""soar.db.sqlstate: what a database error means for a batch, by SQLSTATE. Errors
built from their SQLSTATE (psycopg's own classes, as the server's would be); the ones a
real server raises are in tests/integration/test_sqlstate.py."""

from __future__ import annotations

import psycopg
import psycopg.errors as errors
import pytest

from soar.db.sqlstate import Action, classify, explain, sqlstate


def error(code: str, text: str = "refused") -> psycopg.Error:
    return errors.lookup(code)(text)


@pytest.mark.parametrize("code", [
    "22P02", "22001", "22003", "22021", "2200N", "23505", "23503", "23502", "23514",
    "54000", "54001", "40002"])
def test_row_errors_are_data(code):
    assert classify(error(code)) is Action.DATA


@pytest.mark.parametrize("code", [
    "08000", "08003", "08006", "08001", "08P01", "40001", "40P01", "40003", "53000", "53100",
    "53200", "53300", "53400", "57P01", "57P02", "57P03", "55P03", "57014"])
def test_errors_time_can_fix_are_transient(code):
    assert classify(error(code)) is Action.TRANSIENT


@pytest.mark.parametrize("code", [
    "42501", "42P01", "42883", "25006", "25P02", "28P01", "28000", "3D000", "42601", "XX000",
    "58030", "0A000", "P0001"])
def test_everything_else_is_fatal(code):
    assert classify(error(code)) is Action.FATAL


def test_54000_is_data_although_psycopg_calls_it_an_operational_error():
    e = error("54000", "index row size 3016 exceeds btree version 4 maximum 2704")
    assert isinstance(e, psycopg.OperationalError)        # what fooled the class-based rule
    assert classify(e) is Action.DATA


def test_an_unknown_sqlstate_is_fatal():
    class Unknown(psycopg.DatabaseError):
        sqlstate = "ZZ999"
    assert classify(Unknown("?")) is Action.FATAL


@pytest.mark.parametrize("exc, action", [
    (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), Action.DATA),
    (psycopg.OperationalError("consuming input failed: server closed the connection"),
     Action.TRANSIENT),
    (psycopg.InterfaceError("the connection is closed"), Action.TRANSIENT),
    (psycopg.ProgrammingError("query has 2 placeholders but 1 parameters were passed"),
     Action.FATAL),
    (ConnectionResetError(104, "Connection reset by peer"), Action.TRANSIENT),
    (TimeoutError(), Action.TRANSIENT),
    (ValueError("a bug"), Action.FATAL),
])
def test_errors_without_a_sqlstate_are_classified_by_what_raised_them(exc, action):
    assert classify(exc) is action


def test_a_wrapped_error_is_classified_by_its_cause():
    try:
        try:
            raise error("23505", "duplicate key value violates unique constraint")
        except psycopg.Error as inner:
            raise RuntimeError("writing the batch failed") from inner
    except RuntimeError as outer:
        assert classify(outer) is Action.DATA and sqlstate(outer) == "23505"


def test_explain_is_one_line_with_the_sqlstate_and_the_fix():
    line = explain(error("42501", "permission denied for table fixes\nDETAIL: more"))
    assert line == ("SQLSTATE 42501: permission denied for table fixes; grant the privilege "
                    "(`soar db upgrade` applies soar's grants) or use the component's own login")
    assert "run `soar db upgrade`" in explain(error("42P01", 'relation "fixes" does not exist'))
    assert "primary" in explain(error("25006"))
    assert "password" in explain(error("28P01"))
    assert explain(ValueError("a bug")) == "a bug"
