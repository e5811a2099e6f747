"""Running a recording through the real pipeline into a test database."""

from __future__ import annotations

import threading

from soar import ingest
from soar.feeds import recordings
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.stats import IngestStats


def replay(database, path, fmt, config=None, **kw) -> IngestStats:
    """Replay `path` as the ingest role, as fast as possible; the stats after a clean close."""
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats, config or PipelineConfig())
    pipeline.start()
    ingest.feed(pipeline, recordings.replay(path, fmt, None, **kw), threading.Event())
    pipeline.close()
    assert pipeline.failed is None
    return stats
