"""Migration 0005 (geocoding fallback) on a real server: the cache per cell and
source, the fallback work list, repoint_fallback_location (checks, privileges, the
race with a worker writing a flight), downgrade with data, and re-geocoding as a
worker that has no UPDATE on `locations` (what revision 0006 leaves it)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from helpers import refdata
from helpers.fake_pelias import FakePelias
from soar.db import migrate
from worker import regeocode
from worker.config import WorkerConfig
from worker.geocode import Geocoder, cell, make_geocoder

T0 = datetime(2024, 7, 6, 12, 0, tzinfo=timezone.utc)
KOENIGSDORF = (47.8287, 11.465)


def _location(c, source: str, point=KOENIGSDORF, city: str | None = None) -> int:
    lat_e3, lon_e3 = cell(*point)
    return c.execute("INSERT INTO locations (lat_e3, lon_e3, latitude, longitude, city, source) "
                     "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                     (lat_e3, lon_e3, point[0], point[1], city, source)).fetchone()[0]


def _flight(c, address: int, start=None, end=None) -> uuid.UUID:
    aid = refdata.add_aircraft(c, address)
    fid = refdata.add_flight(c, aid, started_at=T0, takeoff=(T0, *KOENIGSDORF))
    c.execute("UPDATE flights SET start_location_id = %s, end_location_id = %s WHERE id = %s",
              (start, end, fid))
    return fid


def _locations_of(c, fid) -> tuple:
    return c.execute("SELECT start_location_id, end_location_id FROM flights WHERE id = %s",
                     (fid,)).fetchone()


def test_a_cell_holds_one_row_per_source(conn):
    _location(conn, "places")
    _location(conn, "pelias")
    with pytest.raises(psycopg.errors.UniqueViolation):
        _location(conn, "places")
    conn.rollback()
    with pytest.raises(psycopg.errors.CheckViolation):
        _location(conn, "google")


def test_repoint_moves_both_ends_and_takes_the_place_off_the_list(database):
    with database.connect() as c:
        places = _location(c, "places", city="Konigsdorf")
        pelias = _location(c, "pelias", city="Königsdorf")
        other = _location(c, "places", point=(48.0, 11.0))
        a = _flight(c, 0x100001, start=places, end=places)
        b = _flight(c, 0x100002, start=other, end=places)
        c.execute("INSERT INTO geocode_fallbacks (location_id) VALUES (%s), (%s)", (places, other))
    with database.connect("worker", autocommit=True) as c:
        assert c.execute("SELECT repoint_fallback_location(%s, %s)", (places, pelias)
                         ).fetchone()[0] == 3
        assert _locations_of(c, a) == (pelias, pelias)
        assert _locations_of(c, b) == (other, pelias)
        assert [r[0] for r in c.execute("SELECT location_id FROM geocode_fallbacks")] == [other]
        # Only a places row onto the Pelias row of ITS cell.
        for bad in ((other, pelias), (pelias, places), (places, other)):
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                c.execute("SELECT repoint_fallback_location(%s, %s)", bad)
    with database.connect("readonly", autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM geocode_fallbacks").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT repoint_fallback_location(%s, %s)", (places, pelias))


def test_a_flight_given_the_fallback_during_a_repoint_is_not_left_behind(database):
    """The race the work list's row lock settles: a worker gives flight F the fallback
    place (listing it, then writing F) while a re-geocoding of that place runs. The
    re-geocoding waits for F's transaction and re-points F too."""
    with database.connect() as c:
        places = _location(c, "places")
        pelias = _location(c, "pelias")
        early = _flight(c, 0x200001, start=places)
        late = _flight(c, 0x200002)
        c.execute("INSERT INTO geocode_fallbacks (location_id) VALUES (%s)", (places,))
    writer = database.connect("worker")
    try:
        # The worker's write transaction, as Enricher.write runs it, not yet committed.
        writer.execute("INSERT INTO geocode_fallbacks AS g (location_id) VALUES (%s) "
                       "ON CONFLICT (location_id) DO UPDATE SET last_at = now()", (places,))
        writer.execute("SELECT update_flight_takeoff_enrichment(%s, 'done', NULL, NULL, NULL, %s)",
                       (late, places))
        result: list[int] = []
        with database.connect("worker", autocommit=True) as r:
            pid = r.info.backend_pid
            t = threading.Thread(target=lambda: result.append(r.execute(
                "SELECT repoint_fallback_location(%s, %s)", (places, pelias)).fetchone()[0]))
            t.start()
            with database.connect(autocommit=True) as admin:
                for _ in range(6000):                    # until the repoint waits on a lock
                    if admin.execute("SELECT wait_event_type FROM pg_stat_activity "
                                     "WHERE pid = %s", (pid,)).fetchone()[0] == "Lock":
                        break
                    threading.Event().wait(0.01)
                else:
                    pytest.fail("the re-geocoding did not wait for the worker's transaction")
            writer.commit()
            t.join(60)
        assert result == [2]
    finally:
        writer.close()
    with database.connect() as c:
        assert _locations_of(c, early)[0] == pelias
        assert _locations_of(c, late)[0] == pelias
        assert c.execute("SELECT count(*) FROM geocode_fallbacks").fetchone()[0] == 0


def test_downgrade_keeps_pelias_places_and_upgrade_again(empty_database):
    url = empty_database.url()
    migrate.upgrade(url)
    with psycopg.connect(url) as c:
        places = _location(c, "places")
        pelias = _location(c, "pelias")
        only_places = _location(c, "places", point=(48.0, 11.0))
        a = _flight(c, 0x300001, start=places, end=only_places)
        c.execute("INSERT INTO geocode_fallbacks (location_id) VALUES (%s)", (places,))
    migrate.downgrade(url, "0004")
    with psycopg.connect(url) as c:
        assert _locations_of(c, a) == (pelias, only_places)
        assert sorted(r[0] for r in c.execute("SELECT id FROM locations")) == sorted(
            [pelias, only_places])
        assert c.execute("SELECT to_regclass('geocode_fallbacks')").fetchone()[0] is None
        with pytest.raises(psycopg.errors.UniqueViolation):
            _location(c, "places")                   # one row per cell again
    migrate.upgrade(url)
    with psycopg.connect(url) as c:
        _location(c, "places")                       # and per cell and source after
        assert c.execute("SELECT count(*) FROM geocode_fallbacks").fetchone()[0] == 0


def test_fallback_and_regeocode_need_no_update_on_locations(refdb, data_dir):
    """Revision 0006 takes UPDATE on locations from the worker: the fallback and the
    re-geocoding insert rows and re-point flights only."""
    with refdb.connect() as c:
        c.execute("REVOKE UPDATE ON locations FROM soar_worker")
        fids = [_flight(c, 0x400001 + i) for i in range(3)]
    with FakePelias(data_dir / "pelias") as fake:
        fake.mode = "error"
        cfg = WorkerConfig(pelias_url=fake.url, pelias_retries=0, pelias_retry_backoff_s=0.01)
        geocoder = make_geocoder(cfg)
        with refdb.connect("worker", autocommit=True) as c:
            for fid in fids:
                located = geocoder.locate(c, *KOENIGSDORF)
                assert (located.source, located.fallback) == ("places", True)
                with c.transaction():
                    c.execute("INSERT INTO geocode_fallbacks AS g (location_id) VALUES (%s) "
                              "ON CONFLICT (location_id) DO UPDATE SET last_at = now()",
                              (located.id,))
                    c.execute("SELECT update_flight_takeoff_enrichment(%s, 'done', NULL, NULL, "
                              "NULL, %s)", (fid, located.id))
            assert regeocode.pending(c) == 1
            result = regeocode.regeocode(c, geocoder)
            assert result.error is not None and result.locations == 0 and result.left == 1
            fake.mode = "ok"
            assert regeocode.regeocode(c, geocoder) == regeocode.Regeocoded(1, 3, 0, None)
            assert fake.count == 5                   # 3 fallbacks, 1 failed round, 1 answer
            rows = c.execute("""SELECT l.source, l.city FROM flights f
                                JOIN locations l ON l.id = f.start_location_id""").fetchall()
            assert rows == [("pelias", "Bray-et-Lû")] * 3
            # Offline geocoding (no Pelias URL) prefers the cell's Pelias row.
            offline = Geocoder(None)
            assert offline.locate(c, *KOENIGSDORF) == (c.execute(
                "SELECT id FROM locations WHERE source = 'pelias'").fetchone()[0], "pelias", False)
