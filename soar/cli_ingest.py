"""`soar replay` and `soar run`: the ingest entry points."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from soar import db, ingest, sources
from soar.errors import SoarError
from soar.pipeline import PipelineConfig
from soar.stats import IngestStats


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


def replay(
    path: Path = typer.Argument(..., help="Recording to replay."),
    fmt: str = typer.Option(..., "--format", "-f", help="aprs, beast or modes"),
    speed: str = typer.Option("max", help="N times real time, or 'max'"),
    receiver: Optional[str] = typer.Option(None, help="Receiver name for beast/modes feeds."),
    start: Optional[datetime] = typer.Option(None, help="Beast only: UTC time of the first frame."),
    batch_size: int = typer.Option(5000, help="Fixes per COPY batch."),
) -> None:
    """Replay a recording through the live ingest path."""
    if fmt not in sources.FORMATS:
        raise SoarError(f"--format {fmt!r}: use one of {', '.join(sources.FORMATS)}")
    if not path.is_file():
        raise SoarError(f"{path}: no such file")
    summary = run_replay(path, fmt, _speed(speed), receiver, start, batch_size)
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


def run_replay(path: Path, fmt: str, speed: float | None, receiver: str | None = None,
               start: datetime | None = None, batch_size: int = 5000) -> dict:
    stats = IngestStats()
    url = db.role_url("ingest")
    db.connect(url).close()
    pipeline = ingest.build(url, stats, PipelineConfig(batch_size=batch_size))
    pipeline.start()
    with ingest.stop_on_signals() as stop:
        try:
            ingest.feed(pipeline, sources.replay(path, fmt, speed, receiver, start), stop)
        finally:
            pipeline.close()
    if pipeline.failed:
        raise SoarError(f"ingest stopped: {pipeline.failed}")
    summary = stats.summary()
    summary["file"] = str(path)
    return summary
