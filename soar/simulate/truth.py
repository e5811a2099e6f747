"""The ground truth of a simulation, and scoring detected flights against it.

The rule: the truth records what happened (the moment of lift-off and of
touchdown, the field and runway, the tow and its release), not what a detector
could see; scoring decides what was detectable (`edge_s` at the end of the
recording, where a landing cannot be confirmed yet) and matches each true event to
at most one detected one of the same aircraft within `tolerance_s`. The launch
method is scored on those matched takeoffs, as a confusion matrix.

truth.jsonl: one JSON object per line, in time order, `event` says which:
- "aircraft": every simulated aircraft, first: kind (glider_aerotow, glider_winch,
  motor_glider, tow_plane, powered, adsb_ga, airliner), address (6 hex digits),
  address_type (0 random, 1 ICAO, 2 FLARM, 3 OGN), aircraft_type (OGN numbering),
  callsign, airport (home field ident), ogn / adsb (which feeds carry it).
- "takeoff": time (ISO 8601 UTC, lift-off), address, address_type, aircraft_type,
  kind, flight (per aircraft, 1, 2, ...; 0 = a flight under way at the start),
  airport, runway (OurAirports ident of the end it rolled from), launch ("aerotow",
  "winch", "self" for gliders and powered aircraft, null for tow planes and
  airliners), tow_address / tow_address_type (aerotow), climb_ms and
  release_height_m (winch).
- "landing": time (touchdown), address, address_type, kind, flight, airport, runway.
- "tow": time (release), glider_address, glider_address_type, tow_address,
  tow_address_type, glider_flight, tow_flight, release_height_m (above the
  field), release_altitude_m (MSL), airport.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO

from soar.units import UTC


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def record(event: dict) -> dict:
    """An engine event (data time `t` in unix seconds) as a truth record."""
    out = {"event": event["event"]}
    if "t" in event:
        out["time"] = iso(event["t"])
    out.update((k, v) for k, v in event.items() if k not in ("event", "t"))
    return out


class TruthWriter:
    """Writes truth records as the simulation emits them (one line each)."""

    def __init__(self, f: IO[str]):
        self.f = f
        self.counts: dict[str, int] = {}

    def write(self, event: dict) -> None:
        rec = record(event)
        self.counts[rec["event"]] = self.counts.get(rec["event"], 0) + 1
        self.f.write(json.dumps(rec, separators=(",", ":")) + "\n")


def read(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _t(v) -> float | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()
    return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    i = min(len(s) - 1, max(0, round(p / 100.0 * (len(s) - 1))))
    return round(s[i], 1)


def _match(truth: list[tuple[float, dict]], found: list[tuple[float, dict]],
           tolerance_s: float) -> tuple[list[tuple[dict, dict, float]], list[dict], list[dict]]:
    """Pairs (truth, found, found - truth) nearest first, each used once; the unmatched
    of both sides."""
    cands = sorted(((abs(ft - tt), i, j) for i, (tt, _) in enumerate(truth)
                    for j, (ft, _) in enumerate(found) if abs(ft - tt) <= tolerance_s))
    used_t, used_f, pairs = set(), set(), []
    for _, i, j in cands:
        if i in used_t or j in used_f:
            continue
        used_t.add(i)
        used_f.add(j)
        pairs.append((truth[i][1], found[j][1], found[j][0] - truth[i][0]))
    return (pairs, [e for i, (_, e) in enumerate(truth) if i not in used_t],
            [f for j, (_, f) in enumerate(found) if j not in used_f])


def score(truth: Iterable[dict], flights: Iterable[dict], start: datetime | str | float,
          end: datetime | str | float, tolerance_s: float = 60.0, edge_s: float = 60.0) -> dict:
    """Detected flights against the truth.

    `flights`: dicts with aircraft_address (hex), takeoff_time, landing_time (ISO
    strings or datetimes), and optionally towed_by_aircraft_address,
    tow_release_time, departure_airport, arrival_airport, takeoff_runway,
    landing_runway, spurious_reason (the keys of soar.products.flights.fetch), and
    launch_method, started_at for the launch confusion matrix (`launch`).
    Flights marked spurious count as not detected. Events within `edge_s` of the end
    are optional: found, they are matched; missing, they are not counted.
    """
    t_start = start if isinstance(start, float | int) else _t(start)
    t_end = end if isinstance(end, float | int) else _t(end)
    horizon = t_end - edge_s
    truth = list(truth)
    kinds = {(r["address"].upper()): r["kind"] for r in truth if r["event"] == "aircraft"}
    flights = [f for f in flights if not f.get("spurious_reason")]
    out: dict = {"tolerance_s": tolerance_s, "edge_s": edge_s}
    launch_pairs: list[tuple[dict, dict]] = []     # matched takeoffs (truth, detected)
    for event, key, airport_key, runway_key in (
            ("takeoff", "takeoff_time", "departure_airport", "takeoff_runway"),
            ("landing", "landing_time", "arrival_airport", "landing_runway")):
        by_addr_t: dict[str, list] = {}
        by_addr_f: dict[str, list] = {}
        for r in truth:
            if r["event"] == event:
                by_addr_t.setdefault(r["address"].upper(), []).append((_t(r["time"]), r))
        for f in flights:
            t = _t(f.get(key))
            if t is not None and t_start - tolerance_s <= t <= t_end + tolerance_s:
                by_addr_f.setdefault(str(f["aircraft_address"]).upper(), []).append((t, f))
        errors, missed, extra, airport_ok, runway_ok, located = [], [], [], 0, 0, 0
        wrong_runway: list[dict] = []
        missed_by_kind: dict[str, int] = {}
        extra_by_kind: dict[str, int] = {}
        for addr in sorted(set(by_addr_t) | set(by_addr_f)):
            pairs, lost, surplus = _match(by_addr_t.get(addr, []), by_addr_f.get(addr, []),
                                          tolerance_s)
            if event == "takeoff":
                launch_pairs += [(tr, fl) for tr, fl, _ in pairs if _t(tr["time"]) < horizon]
            for tr, fl, err in pairs:
                errors.append(err)
                if fl.get(airport_key) is not None:
                    located += 1
                    airport_ok += fl.get(airport_key) == tr.get("airport")
                    if fl.get(runway_key) == tr.get("runway"):
                        runway_ok += 1
                    elif len(wrong_runway) < 5:
                        wrong_runway.append({"address": addr, "time": tr["time"],
                                             "kind": tr["kind"], "airport": tr.get("airport"),
                                             "runway": tr.get("runway"),
                                             "found": [fl.get(airport_key), fl.get(runway_key)]})
            for tr in lost:
                if _t(tr["time"]) < horizon:
                    missed.append(tr)
                    missed_by_kind[tr["kind"]] = missed_by_kind.get(tr["kind"], 0) + 1
            for fl in surplus:
                if _t(fl.get(key)) < horizon:
                    extra.append(fl)
                    k = kinds.get(addr, "unknown")
                    extra_by_kind[k] = extra_by_kind.get(k, 0) + 1
        abs_err = [abs(e) for e in errors]
        out[event] = {
            "truth": sum(len(v) for v in by_addr_t.values()), "matched": len(errors),
            "missed": len(missed), "extra": len(extra),
            "error_s_p50": _pct(abs_err, 50), "error_s_p95": _pct(abs_err, 95),
            "error_s_max": round(max(abs_err), 1) if abs_err else None,
            "bias_s": _pct(errors, 50),
            "located": located,
            "airport_correct": airport_ok, "runway_correct": runway_ok,
            "missed_by_kind": missed_by_kind, "extra_by_kind": extra_by_kind,
            "missed_examples": [{"address": m["address"], "time": m["time"], "kind": m["kind"]}
                                for m in missed[:5]],
            "extra_examples": [{"address": f["aircraft_address"], "time": str(f.get(key))}
                               for f in extra[:5]],
            "wrong_runway_examples": wrong_runway,
        }
    out["tow"] = _score_tows(truth, flights, tolerance_s, horizon)
    out["launch"] = _score_launches(launch_pairs, flights, t_start, horizon)
    out["missed"] = out["takeoff"]["missed"] + out["landing"]["missed"]
    out["extra"] = out["takeoff"]["extra"] + out["landing"]["extra"]
    return out


def _score_tows(truth: list[dict], flights: list[dict], tolerance_s: float,
                horizon: float) -> dict:
    """Aerotows: the glider's detected flight names the right tow plane; winch and
    self launches name none; release times within tolerance."""
    takeoffs: dict[str, list] = {}
    for f in flights:
        t = _t(f.get("takeoff_time"))
        if t is not None:
            takeoffs.setdefault(str(f["aircraft_address"]).upper(), []).append((t, f))
    paired = wrong = unpaired = false_tow = 0
    release_err: list[float] = []
    no_release: list[dict] = []
    releases = {(r["glider_address"].upper(), r.get("glider_flight")): r
                for r in truth if r["event"] == "tow"}
    for r in truth:
        if r["event"] != "takeoff" or r.get("aircraft_type") != 1 or _t(r["time"]) >= horizon:
            continue
        addr = r["address"].upper()
        t = _t(r["time"])
        cands = [(abs(ft - t), f) for ft, f in takeoffs.get(addr, []) if abs(ft - t) <= tolerance_s]
        if not cands:
            continue
        f = min(cands, key=lambda c: c[0])[1]
        towed_by = f.get("towed_by_aircraft_address")
        if r.get("launch") == "aerotow":
            if towed_by is None:
                unpaired += 1
            elif str(towed_by).upper() == r["tow_address"].upper():
                paired += 1
                rel = releases.get((addr, r.get("flight")))
                if rel is not None and f.get("tow_release_time") is not None:
                    release_err.append(_t(f["tow_release_time"]) - _t(rel["time"]))
                elif rel is not None and len(no_release) < 5:
                    no_release.append({"glider": addr, "tow": r["tow_address"],
                                       "takeoff": r["time"], "release": rel["time"],
                                       "release_height_m": rel.get("release_height_m")})
            else:
                wrong += 1
        elif towed_by is not None:
            false_tow += 1
    abs_err = [abs(e) for e in release_err]
    return {"truth": sum(1 for r in truth if r["event"] == "tow"),
            "aerotow_takeoffs_found": paired + wrong + unpaired, "paired": paired,
            "wrong_tow_plane": wrong, "unpaired": unpaired, "false_tow": false_tow,
            "release_found": len(release_err), "release_error_s_p50": _pct(abs_err, 50),
            "release_error_s_p95": _pct(abs_err, 95), "release_missed_examples": no_release}


# Launch methods: the detector's values (flights.launch_method), and what a flight
# whose method is not decided (NULL) is counted as.
LAUNCH_METHODS = ("aerotow", "winch", "self", "unknown")
UNDECIDED = "undecided"


def truth_launch(r: dict) -> str:
    """The true launch method of a takeoff: its `launch`; none is given for tow planes
    and airliners, which climb on their own power: `self`."""
    return r.get("launch") or "self"


def _score_launches(pairs: list[tuple[dict, dict]], flights: list[dict], t_start: float,
                    horizon: float) -> dict:
    """Confusion matrix of the launch method on the matched takeoffs (truth row, detected
    column; `undecided` where the flight has none), and the methods given to detected
    flights first seen in the air (no takeoff: `unknown` is right for them)."""
    matrix = {t: dict.fromkeys((*LAUNCH_METHODS, UNDECIDED), 0) for t in LAUNCH_METHODS[:3]}
    for tr, fl in pairs:
        row = matrix.setdefault(truth_launch(tr), dict.fromkeys((*LAUNCH_METHODS, UNDECIDED), 0))
        row[fl.get("launch_method") or UNDECIDED] += 1
    airborne = dict.fromkeys((*LAUNCH_METHODS, UNDECIDED), 0)
    for f in flights:
        started = _t(f.get("started_at")) if f.get("started_at") is not None else None
        if (f.get("takeoff_time") is None and started is not None
                and t_start <= started < horizon):
            airborne[f.get("launch_method") or UNDECIDED] += 1
    total = sum(sum(r.values()) for r in matrix.values())
    correct = sum(matrix[t][t] for t in matrix if t in matrix[t])
    return {"matrix": matrix, "takeoffs": total, "correct": correct,
            "first_seen_airborne": airborne}
