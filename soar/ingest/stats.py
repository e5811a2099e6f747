"""Ingest counters: plain integers on the hot path, exported to Prometheus on scrape.

prometheus_client's Counter takes a lock per increment; at tens of thousands of
messages a second that is measurable, so the pipeline bumps ints and a collector
reads them when Prometheus asks.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

LATENCY_BUCKETS_MS = (0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000)


class Latency:
    """A histogram (for Prometheus) plus the most recent samples (for percentiles)."""

    def __init__(self, keep: int = 20_000):
        self.counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.sum_ms = 0.0
        self.recent: deque = deque(maxlen=keep)

    def observe(self, ms: float) -> None:
        self.recent.append(ms)
        self.sum_ms += ms
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_MS, ms)] += 1

    def percentile(self, q: float) -> float | None:
        if not self.recent:
            return None
        data = sorted(self.recent)
        return data[min(len(data) - 1, int(q / 100 * len(data)))]

    def buckets(self) -> list[tuple[str, int]]:
        out, total = [], 0
        for bound, n in zip((*map(str, LATENCY_BUCKETS_MS), "+Inf"), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


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
    dropped_queue_full: int = 0   # messages dropped by live feeds on a full router queue
    queue_depth: dict = field(default_factory=dict)          # name -> callable
    flights: Counter = field(default_factory=Counter)        # flight op kinds
    # flight_tracker.create_flight / complete_flight statement latencies
    latency: dict = field(default_factory=lambda: {"create_flight": Latency(),
                                                    "complete_flight": Latency()})
    gauges: dict = field(default_factory=dict)               # name -> callable
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Live drops on a full router queue by feed (its name): which socket lost what.
    dropped_by_source: Counter = field(default_factory=Counter)
    # Batches not committed by the shutdown deadline, kept on disk (soar.ingest.spool),
    # and those written back at a start (before new data).
    spooled_batches: int = 0
    spooled_fixes: int = 0
    restored_batches: int = 0
    restored_fixes: int = 0

    def reject(self, kind: str, reason: str, count: int = 1) -> None:
        self.rejected[(kind, reason)] += count

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
            **{f"{name}_p99_ms": (round(lat.percentile(99), 3) if lat.recent else None)
               for name, lat in self.latency.items()},
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
                                  "Messages dropped because the router queue was full",
                                  value=s.dropped_queue_full)
        depth = GaugeMetricFamily("soar_router_queue_depth", "Router queue depth", labels=["queue"])
        for name, fn in s.queue_depth.items():
            depth.add_metric([name], fn())
        yield depth
        for name, lat in s.latency.items():
            h = HistogramMetricFamily(f"soar_flight_tracker_{name}_latency_ms",
                                      f"flight_tracker.{name}.latency_ms: one SQL statement")
            h.add_metric([], lat.buckets(), lat.sum_ms)
            yield h
        for name, fn in s.gauges.items():
            yield GaugeMetricFamily(f"soar_{name}", name.replace("_", " "), value=fn())
        fl = CounterMetricFamily("soar_flight_tracker_events", "Flight starts and ends by kind",
                                 labels=["kind"])
        for kind, n in s.flights.items():
            fl.add_metric([kind], n)
        yield fl
