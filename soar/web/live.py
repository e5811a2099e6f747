"""The live stream behind /api/v1/live: ONE reader per process, whatever the number
of clients. While anyone listens it reads live_positions_v3 for the whole world every
`live_poll_s`, works out what changed since the last read (moved, appeared, gone), and
hands each client the changes inside its box. A client that does not keep up (its
queue full) is disconnected and counted, so one slow reader never holds memory or
delays the others; the browser's EventSource reconnects by itself and gets a snapshot.

Each changed position is encoded to JSON once per read, whatever the number of
clients; a client's event is its positions' texts joined. Encoding per client was
most of the process's CPU with 500 clients (py-spy, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from starlette.concurrency import run_in_threadpool

from soar.db.sqlfiles import queries
from soar.errors import first_line
from soar.web import params
from soar.web.aircraft import position
from soar.web.config import WebConfig
from soar.web.database import Database, dicts
from soar.web.encoding import dumps
from soar.web.errors import ApiError

log = logging.getLogger("soar.web")
QUERIES = queries("queries/web.sql")
WORLD = params.Box(-180.0, -90.0, 180.0, 90.0)


def recent(conn, config: WebConfig) -> dict:
    """The parameters of the `positions` and `home` queries: the public window (`since`,
    wall-clock) and `heard_since`, `live_recent_s` before the newest aircraft heard
    (data time; None when none ever was, and then nothing is shown)."""
    [row] = dicts(conn, QUERIES["newest_heard"], {})
    newest = row["newest"]
    return {"since": params.window_start(config),
            "heard_since": newest - timedelta(seconds=config.live_recent_s) if newest else None}


# What a move carries, in this order: the fields that change from fix to fix. The rest
# (the aircraft's address, registration, callsign, model, type, category and kind) a
# client has from the full position it was sent when the aircraft entered its box.
MOVE_FIELDS = ("aircraft_id", "flight_id", "source", "time", "latitude", "longitude",
               "altitude_m", "ground_speed_kmh", "track_deg", "climb_rate_ms", "on_ground")
_MOVE_FIELDS_JSON = dumps(MOVE_FIELDS)
EMPTY = f'{{"positions":[],"moves":[],"fields":{_MOVE_FIELDS_JSON},"gone":[]}}'
_IDENTITY = ("aircraft_address", "registration", "callsign", "model", "aircraft_type",
             "category", "kind")


class Placed(NamedTuple):
    """A position as the stream sends it: where (to pick the clients), its JSON in full,
    and as a move (None when the aircraft is new or its identity changed: every client
    then gets it in full)."""
    latitude: float
    longitude: float
    json: str
    move: str | None


def placed(positions: dict[int, dict], before: dict[int, dict] | None = None) -> dict[int, Placed]:
    before = before or {}
    out = {}
    for k, p in positions.items():
        was = before.get(k)
        same = was is not None and all(was.get(f) == p.get(f) for f in _IDENTITY)
        out[k] = Placed(p["latitude"], p["longitude"], dumps(p),
                        dumps([p.get(f) for f in MOVE_FIELDS]) if same else None)
    return out


@dataclass(frozen=True)
class Changes:
    moved: dict[int, Placed]    # aircraft id -> its new position (appeared, moved, flight changed)
    gone: frozenset[int]        # aircraft ids no longer live (not heard recently, left the window)


@dataclass(eq=False)
class Client:
    box: params.Box
    queue: asyncio.Queue
    known: set[int] = field(default_factory=set)   # aircraft ids this client has been sent
    dropped: bool = False
    snapshot_sent: bool = False     # every client starts with one, even of an empty box


def diff(before: dict[int, dict], after: dict[int, dict]) -> Changes:
    """What changed between two reads (keyed by aircraft id): a position is new when its
    fix time or its flight (a takeoff, a landing) differs."""
    moved = {k: v for k, v in after.items() if k not in before
             or (before[k]["time"], before[k]["flight_id"]) != (v["time"], v["flight_id"])}
    return Changes(placed(moved, before), frozenset(before.keys() - after.keys()))


def for_client(client: Client, changes: Changes) -> str | None:
    """The update one client gets, as the event's JSON text {positions, moves, fields,
    gone} (None: nothing for it): positions inside its box (Box.contains, written out
    inline: this runs for every client and position of a read), in full when new to the
    client, else as a move (an array of MOVE_FIELDS, about a third of the bytes); and
    'gone' for what it was shown that has left the box or stopped."""
    w, s, e, n = client.box
    # Placed read by index (latitude, longitude, json, move): an attribute is a call.
    moved = changes.moved.items()
    if w <= e:
        inside = {k: p for k, p in moved if s <= p[0] <= n and w <= p[1] <= e}
    else:                                                       # across 180 deg
        inside = {k: p for k, p in moved if s <= p[0] <= n and (p[1] >= w or p[1] <= e)}
    known = client.known
    left = known.intersection(changes.moved).difference(inside)
    gone = sorted(known.intersection(changes.gone).union(left))
    if not inside and not gone:
        return None
    full = [p[2] for k, p in inside.items() if p[3] is None or k not in known]
    moves = [p[3] for k, p in inside.items() if p[3] is not None and k in known]
    known.difference_update(gone)
    known.update(inside)
    return (f'{{"positions":[{",".join(full)}],"moves":[{",".join(moves)}],'
            f'"fields":{_MOVE_FIELDS_JSON},"gone":{dumps(gone)}}}')


class LiveFeed:
    """Reads every `live_poll_s` (from the start of one read to the next, so the fan-out
    does not stretch the interval) while anyone listens."""

    def __init__(self, database: Database, config: WebConfig):
        self.database = database
        self.config = config
        self.clients: set[Client] = set()
        self.latest: dict[int, dict] = {}
        self.latest_placed: dict[int, Placed] = {}      # the same, as sent
        self.read_at: datetime | None = None
        self.reads = 0
        self.read_errors = 0
        # The last cycle's two parts (health shows them): the database read, and
        # working out and queueing every client's update.
        self.read_ms: float | None = None
        self.fanout_ms: float | None = None
        self.dropped_clients = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="soar-web-live")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for c in list(self.clients):
            self._close(c)

    def subscribe(self, box: params.Box) -> Client:
        if len(self.clients) >= self.config.max_live_clients:
            raise ApiError(503, f"{len(self.clients)} live clients already, the most this server "
                                "takes: retry later or poll /api/v1/positions",
                           {"Retry-After": "30"})
        client = Client(box, asyncio.Queue(self.config.live_client_queue))
        if self.read_at is not None:
            self._snapshot(client, self.latest_placed)
        self.clients.add(client)
        self._wake.set()
        return client

    @staticmethod
    def _snapshot(client: Client, positions: dict[int, Placed]) -> None:
        snapshot = for_client(client, Changes(positions, frozenset()))
        client.queue.put_nowait(("snapshot", snapshot or EMPTY))
        client.snapshot_sent = True

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)

    def _close(self, client: Client) -> None:
        client.dropped = True
        self.clients.discard(client)
        while not client.queue.empty():     # make room for the end-of-stream mark
            client.queue.get_nowait()
        client.queue.put_nowait(None)

    def _read(self) -> dict[str, dict]:
        with self.database.read() as conn:
            rows = dicts(conn, QUERIES["positions"], {
                **WORLD.as_params(), **recent(conn, self.config), "limit": 1_000_000})
        return {p["aircraft_id"]: p for p in map(position, rows)}

    async def _run(self) -> None:
        while True:
            if not self.clients:
                # Idle: what was read goes stale, so the next client waits for a fresh read.
                self.latest, self.latest_placed, self.read_at = {}, {}, None
                self._wake.clear()
                await self._wake.wait()
            next_read = time.monotonic() + self.config.live_poll_s
            started = time.perf_counter()
            try:
                after = await run_in_threadpool(self._read)
            except ApiError as exc:
                self.read_errors += 1
                log.warning("live positions not read: %s", first_line(exc))
                await asyncio.sleep(self.config.live_poll_s)
                continue
            read = time.perf_counter()
            changes = diff(self.latest, after)
            for k in changes.gone:
                del self.latest_placed[k]
            self.latest_placed.update(changes.moved)
            self.latest, self.read_at = after, datetime.now().astimezone()
            self.reads += 1
            for client in list(self.clients):
                if not client.snapshot_sent:      # came before the first read
                    self._snapshot(client, self.latest_placed)
                    continue
                update = for_client(client, changes)
                if update is None:
                    continue
                try:
                    client.queue.put_nowait(("update", update))
                except asyncio.QueueFull:
                    self.dropped_clients += 1
                    log.info("live client dropped: %d updates behind", client.queue.qsize())
                    self._close(client)
            done = time.perf_counter()
            self.read_ms = round((read - started) * 1000, 1)
            self.fanout_ms = round((done - read) * 1000, 1)
            await asyncio.sleep(max(0.0, next_read - time.monotonic()))
