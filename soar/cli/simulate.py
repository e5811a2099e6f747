"""`soar simulate`: write a simulated recording with its ground truth, or serve it live."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from soar.errors import SoarError
from soar.units import UTC


def _range(value: str, option: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise SoarError(f"{option} {value!r}: give MIN,MAX in minutes, e.g. 20,90") from None
    if not 0 < lo <= hi:
        raise SoarError(f"{option} {value!r}: need 0 < MIN <= MAX")
    return lo * 60.0, hi * 60.0


def simulate(
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Folder for the recording (aprs.txt, modes.jsonl, beast.bin), "
                                  "truth.jsonl and simulation.json."),
    serve: bool = typer.Option(False, "--serve", help="Serve live on 127.0.0.1 (APRS-IS and "
                                                      "Beast) instead of only writing files."),
    aprs_port: int = typer.Option(0, help="--serve: APRS-IS port (0: a free one, printed)."),
    beast_port: int = typer.Option(0, help="--serve: Beast port (0: a free one, printed)."),
    speed: float = typer.Option(1.0, help="--serve: times real time (1 keeps data time = now)."),
    duration: int = typer.Option(600, help="Seconds of data."),
    aircraft: Optional[int] = typer.Option(None, help="OGN aircraft (gliders, tow planes, "
                                                      "powered); default 100."),
    rate: Optional[float] = typer.Option(None, help="Target APRS lines/s instead of --aircraft "
                                                    "(e.g. 25000: 10x the OGN network's peak)."),
    beast_aircraft: int = typer.Option(0, help="ADS-B aircraft (airliners, light aircraft) on "
                                               "the Beast feed."),
    seed: int = typer.Option(1, help="Same seed and start: same traffic."),
    start: Optional[datetime] = typer.Option(None, help="UTC time of the first second "
                                                        "(default: now)."),
    region: str = typer.Option("europe", help="europe, alps, germany or SOUTH,WEST,NORTH,EAST."),
    airborne_fraction: float = typer.Option(0.5, help="Share of aircraft already flying at the "
                                                      "start (0: every flight starts on the ground)."),
    flight_minutes: str = typer.Option("20,90", help="Glider flight length MIN,MAX (minutes)."),
    wait_minutes: str = typer.Option("2,30", help="Time on the ground between flights MIN,MAX."),
    no_beast_file: bool = typer.Option(False, "--no-beast-file", help="Write modes.jsonl only."),
) -> None:
    """Simulated OGN and ADS-B traffic from real airfields, with its ground truth."""
    from soar import simulate as sim

    if aircraft is not None and rate is not None:
        raise SoarError("give --aircraft or --rate, not both")
    if not serve and out is None:
        raise SoarError("nothing to do: give --out DIR (a recording) and/or --serve")
    if start is None:
        start = datetime.now(UTC)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    glider_s = _range(flight_minutes, "--flight-minutes")
    profile = sim.Profile(glider_flight_s=glider_s,
                          powered_flight_s=(glider_s[0] / 2, glider_s[1] / 2),
                          wait_s=_range(wait_minutes, "--wait-minutes"))
    config = sim.SimConfig(start=start, duration_s=duration, aircraft=aircraft, rate=rate,
                           beast_aircraft=beast_aircraft, seed=seed,
                           region=sim.parse_region(region), airborne_fraction=airborne_fraction,
                           profile=profile)
    if serve:
        from soar.ingest.app import stop_on_signals

        def ready(info: dict) -> None:
            beast = f", Beast on 127.0.0.1:{info['beast_port']}" if info["beast_port"] else ""
            print(f"soar simulate: serving APRS-IS on 127.0.0.1:{info['aprs_port']}{beast}, "
                  f"data from {info['start']}", file=sys.stderr, flush=True)

        # serve() wants the Event a first SIGINT/SIGTERM sets, not the Signals holder.
        with stop_on_signals() as signals:
            meta = sim.serve(config, aprs_port, beast_port if beast_aircraft else None, speed,
                             out, signals.stop, ready)
    else:
        meta = sim.record(config, out, beast=not no_beast_file)
    meta.pop("config", None)
    json.dump(meta, sys.stdout)
    sys.stdout.write("\n")
