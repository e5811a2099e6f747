"""OGN's device database in its published format (a real excerpt in tests/fixtures)."""

from __future__ import annotations

import pytest

from helpers.paths import FIXTURES
from soar.errors import SoarError
from soar.records import aircraft_id
from soar.reference import ddb

SAMPLE = FIXTURES / "ddb-sample.csv"


def test_parse_the_published_format():
    rows, skipped = ddb.parse(SAMPLE.read_text())
    assert skipped == 2
    assert rows[0] == (aircraft_id(2, 0), 0, 2, "OK-7777", "HPH 304CZ-17", True, True, "KN", True)
    assert rows[3][4] is None                       # model 'Unknown'
    assert rows[4][5] is False and rows[5][6] is False




DOWNLOAD = FIXTURES / "ddb-download.csv"


def test_parse_the_download_as_the_server_writes_it():
    """CRLF lines, an 11th value (the unique id), fields the server blanks, and empty
    flags: an empty TRACKED or IDENTIFIED means yes, only N withholds."""
    rows, skipped = ddb.parse(DOWNLOAD.read_bytes().decode("utf-8"))   # CRLF kept
    flags = {r[1]: (r[5], r[6]) for r in rows}
    assert flags == {
        0x000000: (True, True), 0x000002: (True, True),
        0x3EE1A2: (False, True),                    # not tracked
        0x3EE1A3: (True, False),                    # not identified
        0x07A1B2: (True, True),                     # both empty: OGN's default
        0x3C6444: (True, True),                     # IDENTIFIED empty
        0xDD4E11: (True, False),                    # TRACKED empty, IDENTIFIED N
        0xDD4E12: (True, False),                    # lower case y / n
    }
    assert skipped == 2                             # 'YN' and '?' are no flags
    by_address = {r[1]: r for r in rows}
    assert by_address[0x3EE1A2][3:5] == (None, None)       # blanked by the server: unknown
    assert by_address[0x07A1B2][:3] == (aircraft_id(3, 0x07A1B2), 0x07A1B2, 3)
    assert by_address[0x3C6444][2:5] == (1, "D-AIPX", "Airbus A320")


def test_the_default_source_is_https():
    assert ddb.DEFAULT_SOURCE == "https://ddb.glidernet.org/download/"


@pytest.mark.parametrize("source", ["http://ddb.glidernet.org/download/",
                                    "HTTP://ddb.glidernet.org/download/",
                                    "http://10.0.0.5/ddb.csv"])
def test_plain_http_from_another_host_is_refused(source):
    with pytest.raises(SoarError) as err:
        ddb.import_ddb(None, source)       # refused before any connection or download
    assert "https://" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("source", ["https://ddb.glidernet.org/download/",
                                    "http://127.0.0.1:8080/download/", "http://[::1]/d",
                                    "http://localhost/d", "/var/lib/ddb.csv"])
def test_https_loopback_and_files_pass(source):
    ddb.check_source(source)
