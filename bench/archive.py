"""The raw archive's disk use and CPU (soar.ingest.archive), printing JSON.

Writes the one-minute OGN capture (the full APRS-IS feed, 88,565 lines over 61 s)
through `Archive` as `soar run --archive` would (chunks of 500), and reports the
compressed bytes, the ratio to the lines as written, the archive thread's CPU and
the same scaled to an hour and to the default 7 days kept.

    .venv/bin/python bench/archive.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from soar.feeds import recordings
from soar.ingest.archive import Archive, ArchiveConfig, encode
from soar.reference import samples


def main() -> None:
    msgs = list(recordings.aprs_messages(samples.path("oneminute.txt")))
    span_s = (msgs[-1].received_at - msgs[0].received_at).total_seconds()
    with tempfile.TemporaryDirectory() as d:
        archive = Archive(ArchiveConfig(Path(d), keep_s=1e12, queue_chunks=len(msgs)))
        for i in range(0, len(msgs), 500):
            archive.offer(msgs[i:i + 500])
        cpu0 = time.process_time()
        archive.start()
        archive.close()
        cpu_s = time.process_time() - cpu0
    raw = sum(len(encode(m).encode()) for m in msgs)
    per_hour = archive.bytes * 3600 / span_s
    print(json.dumps({
        "lines": archive.lines, "span_s": round(span_s, 1), "bytes_as_lines": raw,
        "bytes_compressed": archive.bytes, "ratio": round(raw / archive.bytes, 2),
        "archive_cpu_s_per_minute_of_feed": round(cpu_s * 60 / span_s, 3),
        "mb_per_hour": round(per_hour / 1e6), "gb_per_7_days": round(per_hour * 168 / 1e9, 1),
    }))


if __name__ == "__main__":
    main()
