"""Every message accounted for, on real recordings through the real pipeline and database:

    messages_in = fixes_stored + receiver_beacons + state_only
                  + rejected (by reason) + dropped (by reason) + in_flight

holds exactly, with nothing in flight after a clean close and every stored fix in the
`fixes` table; with hostile lines mixed into a real capture, the good lines are all
stored (exactly as many as without the poison) and each poison line is counted under
its reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from helpers.pipeline import replay
from soar.feeds import recordings
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.stats import IngestStats
from soar.reference import samples

ONEMINUTE = samples.path("oneminute.txt")
AFR34ZG = samples.path("full_flight_short.jsonl")


def assert_balanced(stats: IngestStats, conn, messages: int) -> dict:
    a = stats.accounting()
    assert a["messages_in"] == messages
    assert a["in_flight"] == 0 and a["unaccounted"] == 0 and a["balanced"], a
    assert a["messages_in"] == (a["fixes_stored"] + a["receiver_beacons"] + a["state_only"]
                                + sum(a["rejected"].values()) + sum(a["dropped"].values()))
    assert a["fixes_stored"] == conn.execute("SELECT count(*) FROM fixes").fetchone()[0] > 0
    assert stats.summary()["accounting"] == a
    return a


def wipe(conn) -> None:
    """Back to an empty database between two runs compared with each other."""
    conn.execute("TRUNCATE fixes, flights, aircraft, receivers")
    conn.commit()


def test_the_oneminute_capture_is_accounted_for(database, conn):
    a = assert_balanced(replay(database, ONEMINUTE, "aprs"), conn, 88565)
    assert a["fixes_stored"] > 60_000 and a["receiver_beacons"] > 600
    assert a["dropped"] == {} and "write_error" not in a["rejected"]


def test_the_afr34zg_mode_s_flight_is_accounted_for(database, conn):
    n = sum(1 for line in AFR34ZG.read_text().splitlines() if line.strip())
    a = assert_balanced(replay(database, AFR34ZG, "modes"), conn, n)
    assert a["fixes_stored"] > 3500 and a["state_only"] > 10_000
    assert a["receiver_beacons"] == 0 and a["dropped"] == {}


def test_the_beast_capture_is_accounted_for(database, conn, data_dir):
    capture = data_dir / "beast" / "ulss7-2018-04-03.beast"
    start = datetime(2018, 4, 3, 19, 2, 28, 136000, tzinfo=timezone.utc)
    frames = sum(len(c) for c in recordings.replay(capture, "beast", None, "ulss7", start))
    assert frames == 13_954
    a = assert_balanced(replay(database, capture, "beast", receiver="ulss7", start=start),
                        conn, frames)
    assert a["fixes_stored"] >= 300 and a["rejected"]["unsupported"] > 4000   # Mode-A/C


def test_small_batches_leave_nothing_in_flight(database, conn, tmp_path):
    part = tmp_path / "part.txt"
    part.write_text("\n".join(ONEMINUTE.read_text().splitlines()[:5000]) + "\n")
    assert_balanced(replay(database, part, "aprs", PipelineConfig(batch_size=37, batch_age_s=0.01)),
                    conn, 5000)


def _stamp(line: str, seconds_before: int) -> tuple[str, str]:
    """The capture stamp of `line` and an APRS hhmmss `seconds_before` it."""
    received = datetime.fromisoformat(line[:26])
    return line[:28], (received - timedelta(seconds=seconds_before)).strftime("%H%M%S")


def poison(stamp: str, hms: str) -> dict[str, list[str]]:
    """Hostile lines for aircraft and receivers the capture does not have, by the outcome
    each must have."""
    pos = f"/{hms}h4959.82N/01013.24E'357/037/A=003451"
    adsb = f"/{hms}h4038.69N\\00344.37W^235/248/A=010350"
    return {
        "stored": [
            # NUL and other controls in display-only tokens: cleaned, stored.
            f"{stamp}ICAABCDE1>OGADSB,qAS,EDFS:{adsb} id25ABCDE1 +1792fpm fnA3:RYR\x005VV "
            f"regEI-\x00DYO modelB7\x0138",
            f"{stamp}FLRABCDE2>APRS,qAS,EDFS:{pos} id06ABCDE2 -177fpm +2.9rot 13.0dB reg\x07D-KA\x00BC",
        ],
        "beacon": [
            f"{stamp}POISON1>OGNSDR,TCPIP*,qAC,GLIDERN2:>{hms}h v0.2.7.RPI\x00-GPU CPU:0.7 "
            f"RF:+54\x00-1.1ppm hello\x00world",
        ],
        "bad_text": [
            f"{stamp}FLRABCDE3>APRS,qAS,ED\x00FS:{pos} id06ABCDE3 -177fpm +2.9rot 13.0dB",
            f"{stamp}PO\x00SON2>OGNSDR,TCPIP*,qAC,GLIDERN2:/{hms}h4457.61NI00900.58E&/A=000423",
            f"{stamp}POISON3\x1b>OGNSDR,TCPIP*,qAC,GLIDERN2:>{hms}h v0.2.7.RPI-GPU CPU:0.7",
        ],
        "out_of_range": [
            f"{stamp}FLRABCDE4>APRS,qAS,EDFS:{pos} id06ABCDE4 -177fpm +2.9rot 1e300dB",
            f"{stamp}FLRABCDE5>APRS,qAS,EDFS:{pos} id06ABCDE5 +nanfpm +2.9rot 13.0dB",
            f"{stamp}FLRABCDE6>APRS,qAS,EDFS:{pos} id06ABCDE6 -177fpm -1e39rot 13.0dB",
        ],
        "parse_error": [f"{stamp}\x00\x01garbage"],
    }


def test_poison_mixed_into_a_real_capture_is_counted_and_the_good_lines_stored(
        database, conn, tmp_path):
    good = ONEMINUTE.read_text().splitlines()[:3000]
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join(good) + "\n")
    before = replay(database, clean, "aprs").accounting()
    wipe(conn)

    # One set of poison in front of the capture, one in its middle, one near its end.
    lines = list(good)
    expected: dict[str, int] = {}
    for at, prefix in ((2900, "ABCD1"), (1500, "ABCD2"), (0, "ABCDE")):
        stamp, hms = _stamp(good[max(at, 1)], 2)
        batch = poison(stamp, hms)
        for outcome, bad in batch.items():
            expected[outcome] = expected.get(outcome, 0) + len(bad)
        lines[at:at] = [ln.replace("ABCDE", prefix) for b in batch.values() for ln in b]
    poisoned = tmp_path / "poisoned.txt"
    poisoned.write_text("\n".join(lines) + "\n")
    n_poison = sum(expected.values())
    after = assert_balanced(replay(database, poisoned, "aprs"), conn, 3000 + n_poison)

    # Every good line has the outcome it had without the poison; the poison adds its own.
    assert after["fixes_stored"] == before["fixes_stored"] + expected["stored"]
    assert after["receiver_beacons"] == before["receiver_beacons"] + expected["beacon"]
    assert after["state_only"] == before["state_only"]
    for reason in set(after["rejected"]) | set(before["rejected"]):
        assert after["rejected"].get(reason, 0) - before["rejected"].get(reason, 0) == \
            expected.get(reason, 0), reason

    # What was stored is clean, and nothing infinite reached a `real` column.
    stored = conn.execute(
        "SELECT address, callsign, registration, model FROM aircraft "
        "WHERE address >> 4 IN (x'ABCD1'::int, x'ABCD2'::int, x'ABCDE'::int) ORDER BY address"
    ).fetchall()
    assert [row[1:] for row in stored] == [("RYR5VV", "EI-DYO", "B738"), (None, "D-KABC", None)] * 3
    status = conn.execute("SELECT platform, status->>'rf', status->>'comment' FROM receivers "
                          "WHERE name = 'POISON1'").fetchone()
    assert status == ("RPI-GPU", "+54-1.1ppm", "helloworld")
    assert [n for (n,) in conn.execute("SELECT name FROM receivers WHERE name LIKE 'PO%'")] == \
        ["POISON1"]
    assert conn.execute("SELECT count(*) FROM fixes WHERE signal_db = 'Infinity'::real "
                        "OR turn_rate_degs IN ('Infinity'::real, '-Infinity'::real) "
                        "OR climb_rate_ms = 'NaN'::real").fetchone()[0] == 0


def test_poison_in_front_of_a_capture_loses_nothing(database, conn, tmp_path):
    """The issue's case: a NUL in a receiver name or a comment token before a real
    500-line capture made the database refuse the batch, so none of its fixes were
    stored. Now the batch commits: the good fixes are all there."""
    good = ONEMINUTE.read_text().splitlines()[:500]
    stamp, hms = _stamp(good[1], 2)
    bad = [ln for b in poison(stamp, hms).values() for ln in b]
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join(good) + "\n")
    before = replay(database, clean, "aprs").accounting()
    wipe(conn)
    poisoned = tmp_path / "poisoned.txt"
    poisoned.write_text("\n".join(bad + good) + "\n")
    after = assert_balanced(replay(database, poisoned, "aprs"), conn, 500 + len(bad))
    assert after["fixes_stored"] == before["fixes_stored"] + 2 > 300
    assert "write_error" not in after["rejected"]
