"""Ingest: messages -> router (parse, validate, de-duplicate, track) -> batches ->
writer (one transaction, binary COPY). `soar.ingest.app` assembles and runs it; its
entry points are re-exported here."""

from soar.ingest.app import Chunker, StatsLogger, build, feed, replay, run_live, stop_on_signals

__all__ = ["Chunker", "StatsLogger", "build", "feed", "replay", "run_live", "stop_on_signals"]
