"""`soar web` for the tests: the app served by uvicorn on a loopback port (in a thread),
and simulated live traffic stored as the pipeline stores it (aircraft, fixes, flights)
with times around now, so the public window keeps it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import uvicorn

from helpers import refdata
from helpers.net import free_port
from helpers.simulator import FIELD, Sim
from helpers.wait import wait_until
from soar.records import Source, aircraft_id
from soar.units import UTC
from soar.web import WebConfig, create_app

# A registration that runs script if a page ever renders it as HTML; within the 16
# characters a registration may hold (soar.columns.TEXT_MAX), as a feed could send it.
HOSTILE = "<svg onload=p=1>"
STARTUP_CEILING_S = 30


@contextmanager
def serve(url: str, config: WebConfig | None = None) -> Iterator[str]:
    """The app on 127.0.0.1:<free port>; yields its base URL; stops it after."""
    port = free_port()
    app = create_app(config or WebConfig(port=port), url)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="soar-web-test", daemon=True)
    thread.start()
    def started() -> bool:                  # uvicorn's own flag, set once it listens
        assert thread.is_alive(), "uvicorn stopped during start-up"
        return server.started
    wait_until(started, STARTUP_CEILING_S, what="uvicorn to start", poll_s=0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Traffic:
    flights: dict[str, object]        # name -> flight id
    sims: dict[str, Sim]              # name -> its simulated aircraft (fixes, last position)
    aircraft: dict[str, int]          # name -> aircraft id


# name: (address, address type, OGN type, source, registration, identified, tracked, flight)
# flight: True active, False landed, None none at all (standing on the field).
AIRCRAFT = {
    "glider": (0xDD1001, 2, 1, Source.OGN, "D-1234", True, True, True),
    "towplane": (0xDD2002, 2, 2, Source.OGN, "D-EXYZ", False, True, True),
    "airliner": (0x4CA123, 1, None, Source.ADSB, None, True, True, True),
    "untracked": (0xDD3003, 2, 1, Source.OGN, "D-HIDE", True, False, True),
    "hostile": (0xDD4004, 2, 8, Source.OGN, HOSTILE, True, True, True),
    "landed": (0xDD5005, 2, 1, Source.OGN, "D-5555", True, True, False),
    "standing": (0xDD6006, 2, 1, Source.OGN, "D-6666", True, True, None),
}


def live_traffic(conn, now: datetime | None = None) -> Traffic:
    """Seven aircraft near Königsdorf heard in the last ten minutes (fixes every 4 s): a
    glider, a tow plane not identified in the device database, an airliner (ADS-B,
    callsign EIN123), an aircraft marked not tracked (its rows there anyway, as if the
    flag came after), one whose registration is HTML, a glider that has landed, and one
    standing on the field that has not flown (fixes, no flight). Each aircraft row's
    last_seen is its last fix, as the writer leaves it."""
    now = now or datetime.now(UTC)
    flights, sims, ids = {}, {}, {}
    for i, (name, (address, atype, otype, source, reg, identified, tracked, flight)) \
            in enumerate(AIRCRAFT.items()):
        aid = refdata.add_aircraft(conn, address, atype, otype, reg)
        assert aid == aircraft_id(atype, address)
        s = Sim(address, otype, lat=FIELD[0] + 0.01 * i, lon=FIELD[1] + 0.01 * i,
                alt=FIELD[2] + (0 if flight is None else 400 + 100 * i),
                t=now - timedelta(minutes=10), source=source, address_type=atype, seed=i + 1)
        if flight is None:
            s.stand(600, 4)
        else:
            s.straight(600 if flight else 300, 4, 100 + 20 * i, track=30 * i)
        refdata.copy_fixes(conn, aid, s.fixes, source=int(source))
        first, last = s.fixes[0], s.fixes[-1]
        conn.execute("UPDATE aircraft SET identified = %s, tracked = %s, callsign = %s, "
                     "last_seen = %s WHERE id = %s",
                     (identified, tracked, "EIN123" if name == "airliner" else None, last.time,
                      aid))
        sims[name], ids[name] = s, aid
        if flight is None:
            continue
        flights[name] = refdata.add_flight(
            conn, aid, started_at=first.time, source=int(source),
            callsign="EIN123" if name == "airliner" else None,
            takeoff=(first.time, first.latitude, first.longitude),
            landing=None if flight else (last.time, last.latitude, last.longitude),
            last=(last.time, last.latitude, last.longitude))
    conn.commit()
    return Traffic(flights, sims, ids)


def fly_on(conn, traffic: Traffic, name: str, seconds: int = 60) -> None:
    """`name` flies on for `seconds` (a fix every 4 s), stored as the writer stores it:
    the fixes and the flight's last fix in one transaction."""
    s = traffic.sims[name]
    before = len(s.fixes)
    s.straight(seconds, 4, 150, track=90)
    new = s.fixes[before:]
    refdata.copy_fixes(conn, traffic.aircraft[name], new)
    last = new[-1]
    conn.execute("UPDATE flights SET last_fix_at = %s, last_latitude = %s, last_longitude = %s "
                 "WHERE id = %s", (last.time, last.latitude, last.longitude, traffic.flights[name]))
    conn.commit()
