"""Ingest counters: plain integers on the hot path, exported to Prometheus on scrape.

prometheus_client's Counter takes a lock per increment; at tens of thousands of
messages a second that is measurable, so the pipeline bumps ints and a collector
reads them when Prometheus asks.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


@dataclass
class IngestStats:
    started: float = field(default_factory=time.monotonic)
    messages: Counter = field(default_factory=Counter)      # by source kind
    rejected: Counter = field(default_factory=Counter)      # by (kind, reason)
    fixes_accepted: int = 0
    fixes_written: int = 0
    receiver_beacons: int = 0
    state_only: int = 0          # valid messages that update state but carry no position
    batches: int = 0
    dropped_queue_full: int = 0
    queue_depth: dict = field(default_factory=dict)          # name -> callable
    flights: Counter = field(default_factory=Counter)        # flight op kinds
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reject(self, kind: str, reason: str) -> None:
        self.rejected[(kind, reason)] += 1

    def rejected_by_reason(self) -> dict[str, int]:
        out: Counter = Counter()
        for (_, reason), n in self.rejected.items():
            out[reason] += n
        return dict(out)

    def summary(self) -> dict:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        total = sum(self.messages.values())
        return {
            "messages": dict(self.messages),
            "messages_total": total,
            "fixes_accepted": self.fixes_accepted,
            "fixes_written": self.fixes_written,
            "receiver_beacons": self.receiver_beacons,
            "state_only": self.state_only,
            "rejected": self.rejected_by_reason(),
            "dropped_queue_full": self.dropped_queue_full,
            "flights": dict(self.flights),
            "elapsed_s": round(elapsed, 3),
            "messages_per_s": round(total / elapsed, 1),
            "fixes_per_s": round(self.fixes_written / elapsed, 1),
        }


class IngestCollector:
    """Prometheus view of an IngestStats."""

    def __init__(self, stats: IngestStats):
        self.stats = stats

    def collect(self):
        s = self.stats
        msgs = CounterMetricFamily("soar_ingest_messages", "Messages received", labels=["source"])
        for kind, n in s.messages.items():
            msgs.add_metric([kind], n)
        yield msgs
        rej = CounterMetricFamily("soar_ingest_rejected", "Messages rejected",
                                  labels=["source", "reason"])
        for (kind, reason), n in s.rejected.items():
            rej.add_metric([kind, reason], n)
        yield rej
        yield CounterMetricFamily("soar_ingest_fixes_written", "Fixes committed", value=s.fixes_written)
        yield CounterMetricFamily("soar_ingest_dropped_queue_full",
                                  "Chunks dropped because the router queue was full",
                                  value=s.dropped_queue_full)
        depth = GaugeMetricFamily("soar_router_queue_depth", "Router queue depth", labels=["queue"])
        for name, fn in s.queue_depth.items():
            depth.add_metric([name], fn())
        yield depth
        fl = CounterMetricFamily("soar_flight_tracker_events", "Flight starts and ends by kind",
                                 labels=["kind"])
        for kind, n in s.flights.items():
            fl.add_metric([kind], n)
        yield fl
