"""`soar replay` and `soar run`: the ingest entry points."""

from __future__ import annotations

import json
import sys
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from soar.errors import SoarError
from soar.units import UTC

# The pipeline and the feeds are imported by the commands that run them: every start of
# `soar` imports this module to register them.
if TYPE_CHECKING:
    from soar.feeds.sbs_client import SbsFeed


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise SoarError(f"--speed {value!r}: give a number (times real time) or 'max'") from None
    if speed <= 0:
        raise SoarError("--speed must be positive, or 'max'")
    return speed


def _position(value: str | None, option: str) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lat, lon = (float(v) for v in value.split(","))
    except ValueError:
        raise SoarError(f"{option} {value!r}: give LAT,LON in degrees, e.g. 49.01,2.55") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise SoarError(f"{option} {value!r}: latitude or longitude out of range")
    return lat, lon


def _timezone(value: str | None, option: str = "--sbs-timezone") -> tzinfo | None:
    """`--sbs-timezone`: an IANA zone name; None for UTC (the default)."""
    if value is None or value.upper() in ("UTC", "Z", "ETC/UTC"):
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise SoarError(f"{option} {value!r}: not a time zone; give an IANA name such "
                        "as Europe/Berlin or America/New_York (or UTC, the default)") from None


# Shared by `replay` and `run`.
SBS_TIMEZONE = typer.Option(
    None, help="SBS: the time zone of the feed's generated date/time (an IANA name, e.g. "
               "Europe/Berlin) for feeds that send local time; default UTC.")
SPOOL_DIR = typer.Option(
    None, envvar="SOAR_SPOOL_DIR", show_envvar=True,
    help="Where batches not written by the shutdown deadline are kept (and written at the "
         "next start); default $SOAR_HOME/spool.")
SHARD = typer.Option(
    None, help="K/N: keep only shard K of N (0 <= K < N) of the aircraft addresses (and "
               "receivers); N processes with 0/N .. N-1/N, on one machine or many, writing to "
               "the same database, store each fix and flight once (docs/scaling.md).")
SHUTDOWN_DEADLINE = typer.Option(
    30.0, help="Seconds to flush at SIGINT/SIGTERM before spooling what the database has not "
               "taken; a second signal spools at once.")


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _size(value: str, option: str) -> int:
    """A size: bytes, or with K, M, G or T (binary units; a trailing B or iB allowed)."""
    text = value.strip().lower().removesuffix("b").removesuffix("i")
    unit = text[-1:] if text[-1:] in _SIZE_UNITS else ""
    try:
        n = float(text[:-1] if unit else text)
    except ValueError:
        n = -1.0
    if not (0 <= n < 1 << 50) or n != n:
        raise SoarError(f"{option} {value!r}: give a size such as 2G, 500M or 1048576 (bytes)")
    return int(n * _SIZE_UNITS[unit])


def _keep_s(value: str) -> float:
    """`--archive-keep`: days (`7`, `7d`) or hours (`36h`), more than 0."""
    text = value.strip().lower()
    unit = 3600.0 if text.endswith("h") else 86400.0
    try:
        n = float(text.removesuffix("h").removesuffix("d"))
    except ValueError:
        n = -1.0
    if not 0 < n <= 3650 * 86400 / unit:
        raise SoarError(f"--archive-keep {value!r}: give days (e.g. 7 or 7d) or hours (36h), "
                        "more than 0 and at most ten years")
    return n * unit


def _deadline(value: float) -> float:
    if value < 0:
        raise SoarError("--shutdown-deadline must be 0 or more seconds")
    return value


def _retry_max(value: float) -> float:
    # An hour bounds it: longer would leave a recovered database unused for that long.
    if not 0 < value <= 3600:
        raise SoarError("--retry-max must be more than 0 and at most 3600 seconds")
    return value


def replay(
    path: Path = typer.Argument(..., help="Recording to replay."),
    fmt: str = typer.Option(..., "--format", "-f",
                            help="aprs, beast, modes, sbs (SBS/BaseStation lines, port 30003), "
                                 "sim (a `soar simulate` folder: its APRS and Mode-S files "
                                 "merged), or archive (a `soar run --archive` folder, an hour, "
                                 "a day or all of it, in the order the live router took it)"),
    speed: str = typer.Option("max", help="N times real time, or 'max'"),
    receiver: Optional[str] = typer.Option(None, help="Receiver name for beast/modes/sbs feeds "
                                                      "(default: the file's name)."),
    start: Optional[datetime] = typer.Option(None, help="Beast only: UTC time of the first frame."),
    receiver_position: Optional[str] = typer.Option(
        None, help="beast/modes: LAT,LON of the receiver (places aircraft on the ground)."),
    batch_size: int = typer.Option(5000, help="Fixes per COPY batch."),
    spool_dir: Optional[Path] = SPOOL_DIR,
    shutdown_deadline: float = SHUTDOWN_DEADLINE,
    shard: Optional[str] = SHARD,
    sbs_timezone: Optional[str] = SBS_TIMEZONE,
    as_json: bool = typer.Option(True, "--json/--text",
                                 help="The summary as one JSON object (default), or as text."),
) -> None:
    """Replay a recording through the live ingest path."""
    from soar import ingest
    from soar.feeds import recordings
    from soar.ingest.app import ARCHIVE, SIM
    from soar.ingest.shard import Shard

    formats = (*recordings.FORMATS, SIM, ARCHIVE)
    if fmt not in formats:
        raise SoarError(f"--format {fmt!r}: use one of {', '.join(formats)}")
    if fmt in (SIM, ARCHIVE):
        if not path.is_dir():
            raise SoarError(f"{path}: no such folder (--format {fmt} reads a folder: a `soar "
                            "simulate` recording's, or an archive's hour, day or root)")
    elif not path.is_file():
        raise SoarError(f"{path}: no such file")
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    tz = _timezone(sbs_timezone)
    if tz is not None and fmt != "sbs":
        raise SoarError("--sbs-timezone applies to --format sbs only: leave it out")
    summary = ingest.replay(path, fmt, _speed(speed), receiver, start, batch_size,
                            _position(receiver_position, "--receiver-position"),
                            spool_dir=spool_dir,
                            shutdown_deadline_s=_deadline(shutdown_deadline),
                            shard=Shard.parse(shard) if shard else None, sbs_timezone=tz)
    if as_json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
        return
    acc = summary["accounting"]
    typer.echo(f"{summary['file']}: {acc['messages_in']} messages in {summary['elapsed_s']} s: "
               f"{acc['fixes_stored']} fixes stored, {acc['receiver_beacons']} receiver beacons, "
               f"{acc['state_only']} state-only, rejected {acc['rejected'] or 'none'}, "
               f"dropped {acc['dropped'] or 'none'}, spooled {acc['spooled']}; "
               f"{'balanced' if acc['balanced'] else 'NOT balanced: ' + str(acc['unaccounted'])}")


def _hostport(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SoarError(f"{option} {value!r}: give HOST:PORT, e.g. aprs.glidernet.org:14580")
    return host, int(port)


def _sbs_feeds(values: list[str]) -> list[SbsFeed]:
    """`--sbs [NAME=]HOST:PORT[@ZONE]` options; names unique. ZONE: this feed's time
    zone (UTC for an ADSBHub feed beside local receivers), else --sbs-timezone's."""
    from soar.feeds.sbs_client import SbsFeed

    feeds: list[SbsFeed] = []
    for value in values:
        name, sep, rest = value.rpartition("=")
        hostport, at, zone = rest.partition("@")
        host, port = _hostport(hostport, "--sbs")
        tz = None
        if at:
            tz = _timezone(zone, f"--sbs {value!r}: @ZONE") or UTC
        if not sep:
            name = f"sbs:{host}:{port}"
        elif not name or not name.isprintable() or name != name.strip():
            raise SoarError(f"--sbs {value!r}: NAME (the receiver's) must be printable text "
                            "without surrounding spaces, e.g. --sbs adsbhub=HOST:PORT")
        if any(name == other.name for other in feeds):
            raise SoarError(f"--sbs {value!r}: the receiver name {name!r} is given twice; "
                            "name each feed: --sbs NAME=HOST:PORT")
        feeds.append(SbsFeed(name, host, port, tz))
    return feeds


def run(
    ogn: Optional[str] = typer.Option(None, help="APRS-IS HOST:PORT (OGN: 14580 with a filter, "
                                                  "10152 for the full feed)."),
    ogn_filter: Optional[str] = typer.Option(None, help="APRS-IS server filter, e.g. r/47.8/11.4/200"),
    callsign: str = typer.Option("N0CALL", help="APRS-IS login (read-only, pass -1)."),
    beast: list[str] = typer.Option([], help="Beast TCP HOST:PORT (readsb/dump1090, usually 30005); "
                                             "repeatable."),
    beast_position: Optional[str] = typer.Option(None, help="LAT,LON of the Beast receiver."),
    sbs: list[str] = typer.Option([], help="SBS/BaseStation TCP feed [NAME=]HOST:PORT[@ZONE] "
                                           "(dump1090/readsb 30003, ADSBHub); NAME is the "
                                           "receiver its fixes name (default sbs:HOST:PORT), "
                                           "ZONE the time zone of its times (default "
                                           "--sbs-timezone's); repeatable."),
    sbs_timezone: Optional[str] = SBS_TIMEZONE,
    metrics_port: Optional[int] = typer.Option(None, help="Serve Prometheus metrics on 127.0.0.1:PORT."),
    stats_interval: float = typer.Option(30.0, help="Seconds between stats log lines."),
    queue_timeout: float = typer.Option(0.0, help="Seconds a feed waits for room in a full router "
                                                  "queue before dropping (and counting) a chunk; "
                                                  "0: at once, so the socket is never stalled."),
    spool_dir: Optional[Path] = SPOOL_DIR,
    shutdown_deadline: float = SHUTDOWN_DEADLINE,
    shard: Optional[str] = SHARD,
    overflow_dir: Optional[Path] = typer.Option(
        None, envvar="SOAR_OVERFLOW_DIR", show_envvar=True,
        help="Disk buffer for live chunks that find the router queue full (the database down, "
             "the CPU short): they wait here in order and are routed when there is room, also "
             "after a restart; a folder per database under it. Default $SOAR_HOME/overflow."),
    overflow_budget: str = typer.Option(
        "2G", help="Size the disk buffer may use (e.g. 2G, 500M); beyond it live chunks are "
                   "dropped (queue_full) and counted."),
    overflow_free_floor: str = typer.Option(
        "1G", help="Free space the disk buffer leaves on its file system (e.g. 1G); below it "
                   "live chunks are dropped (queue_full) and counted."),
    archive: Optional[Path] = typer.Option(
        None, envvar="SOAR_ARCHIVE_DIR", show_envvar=True,
        help="Also keep every received line and frame, with its receive time, in hourly zstd "
             "files under this folder (replayable with `soar replay`; docs/ingest.md). "
             "Off unless given; the systemd unit gives $SOAR_HOME/archive."),
    archive_keep: str = typer.Option(
        "7d", help="--archive: delete archive hours older than this: days (7d) or hours (36h)."),
    retry_max: float = typer.Option(
        30.0, help="Longest pause, in seconds, between attempts to write a batch while the "
                   "database is unreachable (from 0.5 s, doubling): how long after the "
                   "database is back the writer may still wait."),
) -> None:
    """Ingest live feeds until SIGINT/SIGTERM, then flush and exit."""
    from soar import ingest
    from soar.ingest.archive import ArchiveConfig
    from soar.ingest.shard import Shard

    if not ogn and not beast and not sbs:
        raise SoarError("nothing to read: give --ogn HOST:PORT, --beast HOST:PORT and/or "
                        "--sbs HOST:PORT")
    shard_ = Shard.parse(shard) if shard else None
    keep_s = _keep_s(archive_keep)
    archive_config = None
    if archive is not None:                     # (an empty SOAR_ARCHIVE_DIR: None, off)
        if archive.exists() and not archive.is_dir():
            raise SoarError(f"--archive {archive}: not a folder; give a folder for the archive")
        archive_config = ArchiveConfig(archive, keep_s=keep_s)
    summary = ingest.run_live(
        _hostport(ogn, "--ogn") if ogn else None, [_hostport(b, "--beast") for b in beast],
        sbs_feeds=_sbs_feeds(sbs), sbs_timezone=_timezone(sbs_timezone),
        ogn_filter=ogn_filter, callsign=callsign,
        beast_position=_position(beast_position, "--beast-position"),
        metrics_port=metrics_port, stats_interval=stats_interval, queue_timeout=queue_timeout,
        spool_dir=spool_dir, shutdown_deadline_s=_deadline(shutdown_deadline), shard=shard_,
        overflow_dir=overflow_dir,
        overflow_budget_bytes=_size(overflow_budget, "--overflow-budget"),
        overflow_free_floor_bytes=_size(overflow_free_floor, "--overflow-free-floor"),
        archive=archive_config, retry_max_s=_retry_max(retry_max))
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    if "failed" in summary:
        raise SoarError(f"ingest stopped: {summary['failed']}")
