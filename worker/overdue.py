"""Overdue alerts for search and rescue: a flight that ended by timeout (no landing
seen), last heard low above the ground or descending, and not heard since.

When: while the worker enriches the flight's `timeout` end (the tracker timed it out,
1 h of data time after its last fix), in the transaction that writes that enrichment
and archives its message, so a timeout is evaluated exactly once. The tracker's resume
window (3 h) is not waited for: a resume needs the aircraft heard again, which clears
the alert anyway, while waiting would delay every real alert by two more hours.

The rule (thresholds in WorkerConfig, reasons in docs/enrichment.md):
  no alert  the flight landed, ended otherwise than by timeout (gap, callsign change,
            stale at start-up), resumed, or is spurious; the aircraft is not tracked; it
            was heard again after its last fix; it was last heard more than
            alert_max_age_s ago (a replay or backfill of old data); no fix stored.
  low       height above ground <= alert_low_m, unless fast and climbing (a departing jet);
  descending  mean vertical rate over the last alert_window_s <= alert_descending_ms,
            not fast, and not higher than alert_descending_max_m (when the height is known);
  otherwise no alert (`cruising`, or `fast`): an airliner leaving coverage at cruise.
Height above ground: SRTM terrain (SOAR_SRTM_DIR) where a tile is present, else the
nearest airport's elevation within alert_airport_radius_m, else the departure field's
within alert_departure_radius_m of it, else unknown (then only `descending` can raise).

Alerts do not depend on enrichment: a flight whose `timeout` enrichment failed for good
(dead-lettered) is evaluated by the sweep instead (AlertSweeper.round), with the same
rule and the same single raise (the insert's ON CONFLICT); only the place name of its
end is missing from the text.

Cleared (sweep, every alert_sweep_interval_s and once per drain): the aircraft heard
again (one probe of the fixes index per active alert), the flight resumed or landed or
is gone, the aircraft no longer tracked; or by hand (`soar alerts clear`).

Every notice (raised, cleared) is a queue message {event: overdue_alert, alert_id,
flight_id, notice} sent in the transaction that raised or cleared it, delivered to the
optional webhook by the worker's loop with the queue's retries and dead letters.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from soar.db import sqlfiles
from soar.errors import first_line
from soar.reference.terrain import SrtmTiles
from soar.units import FEET_TO_M, UTC, bearing_deg, distance_m
from soar_worker import messages
from soar_worker.config import WorkerConfig
from soar_worker.metrics import ALERT_EVENT, NOTICES, RAISE, Stats
from soar_worker.tasks import Periodic

log = logging.getLogger(__name__)
QUERIES = sqlfiles.queries("queries/alerts.sql")

# The outcomes (RAISE, NO_ALERT), clear reasons and notices are the worker's words:
# worker.metrics.

# The payload's keys in the order `Alerts.payload` builds them (and the webhook sends).
PAYLOAD_KEYS = ("reason", "aircraft", "last_heard_at", "position", "altitude_m",
                "altitude_source", "height_m", "height_reference", "ground_speed_kmh",
                "track_deg", "vertical_rate_ms", "receivers", "nearest_airport", "place",
                "takeoff", "text")
AIRCRAFT_KEYS = ("address", "address_type", "aircraft_type", "registration", "callsign", "model")

LOOKBACK_S = 300          # the last fixes read: at most this far before the last one...
LOOKBACK_FIXES = 60       # ...and at most this many
MIN_SPAN_S = 10.0         # a vertical rate needs fixes spanning at least this long

AIRCRAFT_TYPES = {1: "glider", 2: "tow plane", 3: "helicopter", 4: "skydiver",
                  5: "drop plane", 6: "hang glider", 7: "paraglider", 8: "powered aircraft",
                  9: "jet", 11: "balloon", 12: "airship", 13: "drone"}
ADDRESS_TYPES = {0: "random", 1: "ICAO", 2: "FLARM", 3: "OGN"}
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


class LastFix(NamedTuple):
    time: datetime
    latitude: float
    longitude: float
    altitude_m: float | None
    ground_speed_kmh: float | None
    track_deg: float | None
    climb_rate_ms: float | None
    receiver: str | None


class Facts(NamedTuple):
    """What the rule looks at (all read in the evaluating transaction)."""
    end_reason: str | None
    landed: bool
    resumed: bool
    spurious: bool
    tracked: bool
    heard_again: bool
    age_s: float | None            # now - last heard
    last: LastFix | None
    height_m: float | None         # above the ground reference (None: unknown)
    vertical_rate_ms: float | None


class Check(NamedTuple):
    outcome: str                   # one of RAISE (an alert) or NO_ALERT
    alert_id: int | None = None    # the new alert (None: none, or this end had one already)


def decide(f: Facts, cfg: WorkerConfig) -> str:
    """The rule: one of RAISE, or the NO_ALERT reason. Pure: unit-tested on its own."""
    if f.landed or f.end_reason == "landing":
        return "landed"
    if f.resumed:                      # timed_out_at back to NULL (end_reason too)
        return "resumed"
    if f.end_reason != "timeout":
        return "ended_otherwise"
    if f.spurious:
        return "spurious"
    if not f.tracked:
        return "not_tracked"
    if f.last is None:
        return "no_fixes"
    if f.heard_again:
        return "heard_again"
    if f.age_s is not None and f.age_s > cfg.alert_max_age_s:
        return "too_old"
    vs, h = f.vertical_rate_ms, f.height_m
    fast = (f.last.ground_speed_kmh or 0.0) >= cfg.alert_fast_kmh
    climbing = vs is not None and vs >= cfg.alert_climbing_ms
    descending = vs is not None and vs <= cfg.alert_descending_ms
    if h is not None and h <= cfg.alert_low_m and not (fast and climbing):
        return "low_descending" if descending else "low"
    if descending and not fast and (h is None or h <= cfg.alert_descending_max_m):
        return "descending"
    return "fast" if fast else "cruising"


def vertical_rate(fixes: list[LastFix], window_s: float, min_fixes: int) -> float | None:
    """Mean vertical rate (m/s) at the end: the least-squares slope of altitude over
    time of the fixes within window_s of the last one (at least min_fixes: else the
    last min_fixes fixes, however old within the lookback), spanning MIN_SPAN_S or more;
    else the mean reported climb rate of those fixes; else None. `fixes` latest first."""
    if not fixes:
        return None
    end = fixes[0].time
    chosen = [x for x in fixes if (end - x.time).total_seconds() <= window_s]
    if len(chosen) < min_fixes:
        chosen = fixes[:min_fixes]
    pts = [((x.time - end).total_seconds(), x.altitude_m) for x in chosen
           if x.altitude_m is not None]
    if len(pts) >= 2 and pts[0][0] - pts[-1][0] >= MIN_SPAN_S:
        mt = sum(t for t, _ in pts) / len(pts)
        ma = sum(a for _, a in pts) / len(pts)
        var = sum((t - mt) ** 2 for t, _ in pts)
        if var > 0:
            return sum((t - mt) * (a - ma) for t, a in pts) / var
    climbs = [x.climb_rate_ms for x in chosen if x.climb_rate_ms is not None]
    return sum(climbs) / len(climbs) if climbs else None


def receivers_last(fixes: list[LastFix], window_s: float) -> list[str]:
    """The receivers that heard the aircraft within window_s of its last fix, the
    latest first (fixes are one per second, the best signal's receiver)."""
    out: list[str] = []
    if not fixes:
        return out
    end = fixes[0].time
    for x in fixes:
        if (end - x.time).total_seconds() > window_s and out:
            break
        if x.receiver and x.receiver not in out:
            out.append(x.receiver)
    return out


def compass(deg: float) -> str:
    return COMPASS[int((deg % 360.0) / 45.0 + 0.5) % 8]


def degrees_minutes(value: float, pos: str, neg: str, width: int) -> str:
    """47.82768 -> 47°49.661'N: what a rescuer's chart and radio use."""
    hemi = pos if value >= 0 else neg
    v = abs(value)
    d = int(v)
    m = (v - d) * 60.0
    if round(m, 3) >= 60.0:
        d, m = d + 1, 0.0
    return f"{d:0{width}d}°{m:06.3f}'{hemi}"


def _hm(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%H:%M:%S UTC")


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


# -- the evaluation ---------------------------------------------------------------------

@dataclass
class _Flight:
    aircraft_id: int
    source: int
    callsign: str | None
    takeoff_time: datetime | None
    takeoff_lat: float | None
    takeoff_lon: float | None
    takeoff_alt: float | None
    landing_time: datetime | None
    timed_out_at: datetime | None
    end_reason: str | None
    spurious_reason: str | None
    last_fix_at: datetime | None
    address: int
    address_type: int
    aircraft_type: int | None
    registration: str | None
    aircraft_callsign: str | None
    model: str | None
    tracked: bool
    identified: bool
    dep_ident: str | None
    dep_lat: float | None
    dep_lon: float | None
    dep_elevation_ft: int | None
    city: str | None
    region: str | None
    country_code: str | None
    age_s: float | None


class Alerts:
    """The rule's inputs and the raise, the sweep, and the notices' bookkeeping. One per
    process, shared by its threads (the SRTM tiles behind a lock)."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self._srtm = SrtmTiles(config.srtm_dir) if config.srtm_dir else None
        self._srtm_lock = threading.Lock()

    # -- ground ----------------------------------------------------------------------

    def _terrain(self, lat: float, lon: float) -> float | None:
        if self._srtm is None:
            return None
        with self._srtm_lock:
            return self._srtm.elevation(lat, lon)

    def ground(self, f: _Flight, last: LastFix, airport) -> tuple[float | None, str | None]:
        """Ground elevation (m MSL) under the last position and where it comes from."""
        cfg = self.config
        h = self._terrain(last.latitude, last.longitude)
        if h is not None:
            return h, "terrain"
        if airport is not None and airport[4] is not None \
                and airport[5] <= cfg.alert_airport_radius_m:
            return airport[4] * FEET_TO_M, f"airport {airport[0]}"
        if f.dep_lat is not None and f.dep_elevation_ft is not None and distance_m(
                f.dep_lat, f.dep_lon, last.latitude, last.longitude) <= cfg.alert_departure_radius_m:
            return f.dep_elevation_ft * FEET_TO_M, f"departure {f.dep_ident}"
        if f.takeoff_alt is not None and f.takeoff_lat is not None and distance_m(
                f.takeoff_lat, f.takeoff_lon, last.latitude,
                last.longitude) <= cfg.alert_departure_radius_m:
            return f.takeoff_alt, "takeoff altitude"
        return None, None

    # -- raise -----------------------------------------------------------------------

    def evaluate(self, conn: psycopg.Connection, flight_id: uuid.UUID, queue: str) -> Check:
        """Inside the caller's transaction: decide, and raise the alert (INSERT plus its
        `raised` notice on the queue) when the rule says so."""
        cfg = self.config
        row = conn.execute(QUERIES["flight_facts"], (flight_id,)).fetchone()
        if row is None:
            return Check("ended_otherwise")
        f = _Flight(*row)
        fixes: list[LastFix] = []
        if f.last_fix_at is not None:
            fixes = [LastFix(*r) for r in conn.execute(QUERIES["last_fixes"], {
                "aircraft_id": f.aircraft_id, "until": f.last_fix_at,
                "lookback_s": LOOKBACK_S, "limit": LOOKBACK_FIXES}).fetchall()]
        last = fixes[0] if fixes else None
        heard = last is not None and conn.execute(QUERIES["heard_after"],
                                                  (f.aircraft_id, last.time)).fetchone()[0]
        airport = ground = ref = None
        if last is not None:
            airport = conn.execute(QUERIES["nearest_airport"], {
                "lat": last.latitude, "lon": last.longitude,
                "radius_m": cfg.alert_nearby_airport_m}).fetchone()
            ground, ref = self.ground(f, last, airport)
        height = (last.altitude_m - ground) if ground is not None and last is not None \
            and last.altitude_m is not None else None
        vs = vertical_rate(fixes, cfg.alert_window_s, cfg.alert_min_fixes)
        facts = Facts(f.end_reason, f.landing_time is not None, f.timed_out_at is None,
                      f.spurious_reason is not None, f.tracked, heard,
                      float(f.age_s) if f.age_s is not None else None, last, height, vs)
        outcome = decide(facts, cfg)
        if outcome not in RAISE:
            return Check(outcome)
        receivers = receivers_last(fixes, cfg.alert_window_s)
        payload = self.payload(f, last, outcome, height, ref, vs, receivers, airport)
        alert_id = conn.execute(QUERIES["insert_alert"], (
            flight_id, f.aircraft_id, outcome, last.time, last.latitude, last.longitude,
            last.altitude_m, _round(height, 0), ref, last.ground_speed_kmh, last.track_deg,
            _round(vs, 1), receivers, f.identified, payload["text"], Jsonb(payload))).fetchone()
        if alert_id is None:
            return Check(outcome)                      # this end was raised before
        messages.send(conn, queue, notice_message(alert_id[0], flight_id, "raised"))
        return Check(outcome, alert_id[0])

    def payload(self, f: _Flight, last: LastFix, reason: str, height: float | None,
                ref: str | None, vs: float | None, receivers: list[str], airport) -> dict:
        """The alert's details: what the webhook receives (with the envelope added at
        delivery) and the text a person reads on a phone."""
        registration = f.registration if f.identified else None
        callsign = (f.callsign or f.aircraft_callsign) if f.identified else None
        kind = AIRCRAFT_TYPES.get(f.aircraft_type, "aircraft")
        address = f"{f.address:06X}"
        near = None
        if airport is not None:
            near = {"ident": airport[0], "name": airport[1], "distance_m": round(airport[5]),
                    "bearing_deg": round(bearing_deg(airport[2], airport[3], last.latitude,
                                                     last.longitude))}
        place = None
        if f.city or f.region or f.country_code:
            place = {"city": f.city, "region": f.region, "country_code": f.country_code}
        details = {
            "reason": reason,
            "aircraft": {"address": address,
                         "address_type": ADDRESS_TYPES.get(f.address_type, str(f.address_type)),
                         "aircraft_type": kind, "registration": registration,
                         "callsign": callsign, "model": f.model},
            "last_heard_at": last.time.astimezone(UTC).isoformat(),
            "position": {"latitude": round(last.latitude, 6),
                         "longitude": round(last.longitude, 6)},
            "altitude_m": _round(last.altitude_m, 0),
            "altitude_source": "barometric" if f.source == 2 else "gps",
            "height_m": _round(height, 0),
            "height_reference": ref,
            "ground_speed_kmh": _round(last.ground_speed_kmh, 0),
            "track_deg": _round(last.track_deg, 0),
            "vertical_rate_ms": _round(vs, 1),
            "receivers": receivers,
            "nearest_airport": near,
            "place": place,
            "takeoff": {"time": f.takeoff_time.astimezone(UTC).isoformat()
                        if f.takeoff_time else None, "airport": f.dep_ident},
        }
        details["text"] = self.text(details, kind, address, f.age_s)
        return details

    def text(self, d: dict, kind: str, address: str, age_s: float | None) -> str:
        """Plain text, no links, short lines: read on a phone, read out on a radio."""
        a = d["aircraft"]
        names = " ".join(x for x in (a["registration"], a["callsign"]
                                     if a["callsign"] != a["registration"] else None) if x)
        who = f"{kind} {names + ' ' if names else ''}({a['address_type']} {address})"
        last = datetime.fromisoformat(d["last_heard_at"])
        since = f" ({_duration(age_s)} ago)" if age_s is not None else ""
        lines = [f"OVERDUE {who}: no landing seen, not heard since {_hm(last)}{since}."]
        lat, lon = d["position"]["latitude"], d["position"]["longitude"]
        where = (f"Last position {degrees_minutes(lat, 'N', 'S', 2)} "
                 f"{degrees_minutes(lon, 'E', 'W', 3)} ({lat:.5f}, {lon:.5f})")
        if d["nearest_airport"]:
            n = d["nearest_airport"]
            where += (f", {n['distance_m'] / 1000:.1f} km {compass(n['bearing_deg'])} of "
                      f"{n['ident']} {n['name']}")
        if d["place"] and d["place"]["city"]:
            p = d["place"]
            where += ", near " + ", ".join(x for x in (p["city"], p["region"], p["country_code"])
                                           if x)
        lines.append(where + ".")
        motion = []
        if d["altitude_m"] is not None:
            alt = f"{d['altitude_m']:.0f} m MSL"
            if d["altitude_source"] == "barometric":
                alt += " (pressure altitude)"
            motion.append(alt)
        if d["height_m"] is not None:
            motion.append(f"about {d['height_m']:.0f} m above {d['height_reference']}")
        vs = d["vertical_rate_ms"]
        if vs is not None:
            motion.append(f"descending {-vs:.1f} m/s" if vs < 0 else
                          f"climbing {vs:.1f} m/s" if vs > 0 else "level")
        if d["ground_speed_kmh"] is not None:
            motion.append(f"{d['ground_speed_kmh']:.0f} km/h")
        if d["track_deg"] is not None:
            motion.append(f"track {d['track_deg']:03.0f}°")
        if motion:
            joined = ", ".join(motion)
            lines.append(joined[0].upper() + joined[1:] + ".")
        if d["receivers"]:
            lines.append("Heard last by " + ", ".join(d["receivers"]) + ".")
        t = d["takeoff"]
        if t["time"]:
            lines.append(f"Took off {_hm(datetime.fromisoformat(t['time']))}"
                         + (f" from {t['airport']}" if t["airport"] else "") + ".")
        return "\n".join(lines)

    # -- clear -----------------------------------------------------------------------

    def sweep(self, conn: psycopg.Connection, queue: str) -> list[tuple[int, str]]:
        """One transaction: clear every alert whose reason to be is gone, queueing each
        `cleared` notice. The (alert id, reason) pairs cleared. With no active alert
        (the usual case) one probe of a partial index, and the fixes table is not
        touched (not even locked: a drain's first sweep never waits on it)."""
        with conn.transaction():
            if not active_count(conn):
                return []
            rows = conn.execute(QUERIES["sweep"], (queue,)).fetchall()
        return [(r[0], r[1]) for r in rows]


# -- notices --------------------------------------------------------------------------

def notice_message(alert_id: int, flight_id, notice: str) -> dict:
    return {"event": ALERT_EVENT, "alert_id": alert_id, "flight_id": str(flight_id), "notice": notice}


def clear_manual(conn: psycopg.Connection, alert_id: int, queue: str) -> bool:
    """`soar alerts clear`: True if the alert was active (now cleared, notice queued)."""
    with conn.transaction():
        return conn.execute(QUERIES["clear_manual"], (alert_id, queue)).fetchone() is not None


class Notice(NamedTuple):
    alert_id: int
    notice: str                   # 'raised' or 'cleared'
    body: dict                    # the JSON POSTed
    key: str                      # Idempotency-Key: the same for every try of this notice


def parse_notice(body: dict) -> tuple[int, str]:
    """(alert_id, notice) of a queue message; ValueError names what is wrong."""
    try:
        alert_id = int(body["alert_id"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"malformed message: no valid alert_id in {str(body)[:200]}") from None
    notice = body.get("notice")
    if notice not in NOTICES:
        raise ValueError(f"malformed message: unknown notice {str(notice)[:50]!r}")
    return alert_id, notice


def load_notice(conn: psycopg.Connection, alert_id: int, notice: str) -> Notice | None:
    """The webhook body of one notice (None: the alert is gone)."""
    row = conn.execute(QUERIES["notice"], (alert_id,)).fetchone()
    if row is None:
        return None
    (aid, flight_id, raised_at, reason, message, payload, cleared_at, cleared_reason,
     _raise_delivery, _clear_delivery) = row
    # jsonb keeps keys in its own order: give them back in the order they were built.
    ordered = {k: payload[k] for k in PAYLOAD_KEYS if k in payload}
    ordered.update((k, v) for k, v in payload.items() if k not in ordered)
    if isinstance(ordered.get("aircraft"), dict):
        a = ordered["aircraft"]
        ordered["aircraft"] = {k: a[k] for k in AIRCRAFT_KEYS if k in a} | a
    body = {"type": "overdue" if notice == "raised" else "overdue_cleared",
            "alert_id": aid, "flight_id": str(flight_id),
            "raised_at": raised_at.astimezone(UTC).isoformat(),
            **ordered,
            "cleared_at": cleared_at.astimezone(UTC).isoformat() if cleared_at else None,
            "cleared_reason": cleared_reason}
    if notice == "cleared":
        body["text"] = clear_text(payload, cleared_at, cleared_reason)
    return Notice(aid, notice, body, f"soar-overdue-{aid}-{notice}")


CLEAR_WORDS = {"heard_again": "heard again", "resumed": "heard again, flight resumed",
               "landing": "landing found", "not_tracked": "aircraft no longer tracked",
               "flight_deleted": "flight removed by a rebuild",
               "manual": "cleared by an operator"}


def clear_text(payload: dict, cleared_at: datetime | None, reason: str | None) -> str:
    a = payload.get("aircraft", {})
    names = " ".join(x for x in (a.get("registration"), a.get("callsign")) if x)
    who = f"{a.get('aircraft_type', 'aircraft')} {names + ' ' if names else ''}" \
          f"({a.get('address_type')} {a.get('address')})"
    last = datetime.fromisoformat(payload["last_heard_at"])
    when = f" (cleared {_hm(cleared_at)})" if cleared_at else ""
    return (f"CLEARED {who}: overdue since {_hm(last)}; "
            f"{CLEAR_WORDS.get(reason, reason)}{when}.")


def mark_delivery(conn: psycopg.Connection, alert_id: int, notice: str, status: str,
                  error: str | None = None) -> None:
    query = "mark_raise_delivery" if notice == "raised" else "mark_clear_delivery"
    conn.execute(QUERIES[query], (status, error, alert_id))


def active_count(conn: psycopg.Connection) -> int:
    return conn.execute(QUERIES["active_count"]).fetchone()[0]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


class AlertSweeper(Periodic):
    """Every alert_sweep_interval_s: clear the overdue alerts of aircraft heard again
    (or resumed, landed, untracked, flight gone) and queue their `cleared` notices.
    Its own thread and one pooled connection for one statement per round."""

    def __init__(self, pool: ConnectionPool, alerter: Alerts, config: WorkerConfig,
                 stats: Stats, stop: threading.Event):
        super().__init__("soar-worker-alert-sweep", config.alert_sweep_interval_s, stop)
        self.pool, self.alerter, self.config, self.stats = pool, alerter, config, stats

    # Flights evaluated per round, at most (failed timeouts are rare; a backlog drains
    # over the next rounds).
    EVALUATE_PER_ROUND = 100

    def round(self) -> int:
        self.evaluate_failed()
        try:
            with self.pool.connection() as conn:
                cleared = self.alerter.sweep(conn, self.config.queue)
        except psycopg.Error as exc:
            log.warning("overdue alert sweep failed (%s); trying again in %.0f s",
                        first_line(exc, named=True), self.every_s)
            return 0
        for alert_id, reason in cleared:
            log.info("overdue alert %d cleared: %s", alert_id, reason)
        self.stats.on_alerts_cleared([reason for _, reason in cleared])
        return len(cleared)

    def evaluate_failed(self) -> list[Check]:
        """Evaluate the timed-out flights whose enrichment failed for good (QUERIES
        ["failed_timeouts"]), each in its own transaction: an alert never waits on, nor
        dies with, the enrichment."""
        done = []
        try:
            with self.pool.connection() as conn:
                ids = [r[0] for r in conn.execute(QUERIES["failed_timeouts"], {
                    "max_age_s": self.config.alert_max_age_s,
                    "limit": self.EVALUATE_PER_ROUND}).fetchall()]
                for flight_id in ids:
                    with conn.transaction():
                        check = self.alerter.evaluate(conn, flight_id, self.config.queue)
                    # Counted when raised only: a flight that raises nothing is looked
                    # at again each round (no mark of it is kept), not checked anew.
                    if check.alert_id is not None:
                        self.stats.on_overdue_check(check.outcome, raised=True)
                        log.warning("overdue alert %d raised (%s) for flight %s, whose "
                                    "enrichment failed", check.alert_id, check.outcome, flight_id)
                    done.append(check)
        except psycopg.Error as exc:
            log.warning("overdue evaluation of failed enrichments failed (%s); trying again "
                        "in %.0f s", first_line(exc, named=True), self.every_s)
        return done
