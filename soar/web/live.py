"""The live stream behind /api/v1/live: ONE reader per process, whatever the number
of clients. While anyone listens it reads live_positions_v3 for the whole world every
`live_poll_s`, works out what changed since the last read (moved, appeared, gone), and
hands each client the changes inside its box. A client that does not keep up (its
queue full) is disconnected and counted, so one slow reader never holds memory or
delays the others; the browser's EventSource reconnects by itself and gets a snapshot.

Each changed position is encoded to JSON once per read, whatever the number of
clients; a client's event is its positions' texts joined. Encoding per client was
most of the process's CPU with 500 clients (py-spy, docs/benchmarks.md).

The reads themselves, their diff and that encoding happen in a process of their own
(soar/web/reader.py): this module's LiveFeed only schedules them and fans their
changes out, so the API's routes never wait for them on the GIL.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from soar.errors import first_line
from soar.web import params
from soar.web.config import WebConfig
from soar.web.encoding import dumps, dumps_utc
from soar.web.errors import ApiError

log = logging.getLogger("soar.web")


# What a move carries, in this order: the fields that change from fix to fix. The rest
# (the aircraft's address, registration, callsign, model, type, category and kind) a
# client has from the full position it was sent when the aircraft entered its box.
MOVE_FIELDS = ("aircraft_id", "flight_id", "source", "time", "latitude", "longitude",
               "altitude_m", "ground_speed_kmh", "track_deg", "climb_rate_ms", "on_ground")
_MOVE_FIELDS_JSON = dumps(MOVE_FIELDS)
EMPTY = f'{{"positions":[],"moves":[],"fields":{_MOVE_FIELDS_JSON},"gone":[]}}'
_ZERO = timedelta(0)


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
        same = was is not None and _identity(was) == _identity(p)
        # A position's one datetime is its fix time; read in UTC (reader.read_world),
        # it takes the fast encoder, and the general one otherwise (the same text).
        t = p.get("time")
        encode = dumps_utc if isinstance(t, datetime) and t.utcoffset() == _ZERO else dumps
        out[k] = Placed(p["latitude"], p["longitude"], encode(p),
                        encode(_move(p)) if same else None)
    return out


def _identity(p: dict) -> tuple:
    """What a move leaves out (the client keeps it from the position in full), written
    out: it runs for every change."""
    g = p.get
    return (g("aircraft_address"), g("registration"), g("callsign"), g("model"),
            g("aircraft_type"), g("category"), g("kind"))


def _move(p: dict) -> list:
    g = p.get
    return [g(f) for f in MOVE_FIELDS]


# The fan-out groups a read's changed positions into cells of this size, so that a
# client's box is tested against each cell, and a cell wholly inside it is sent as one
# pre-joined text: per-position work only at the box's edges. The size: bench/fanout.py
# (docs/benchmarks.md, "The live fan-out").
CELL_DEG = 0.25


class Cell(NamedTuple):
    """Changed positions in one grid cell: the rectangle they span (not the grid's: a
    box that holds it holds every one of them), and what a client whose box holds it is
    sent, prepared once per read."""
    south: float
    west: float
    north: float
    east: float
    items: list[tuple[int, Placed]]
    ids: frozenset[int]
    movers: frozenset[int]      # ids that have a move (known identity)
    moves: str                  # their moves, joined
    full: list[str]             # positions of the others (new, identity changed), in full


def cells(moved: dict[int, Placed]) -> list[Cell]:
    grid: dict[tuple[int, int], list[tuple[int, Placed]]] = {}
    for k, p in moved.items():
        grid.setdefault((int(p[0] // CELL_DEG), int(p[1] // CELL_DEG)), []).append((k, p))
    out = []
    for items in grid.values():
        lats = [p[0] for _, p in items]
        lons = [p[1] for _, p in items]
        out.append(Cell(min(lats), min(lons), max(lats), max(lons), items,
                        frozenset(k for k, _ in items),
                        frozenset(k for k, p in items if p[3] is not None),
                        ",".join(p[3] for _, p in items if p[3] is not None),
                        [p[2] for _, p in items if p[3] is None]))
    return out


@dataclass(frozen=True)
class Changes:
    moved: dict[int, Placed]    # aircraft id -> its new position (appeared, moved, flight changed)
    gone: frozenset[int]        # aircraft ids no longer live (not heard recently, left the window)

    @functools.cached_property
    def cells(self) -> list[Cell]:      # built once per read, shared by every client
        return cells(self.moved)



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


class Read(NamedTuple):
    """One read of the world's live positions, as the reader hands it to the feed: the
    positions new since the reader's previous read, placed; every live aircraft id, in
    the query's order; how long the database read took. What is gone the feed works
    out against what it sent, so a reader that starts afresh (its process restarted)
    never leaves a gone aircraft on a client's map."""
    moved: dict[int, Placed]
    order: list[int]
    read_ms: float


class Differ:
    """The reader's memory between reads: the last read's positions, which the next
    one is compared with (no I/O; soar/web/reader.py reads, this works out)."""

    def __init__(self) -> None:
        self.latest: dict[int, dict] = {}

    def step(self, after: dict[int, dict], read_ms: float) -> Read:
        moved = diff(self.latest, after).moved
        self.latest = after
        return Read(moved, list(after), read_ms)


class Reader(Protocol):
    """Where LiveFeed gets its reads: soar.web.reader.ReaderProcess, or a test's script."""

    async def read(self) -> Read: ...

    async def close(self) -> None: ...


def for_client(client: Client, changes: Changes) -> str | None:
    """The update one client gets, as the event's JSON text {positions, moves, fields,
    gone} (None: nothing for it): positions inside its box, in full when new to the
    client, else as a move (an array of MOVE_FIELDS, about a third of the bytes); and
    'gone' for what it was shown that has left the box or stopped.

    A cell wholly inside the box, whose aircraft with a move the client all knows, goes
    whole (its moves pre-joined); any other cell is tested position by position
    (Box.contains, written out inline: this runs for every client of a read)."""
    w, s, e, n = client.box
    across = w > e                                              # across 180 deg
    known = client.known
    full: list[str] = []
    moves: list[str] = []
    left: list[int] = []          # known, moved, now outside the box
    sent = False
    # Cells partition the aircraft, so `known` can grow cell by cell.
    for c in changes.cells:
        if across:
            out = c.north < s or c.south > n or (c.west > e and c.east < w)
        else:
            out = c.north < s or c.south > n or c.east < w or c.west > e
        if out:
            if known and not c.ids.isdisjoint(known):
                left.extend(c.ids.intersection(known))
            continue
        if c.movers <= known and s <= c.south and c.north <= n and (
                (c.west >= w or c.east <= e) if across else (w <= c.west and c.east <= e)):
            sent = True
            full.extend(c.full)
            if c.moves:
                moves.append(c.moves)
            known.update(c.ids)
            continue
        # A cell the box's edge crosses, or one with aircraft new to this client: position
        # by position. Placed read by index (latitude, longitude, json, move): an
        # attribute is a call.
        for k, p in c.items:
            if s <= p[0] <= n and ((p[1] >= w or p[1] <= e) if across else w <= p[1] <= e):
                sent = True
                if p[3] is not None and k in known:
                    moves.append(p[3])
                else:
                    full.append(p[2])
                    known.add(k)
            elif k in known:
                left.append(k)
    if changes.gone and known:
        left.extend(changes.gone.intersection(known))
    if not sent and not left:
        return None
    gone = sorted(left)
    known.difference_update(gone)
    return (f'{{"positions":[{",".join(full)}],"moves":[{",".join(moves)}],'
            f'"fields":{_MOVE_FIELDS_JSON},"gone":{dumps(gone)}}}')


class LiveFeed:
    """The world's live positions, read at most once per `live_poll_s` and shared: the
    live stream's clients get each read's changes in their boxes, /api/v1/positions
    answers from the last read (never older than `positions_max_age_s`). It reads every
    `live_poll_s` (from the start of one read to the next, so the fan-out does not
    stretch the interval) while a client listens or for `positions_keep_s` after the
    last /positions request, so a polling map is answered from memory."""

    def __init__(self, reader: Reader, config: WebConfig):
        self.reader = reader
        self.config = config
        self.clients: set[Client] = set()
        # Every live position, as sent, in the read's order.
        self.latest_placed: dict[int, Placed] = {}
        self.read_at: datetime | None = None
        self._read_started: float | None = None         # time.monotonic() of the last read
        self._reading: asyncio.Future | None = None     # the read in progress, shared
        self._wanted_until = 0.0                        # time.monotonic(): /positions keeps it reading
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
        await self.reader.close()

    def subscribe(self, box: params.Box) -> Client:
        if len(self.clients) >= self.config.max_live_clients:
            raise ApiError(503, f"{len(self.clients)} live clients already, the most this server "
                                "takes: retry later or poll /api/v1/positions",
                           {"Retry-After": "30"})
        client = Client(box, asyncio.Queue(self.config.live_client_queue))
        if self._fresh():
            self._snapshot(client, self.latest_placed)
        # else the next read sends it one (a stale snapshot would show aircraft long gone)
        self.clients.add(client)
        self._wake.set()
        return client

    async def positions(self) -> dict[int, Placed]:
        """Every live position (in the query's order), from a read no older than
        `positions_max_age_s`: the last one, or one made now and shared by every request
        that comes meanwhile; reads go on in the background for `positions_keep_s`."""
        self._wanted_until = time.monotonic() + self.config.positions_keep_s
        self._wake.set()
        if not self._fresh():
            await self._refresh()
        return self.latest_placed

    def _fresh(self) -> bool:
        return (self._read_started is not None and
                time.monotonic() - self._read_started <= self.config.positions_max_age_s)

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

    async def _refresh(self) -> None:
        """One read, whoever asks (the loop, /positions): a second caller waits for the
        read in progress, so changes are worked out against the last read, once."""
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read_and_send())
            self._reading.add_done_callback(self._read_done)
        await asyncio.shield(self._reading)

    def _read_done(self, future: asyncio.Future) -> None:
        self._reading = None
        if not future.cancelled() and future.exception() is not None:
            self.read_errors += 1

    async def _read_and_send(self) -> None:
        started_at = time.monotonic()
        moved, order, read_ms = await self.reader.read()
        read = time.perf_counter()
        before = self.latest_placed
        self.latest_placed = {k: moved.get(k) or before[k] for k in order}
        changes = Changes(moved, frozenset(before.keys() - self.latest_placed.keys()))
        self.read_at = datetime.now().astimezone()
        self._read_started = started_at
        self.reads += 1
        if self.clients:
            changes.cells       # noqa: B018 - built once here, not inside the first client's turn
        for client in list(self.clients):
            if not client.snapshot_sent:      # came before this read
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
        self.read_ms = read_ms
        self.fanout_ms = round((time.perf_counter() - read) * 1000, 1)

    async def _run(self) -> None:
        while True:
            if not self.clients and time.monotonic() >= self._wanted_until:
                self._wake.clear()
                await self._wake.wait()
                continue
            # Every live_poll_s while a client listens; for /positions alone, often
            # enough that its answers are read in the background (two reads a second at
            # the default age, not four: each read competes with the other routes).
            poll = (self.config.live_poll_s if self.clients
                    else self.config.positions_max_age_s / 2)
            due = (self._read_started or 0.0) + poll - time.monotonic()
            if due > 0:
                await asyncio.sleep(due)
                continue
            try:
                await self._refresh()
            except ApiError as exc:
                log.warning("live positions not read: %s", first_line(exc))
                await asyncio.sleep(self.config.live_poll_s)
            except Exception as exc:    # noqa: BLE001 - the map must not stop for good
                log.error("live positions not read (a defect, please report it): %s: %s",
                          type(exc).__name__, first_line(exc))
                await asyncio.sleep(self.config.live_poll_s)
