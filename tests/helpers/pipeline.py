"""Running a recording through the real pipeline into a test database."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from soar import ingest
from soar.feeds import recordings
from soar.ingest.pipeline import Pipeline, PipelineConfig
from soar.ingest.stats import IngestStats


def drain(pipeline: Pipeline) -> None:
    """Close a pipeline whose input ended by itself: everything routed is written, as
    `soar replay` does (no stop signal, so no shutdown deadline however busy the
    machine; pytest-timeout bounds it)."""
    pipeline.close(stop=threading.Event())


def run(pipeline: Pipeline, chunks: Iterable[list]) -> None:
    """Start `pipeline`, feed it `chunks` to their end, drain it."""
    pipeline.start()
    ingest.feed(pipeline, chunks, threading.Event())
    drain(pipeline)


def replay(database, path, fmt, config=None, **kw) -> IngestStats:
    """Replay `path` as the ingest role, as fast as possible; the stats after a clean close."""
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats, config or PipelineConfig())
    run(pipeline, recordings.replay(path, fmt, None, **kw))
    assert pipeline.failed is None
    return stats
