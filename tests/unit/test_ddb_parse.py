"""OGN's device database in its published format (a real excerpt in tests/fixtures)."""

from __future__ import annotations

from helpers.paths import FIXTURES
from soar.records import aircraft_id
from soar.reference import ddb

SAMPLE = FIXTURES / "ddb-sample.csv"


def test_parse_the_published_format():
    rows, skipped = ddb.parse(SAMPLE.read_text())
    assert skipped == 2
    assert rows[0] == (aircraft_id(2, 0), 0, 2, "OK-7777", "HPH 304CZ-17", True, True)
    assert rows[3][4] is None                       # model 'Unknown'
    assert rows[4][5] is False and rows[5][6] is False


