"""The JSON API of `soar web` against a real database, served by uvicorn on loopback
and read over HTTP as a client does: positions, the live stream, flights, fixes and
exports, the logbook as `soar logbook` gives it, statistics as `soar stats --json`
gives them, receivers, health; the privacy rules and the limits."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime, timedelta

import psycopg
import pytest
import requests
from aerofiles.igc import Reader

from helpers import refdata
from helpers.net import free_port
from helpers.wait import wait_until
from helpers.web import HOSTILE, fly_on, live_traffic, serve
from soar.db.sqlfiles import queries
from soar.products import logbook, statistics
from soar.units import UTC
from soar.web import WebConfig
from soar.web.database import Database, _api_error
from soar.web.errors import ApiError
from soar_worker.config import WorkerConfig
from soar_worker.loop import run_workers

BOX = "10.5,47.2,12.8,48.6"
# The aircraft of helpers.web.live_traffic the map shows: all but the one not tracked.
LIVE = {"DD1001", "DD2002", "4CA123", "DD4004", "DD5005", "DD6006"}
QUERIES = queries("queries/web.sql")
CEILING_S = 60


@pytest.fixture
def traffic(database):
    with database.connect() as c:
        return live_traffic(c)


@pytest.fixture
def api(database, traffic):
    with serve(database.url("readonly")) as base:
        yield base


def get(base, path, status=200, **params):
    r = requests.get(base + path, params=params, timeout=CEILING_S)
    assert r.status_code == status, r.text
    return r


def test_positions_in_a_box_are_the_aircraft_heard_recently_at_their_latest_fix(api, traffic):
    body = get(api, "/api/v1/positions", bbox=BOX).json()
    by_address = {p["aircraft_address"]: p for p in body["positions"]}
    # Not tracked: never. On the ground without an active flight (landed, or standing
    # before any flight): there, with no flight.
    assert set(by_address) == LIVE
    assert by_address["DD5005"]["flight_id"] is None
    standing = by_address["DD6006"]
    assert standing["flight_id"] is None and standing["registration"] == "D-6666"
    assert standing["aircraft_id"] == traffic.aircraft["standing"]
    last = traffic.sims["standing"].fixes[-1]
    assert (standing["latitude"], standing["longitude"]) == (round(last.latitude, 6),
                                                              round(last.longitude, 6))
    glider = by_address["DD1001"]
    last = traffic.sims["glider"].fixes[-1]
    assert glider["flight_id"] == str(traffic.flights["glider"])
    assert (glider["latitude"], glider["longitude"]) == (round(last.latitude, 6),
                                                          round(last.longitude, 6))
    assert datetime.fromisoformat(glider["time"].replace("Z", "+00:00")) == last.time
    assert glider["track_deg"] == last.track_deg and glider["altitude_m"] == last.altitude_m
    assert (glider["registration"], glider["kind"]) == ("D-1234", "glider")
    # Not identified in the device database: no registration, no callsign.
    assert by_address["DD2002"]["registration"] is None and by_address["DD2002"]["kind"] == "tow"
    assert (by_address["4CA123"]["callsign"], by_address["4CA123"]["kind"]) == ("EIN123", "airliner")
    # A box elsewhere is empty; one across the antimeridian is accepted.
    assert get(api, "/api/v1/positions", bbox="0,0,1,1").json()["positions"] == []
    assert get(api, "/api/v1/positions", bbox="179,-1,-179,1").json()["positions"] == []


@pytest.mark.parametrize("path, params, status, words", [
    ("/api/v1/positions", {}, 400, "bbox is required"),
    ("/api/v1/positions", {"bbox": "1,2,3"}, 400, "four numbers"),
    ("/api/v1/positions", {"bbox": "nan,1,2,3"}, 400, "four numbers"),
    ("/api/v1/positions", {"bbox": "-100,-60,100,60"}, 400, "smaller box"),
    ("/api/v1/positions", {"bbox": "1,50,2,40"}, 400, "south <= north"),
    ("/api/v1/flights", {"limit": "100000"}, 400, "give 1 to 500"),
    ("/api/v1/flights", {"date": "yesterday"}, 400, "YYYY-MM-DD"),
    ("/api/v1/flights", {"aircraft": "xyz"}, 400, "hex"),
    ("/api/v1/flights", {"active": "maybe"}, 400, "true or false"),
    ("/api/v1/flights", {"tz": "Mars/Olympus"}, 400, "IANA"),
    ("/api/v1/flights", {"after": "garbage"}, 400, "`next` link"),
    ("/api/v1/flights", {"airfield": "ZZZZ"}, 404, "soar import airports"),
    ("/api/v1/flights/not-a-uuid", {}, 400, "whole id"),
    (f"/api/v1/flights/{uuid.UUID(int=7)}", {}, 404, "no flight"),
    (f"/api/v1/flights/{uuid.UUID(int=7)}/track.exe", {}, 404, "track.igc"),
    ("/api/v1/stats", {"days": "x"}, 400, "whole numbers"),
    ("/api/v1/nothing", {}, 404, "docs/api.md"),
    ("/api/v1/airfields/LFPG/logbook", {"format": "xml"}, 400, "json or csv"),
    # Hostile input: NUL and control bytes, huge numbers and lengths, dates at the edge.
    ("/api/v1/flights", {"airfield": "LF\x00PG"}, 400, "OurAirports ident"),
    ("/api/v1/flights", {"airfield": "X" * 10_000}, 400, "OurAirports ident"),
    ("/api/v1/airfields/%01%02/logbook", {}, 400, "OurAirports ident"),
    ("/api/v1/flights", {"date": "9999-12-31"}, 400, "year 1 and 9999"),
    ("/api/v1/flights", {"tz": "\x00"}, 400, "IANA"),
    ("/api/v1/positions", {"bbox": "1e308,0,1,1"}, 400, "within -180..180"),
    ("/api/v1/positions", {"bbox": "1," * 2_000}, 400, "four numbers"),
    ("/api/v1/flights", {"limit": "9" * 400}, 400, "give 1 to 500"),
    ("/api/v1/stats", {"days": "9" * 400}, 400, "days: 1 to 366"),
])
def test_bad_requests_get_json_naming_the_fix(api, path, params, status, words):
    r = get(api, path, status, **params)
    assert r.headers["content-type"] == "application/json"
    assert words in r.json()["error"]


def test_only_get_is_allowed(api):
    r = requests.post(api + "/api/v1/flights", timeout=CEILING_S)
    assert r.status_code == 405 and "only reads" in r.json()["error"]


def test_flights_filter_and_page_through_every_flight_once(api, traffic):
    seen, path, pages = [], "/api/v1/flights?limit=2", 0
    while path:
        body = get(api, path).json()
        seen += [f["id"] for f in body["flights"]]
        path, pages = body["next"], pages + 1
    # Every flight but the untracked aircraft's, newest first, each once.
    expected = {str(traffic.flights[n]) for n in traffic.flights if n != "untracked"}
    assert len(seen) == len(set(seen)) == 5 and set(seen) == expected and pages == 3
    active = get(api, "/api/v1/flights", active="false").json()["flights"]
    assert [f["id"] for f in active] == [str(traffic.flights["landed"])]
    assert len(get(api, "/api/v1/flights", active="true").json()["flights"]) == 4
    [one] = get(api, "/api/v1/flights", aircraft="dd2002").json()["flights"]
    assert one["registration"] is None and one["aircraft_address"] == "DD2002"
    today = datetime.now(UTC).date()
    assert len(get(api, "/api/v1/flights", date=str(today - timedelta(days=3))).json()["flights"]) == 0


def test_one_flight_its_fixes_and_exports(api, traffic):
    fid, sim = traffic.flights["landed"], traffic.sims["landed"]
    flight = get(api, f"/api/v1/flights/{fid}")
    body = flight.json()
    assert body["id"] == str(fid) and body["registration"] == "D-5555" and body["active"] is False
    assert flight.headers["cache-control"].startswith("public, max-age=")
    fixes = get(api, f"/api/v1/flights/{fid}/fixes")
    data = fixes.json()
    assert len(data["fixes"]) == len(sim.fixes)
    lat = data["fields"].index("latitude")
    assert [round(x[lat], 9) for x in data["fixes"]] == [round(f.latitude, 9) for f in sim.fixes]
    assert "max-age=" in fixes.headers["cache-control"]
    geo = get(api, f"/api/v1/flights/{fid}/track.geojson")
    assert geo.headers["content-type"] == "application/geo+json"
    assert len(geo.json()["features"][0]["geometry"]["coordinates"]) == len(sim.fixes)
    igc = get(api, f"/api/v1/flights/{fid}/track.igc")
    assert 'filename="D-5555-' in igc.headers["content-disposition"]
    parsed = Reader().read(io.StringIO(igc.content.decode("ascii")))
    assert len(parsed["fix_records"][1]) == len(sim.fixes)
    kml = get(api, f"/api/v1/flights/{fid}/track.kml")
    assert kml.text.count("\n") > len(sim.fixes)
    # An active flight: never cached.
    active = get(api, f"/api/v1/flights/{traffic.flights['glider']}/fixes")
    assert active.headers["cache-control"] == "no-store"
    # Not tracked: as if it did not exist, on every route.
    hidden = traffic.flights["untracked"]
    for path in ("", "/fixes", "/track.igc"):
        assert get(api, f"/api/v1/flights/{hidden}{path}", 404).json()["error"].startswith("no flight")


def test_hostile_registration_is_only_ever_json_text(api, traffic):
    r = get(api, "/api/v1/positions", bbox=BOX)
    assert b"<svg" not in r.content and b"\\u003csvg onload=p=1\\u003e" in r.content
    [p] = [p for p in r.json()["positions"] if p["aircraft_address"] == "DD4004"]
    assert p["registration"] == HOSTILE
    igc = get(api, f"/api/v1/flights/{traffic.flights['hostile']}/track.igc")
    assert "<" not in igc.headers["content-disposition"]


def test_every_answer_carries_the_security_headers(api):
    for path in ("/", "/api/v1/health", "/api/v1/nothing"):
        r = requests.get(api + path, timeout=CEILING_S)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"


def test_public_window_hides_what_is_older(database):
    """A flight of 30 hours ago: in the archive (no window), never with the 24 h window."""
    with database.connect() as c:
        old = live_traffic(c, datetime.now(UTC) - timedelta(hours=30))
    fid = old.flights["glider"]
    with serve(database.url("readonly")) as base:
        assert get(base, "/api/v1/positions", bbox=BOX).json()["positions"] == []
        assert get(base, "/api/v1/flights").json()["flights"] == []
        assert "public window" in get(base, f"/api/v1/flights/{fid}", 404).json()["error"]
    with serve(database.url("readonly"), WebConfig(public_window_h=None)) as base:
        positions = get(base, "/api/v1/positions", bbox=BOX).json()["positions"]
        assert {p["aircraft_address"] for p in positions} == LIVE
        assert len(get(base, "/api/v1/flights").json()["flights"]) == 5
        assert get(base, f"/api/v1/flights/{fid}").json()["id"] == str(fid)


def _events(response):
    """(event, data) pairs of a text/event-stream, as they arrive."""
    kind, data = None, []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield kind, json.loads("\n".join(data))
            kind, data = None, []


def test_live_stream_sends_moves_landings_and_departures_in_its_box(database, api, traffic):
    with requests.get(api + "/api/v1/live", params={"bbox": BOX}, stream=True,
                      timeout=(CEILING_S, CEILING_S)) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = _events(r)
        kind, first = next(events)
        assert {p["aircraft_address"] for p in first["positions"]} == LIVE
        addresses = {p["aircraft_id"]: p["aircraft_address"] for p in first["positions"]}
        with database.connect() as c:
            fly_on(c, traffic, "glider", 60)
            # The tow plane lands: it stays on the map, without its flight.
            c.execute("UPDATE flights SET landing_time = last_fix_at WHERE id = %s",
                      (traffic.flights["towplane"],))
            # The standing glider's owner opts out: it leaves the map.
            c.execute("UPDATE aircraft SET tracked = false WHERE id = %s",
                      (traffic.aircraft["standing"],))
        want = traffic.sims["glider"].fixes[-1]
        moved = landed = gone = False
        for kind, update in events:
            assert kind == "update"
            # Known aircraft come as moves (their changing fields), new ones in full.
            moves = [dict(zip(update["fields"], m, strict=True)) for m in update["moves"]]
            for p in update["positions"] + moves:
                p.setdefault("aircraft_address", addresses.get(p["aircraft_id"]))
                if p["aircraft_address"] == "DD1001":
                    moved = p["latitude"] == round(want.latitude, 6)
                if p["aircraft_address"] == "DD2002":
                    landed = p["flight_id"] is None
            gone = gone or traffic.aircraft["standing"] in update["gone"]
            assert traffic.aircraft["towplane"] not in update["gone"]
            if moved and landed and gone:
                break
    # A stream in another box hears nothing of these aircraft.
    with requests.get(api + "/api/v1/live", params={"bbox": "0,0,1,1"}, stream=True,
                      timeout=(CEILING_S, CEILING_S)) as r:
        kind, data = next(_events(r))
        assert data["positions"] == []
    # Closed streams leave the feed: its client count goes back to none.
    wait_until(lambda: not get(api, "/api/v1/health").json()["live"]["clients"], CEILING_S,
               what="closed live clients no longer counted")


def test_receivers_with_last_beacon_and_fixes_in_the_last_hour(database, api):
    now = datetime.now(UTC)
    with database.connect() as c:
        [rid] = c.execute("INSERT INTO receivers (name, latitude, longitude, last_seen) "
                          "VALUES ('Koenigsdf', 47.83, 11.46, %s) RETURNING id", (now,)).fetchone()
        c.execute("INSERT INTO receivers (name, last_seen) VALUES ('Gone', %s)",
                  (now - timedelta(days=3),))
        c.execute("UPDATE fixes SET receiver_id = %s WHERE aircraft_id = %s",
                  (rid, (2 << 24) | 0xDD1001))
        [n] = c.execute("SELECT count(*) FROM fixes WHERE receiver_id = %s "
                        "AND time >= now() - interval '1 hour'", (rid,)).fetchone()
    [r] = get(api, "/api/v1/receivers").json()["receivers"]
    assert (r["name"], r["fixes_last_hour"]) == ("Koenigsdf", n) and n > 100
    assert r["last_beacon"].startswith(now.date().isoformat())


def test_stats_are_what_soar_stats_json_gives(database, api):
    with database.connect(role="readonly") as c:
        expected = json.loads(json.dumps(statistics.report(c, 1, 5), default=str))
    got = get(api, "/api/v1/stats", days=30, top=5).json()     # the window keeps one day
    assert got["days"] == 1 and got["since"] == expected["since"]
    assert got["daily"] and [d["flights"] for d in got["daily"]] == \
        [d["flights"] for d in expected["daily"]]


def test_health_says_database_and_queue(api):
    body = get(api, "/api/v1/health").json()
    assert body["database"] == "ok" and "flight_enrichment" in body["queue"]


def test_an_unreachable_database_is_a_503_naming_the_fix():
    url = f"postgresql://soar_readonly@127.0.0.1:{free_port()}/nothing"
    with serve(url, WebConfig(pool_timeout_s=1)) as base:
        r = get(base, "/api/v1/health", 503)
        assert "soar db status" in r.json()["database"]
        r = get(base, "/api/v1/positions", 503, bbox=BOX)
        assert "PostgreSQL is up" in r.json()["error"] and r.headers["retry-after"] == "5"


def test_a_statement_over_the_timeout_is_a_503_asking_for_less(database):
    with database.connect(role="readonly") as c:
        c.execute("SET statement_timeout = 10")
        with pytest.raises(psycopg.errors.QueryCanceled) as caught:
            c.execute("SELECT pg_sleep(5)")
    err = _api_error(caught.value, database.url("readonly"))
    assert err.status == 503 and "smaller box" in err.message


def test_every_api_read_is_read_only_and_under_the_statement_timeout(database):
    """Database.read(): each request's transaction is read-only and its statements are
    cancelled at the configured timeout (a 503 asking for less), and after it the
    connection is as it was (SET LOCAL: it holds through PgBouncer)."""
    db = Database(database.url("readonly"), WebConfig(statement_timeout_ms=150))
    db.open()
    try:
        with db.read() as conn:
            assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
            assert conn.execute("SHOW statement_timeout").fetchone() == ("150ms",)
            assert conn.execute("SELECT count(*) FROM airports").fetchone()[0] >= 0
        with pytest.raises(ApiError) as caught, db.read() as conn:
            conn.execute("SELECT pg_sleep(5)")
        assert caught.value.status == 503 and "statement timeout" in caught.value.message
        with db.pool.connection() as conn:       # outside Database.read: the defaults
            assert conn.execute("SHOW transaction_read_only").fetchone() == ("off",)
            assert conn.execute("SHOW statement_timeout").fetchone() != ("150ms",)
    finally:
        db.close()


# -- the logbook on real flights ---------------------------------------------------------

WINCH_DAY = date(2019, 4, 13)


def test_logbook_route_gives_the_rows_soar_logbook_gives(refdb, data_dir):
    """The Königsdorf winch launches (real OGN recording), enriched by the worker."""
    with refdb.connect() as c:
        for address in ("DDEFF7", "DDAC7C"):
            refdata.add_winch_flight(c, data_dir, address)
    stats = run_workers(refdb.url("worker"), WorkerConfig(max_wait_s=2.0), threads=1, drain=True)
    assert stats.dead == 0
    _, expected = logbook.fetch(refdb.url("readonly"), "DE-0066", WINCH_DAY)
    assert len(expected) == 1
    with serve(refdb.url("readonly"), WebConfig(public_window_h=None)) as base:
        body = get(base, "/api/v1/airfields/de-0066/logbook", date=str(WINCH_DAY)).json()
        assert body["airfield"]["ident"] == "DE-0066" and body["tz"] == "UTC"
        assert body["rows"] == [json.loads(x) for x in logbook.to_json_lines(expected).splitlines()]
        r = get(base, "/api/v1/airfields/DE-0066/logbook", date=str(WINCH_DAY), format="csv")
        assert r.text == logbook.to_csv(expected)
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert rows[0]["aircraft_address"] == "DDAC7C"
        # Another zone: the same flight, local times with their offset.
        berlin = get(base, "/api/v1/airfields/DE-0066/logbook", date=str(WINCH_DAY),
                     tz="Europe/Berlin").json()
        assert berlin["rows"][0]["takeoff"].endswith("+02:00")
        # The flights list's airfield filter finds both launches.
        assert len(get(base, "/api/v1/flights", airfield="DE-0066").json()["flights"]) == 2
        fields = get(base, "/api/v1/airfields", bbox="11.3,47.7,11.6,47.9").json()["airfields"]
        assert "DE-0066" in {a["ident"] for a in fields}
    # With the 24 h window the 2019 logbook is empty.
    with serve(refdb.url("readonly")) as base:
        assert get(base, "/api/v1/airfields/DE-0066/logbook", date=str(WINCH_DAY)).json()["rows"] == []



def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_live_positions_are_index_lookups_on_recent_data(database, traffic):
    """The live map's cost (docs/api.md): the aircraft heard recently are a range of the
    last_seen index, their fixes read by the fixes index, newest first, one probe each;
    no chunk of fixes is scanned, nor the aircraft table."""
    # Aircraft heard long ago, as a real database holds many: the planner sees the
    # recent ones as a small range of the last_seen index.
    with database.connect() as c:
        c.execute("INSERT INTO aircraft (id, address, address_type, last_seen) "
                  "SELECT (3::bigint << 24) | a, a, 3, now() - interval '3 days' "
                  "FROM generate_series(1, 20000) a")
        c.execute("ANALYZE aircraft")
        c.commit()
    with database.connect(role="readonly") as c:
        [[plan]] = c.execute("EXPLAIN (FORMAT JSON) " + QUERIES["positions"], {
            "since": None, "heard_since": datetime.now(UTC) - timedelta(minutes=10),
            "west": -180, "south": -90, "east": 180, "north": 90, "limit": 10}).fetchall()
        [[newest]] = c.execute("EXPLAIN (FORMAT JSON) " + QUERIES["newest_heard"]).fetchall()
    # Data time's "now": the end of the last_seen index, not a scan of the aircraft.
    assert {n.get("Index Name") for n in _nodes(newest[0]["Plan"])
            if n.get("Relation Name") == "aircraft"} == {"aircraft_last_seen_idx"}
    nodes = list(_nodes(plan[0]["Plan"]))
    chunk_reads = [(n["Node Type"], n.get("Index Name")) for n in nodes
                   if n.get("Relation Name", "").startswith("_hyper")]
    assert chunk_reads and all(kind.startswith("Index") and name.endswith("fixes_aircraft_time_idx")
                               for kind, name in chunk_reads), chunk_reads
    aircraft_reads = {(n["Node Type"], n.get("Index Name")) for n in nodes
                      if n.get("Relation Name") == "aircraft"}
    assert aircraft_reads and all(kind.startswith("Index") for kind, _ in aircraft_reads), \
        aircraft_reads
    assert ("Index Scan", "aircraft_last_seen_idx") in aircraft_reads
