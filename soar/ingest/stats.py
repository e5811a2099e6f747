"""Ingest counters: plain integers on the hot path, exported to Prometheus on scrape.

prometheus_client's Counter takes a lock per increment; at tens of thousands of
messages a second that is measurable, so the pipeline bumps ints and a collector
reads them when Prometheus asks.

Every message is accounted for (`IngestStats.accounting`):

    messages_in = fixes_stored + receiver_beacons + state_only
                  + rejected (by reason) + dropped (by reason) + in_flight

- messages_in: messages the router handled (`messages`) plus those a live feed
  dropped before it on a full queue;
- rejected: `reject(kind, reason)` for every reason but the drop reasons, the
  database's refusals of accepted fixes (kind "db") included;
- dropped: the DROP_REASONS (good messages that could not be handled), counted once
  even though `dropped_queue_full` repeats the queue_full figure;
- buffered: messages waiting in the disk buffer (soar.ingest.overflow), on both
  sides: in until routed (those an earlier run left there too), then counted by the
  router like any other; what is still there at close stays for the next start;
- in_flight: fixes the router accepted that are neither written, refused nor spooled
  yet, counted where they are (`in_flight_at`: the batch being built, the batches
  queued for the writer, the one it is writing): 0 after a clean close. Counted, not
  inferred from the other terms, so a batch lost between router and database leaves
  `unaccounted` above 0.
A receiver beacon counts once when routed, however many merge into one row. Exact
once the pipeline is closed; a live snapshot can be off by the messages being routed
or the batch being committed at that instant (a message is counted in before its
outcome, a batch is counted written before the writer lets go of it).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from soar.records import DB, OTHER_SHARD, PIPELINE_FAILED, QUEUE_FULL

LATENCY_BUCKETS_MS = (0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000)

# Reasons that are drops (a good message not handled here), not rejections.
DROP_REASONS = frozenset({QUEUE_FULL, PIPELINE_FAILED, OTHER_SHARD})


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
    # Display-only text fields cleaned at the edge, by (kind, field); the message is
    # still stored, so this is not part of the accounting identity.
    cleaned: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # The writer's own outcomes (soar/ingest/writer.py). Rows the database refused and
    # the writer put in ingest_quarantine, by what: aircraft, receiver, flight_op (a
    # refused fix is a rejection instead: rejected[("db", "quarantined")]).
    quarantined: Counter = field(default_factory=Counter)
    # Flight writes that changed no row, by (op kind, reason): "replay" (a create whose
    # flight id is already stored), "missing" (an update of a flight not stored),
    # "tow_missing" (a tow link to a tow flight not stored).
    flight_ops_skipped: Counter = field(default_factory=Counter)
    # Active flights closed ('superseded') because the aircraft's next flight started
    # while their end had been lost; the new flight is stored.
    flights_superseded: int = 0
    # Retried batches found already committed (the first commit's reply was lost):
    # skipped, their fixes counted once.
    batches_already_committed: int = 0
    # Live drops on a full router queue by feed (its name): which socket lost what.
    dropped_by_source: Counter = field(default_factory=Counter)
    # Batches not committed by the shutdown deadline, kept on disk (soar.ingest.spool),
    # and those written back at a start (before new data).
    spooled_batches: int = 0
    spooled_fixes: int = 0
    restored_batches: int = 0
    restored_fixes: int = 0
    # Sharding (soar.ingest.shard): this process's "K/N" (None: not sharded); other
    # shards' fixes the tracker followed (shadow aircraft, aerotow partners; counted
    # as dropped `other_shard` too); flight writes of other shards' tow planes written
    # here as well (their own shard writes the same: a create goes in once).
    shard: str | None = None
    shadow_fixes: int = 0
    # The host clock against the APRS-IS server's (soar.ingest.clock): server time lines
    # that found it off by more than clock_skew_max_s, and the last skew measured (s,
    # server minus host; None before the first line).
    clock_skew: int = 0
    clock_skew_s: float | None = None
    clock_retimed: int = 0       # OGN fixes accepted on the server's clock instead
    shadow_flight_ops: int = 0
    # Where accepted fixes wait for the database: place -> callable returning how many
    # are there now (registered by the pipeline; the accounting's in_flight term).
    in_flight_at: dict = field(default_factory=dict)
    # The disk buffer (soar.ingest.overflow.DiskBuffer, set by the pipeline for live
    # feeds; read for `messages`, `bytes`, `oldest`), and messages: found there at start
    # (an earlier run's), put there, taken back to the router, refused by its budget or
    # free-space floor (dropped as queue_full too).
    disk_buffer: object | None = None
    overflow_resumed: int = 0
    overflow_in: int = 0
    overflow_out: int = 0
    overflow_refused: int = 0

    def reject(self, kind: str, reason: str, count: int = 1) -> None:
        self.rejected[(kind, reason)] += count

    def count_cleaned(self, kind: str, fields: tuple[str, ...]) -> None:
        """A record's `cleaned` fields (soar.records.Fix / ReceiverBeacon)."""
        for name in fields:
            self.cleaned[(kind, name)] += 1

    def accounting(self) -> dict:
        """The parts of the accounting identity (module docstring), its residual
        `unaccounted` and whether it holds (`balanced`)."""
        # Copies first: the router thread may add keys while we read.
        rejected_by = dict(self.rejected)
        messages_in = sum(dict(self.messages).values())
        rejected: Counter = Counter()
        dropped: Counter = Counter()
        refused_by_db = 0
        for (kind, reason), n in rejected_by.items():
            if reason in DROP_REASONS:
                dropped[reason] += n      # the router counted them in `messages` too
            else:
                rejected[reason] += n
            if kind == DB:
                refused_by_db += n
        # Batches restored from the spool at start were messages of an earlier run: they
        # come in here as fixes, and go out as stored (or refused) like the others.
        messages_in += self.restored_fixes
        buffered = self.disk_buffer.messages if self.disk_buffer is not None else 0
        messages_in += buffered
        in_flight = sum(count() for count in list(self.in_flight_at.values()))
        accounted = (self.fixes_written + self.receiver_beacons + self.state_only
                     + sum(rejected.values()) + sum(dropped.values()) + self.spooled_fixes
                     + in_flight + buffered)
        unaccounted = messages_in - accounted
        return {
            "messages_in": messages_in,
            "fixes_stored": self.fixes_written,
            "receiver_beacons": self.receiver_beacons,
            "state_only": self.state_only,
            "rejected": dict(rejected),
            "dropped": dict(dropped),
            "spooled": self.spooled_fixes,
            "restored": self.restored_fixes,
            "in_flight": in_flight,
            # With a disk buffer only (live runs): replays never use one.
            **({"buffered": buffered} if self.disk_buffer is not None else {}),
            "unaccounted": unaccounted,
            "balanced": unaccounted == 0,
        }

    def accounting_line(self) -> str:
        """The identity's parts for the periodic stats line."""
        a = self.accounting()
        buffered = f"buffered={a['buffered']} " if "buffered" in a else ""
        return (f"in={a['messages_in']} stored={a['fixes_stored']} "
                f"beacons={a['receiver_beacons']} state_only={a['state_only']} "
                f"rejected={sum(a['rejected'].values())} dropped={sum(a['dropped'].values())} "
                f"spooled={a['spooled']} in_flight={a['in_flight']} "
                f"{buffered}"
                f"unaccounted={a['unaccounted']}")

    def overflow(self) -> dict:
        """The disk buffer: what waits (messages, bytes, age of the oldest in seconds)
        and its counters; catch-up progress is `out` against `in` + `resumed`."""
        buf = self.disk_buffer
        oldest = getattr(buf, "oldest", None)
        return {
            "messages": buf.messages if buf is not None else 0,
            "bytes": buf.bytes if buf is not None else 0,
            "age_s": (round(max(0.0, time.time() - oldest.timestamp()), 1)
                      if oldest is not None else 0.0),
            "resumed": self.overflow_resumed,
            "in": self.overflow_in,
            "out": self.overflow_out,
            "refused": self.overflow_refused,
            "damaged": buf.damaged if buf is not None else 0,
        }

    def rejected_by_reason(self) -> dict[str, int]:
        return _by_name(self.rejected)

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
            "dropped_by_source": dict(self.dropped_by_source),
            "cleaned": _by_name(self.cleaned),
            "quarantined": dict(self.quarantined),
            "flight_ops_skipped": {f"{kind}/{reason}": n
                                   for (kind, reason), n in dict(self.flight_ops_skipped).items()},
            "flights_superseded": self.flights_superseded,
            "batches_already_committed": self.batches_already_committed,
            "spooled_batches": self.spooled_batches,
            "spooled_fixes": self.spooled_fixes,
            "restored_batches": self.restored_batches,
            "restored_fixes": self.restored_fixes,
            "overflow": self.overflow(),
            **({"shard": self.shard, "shadow_fixes": self.shadow_fixes,
                "shadow_flight_ops": self.shadow_flight_ops}
               if self.shard is not None else {}),
            "accounting": self.accounting(),
            "clock_skew": self.clock_skew,
            "clock_skew_s": self.clock_skew_s,
            "clock_retimed": self.clock_retimed,
            "flights": dict(self.flights),
            **{f"{name}_p99_ms": (round(lat.percentile(99), 3) if lat.recent else None)
               for name, lat in self.latency.items()},
            "elapsed_s": round(elapsed, 3),
            "messages_per_s": round(total / elapsed, 1),
            "fixes_per_s": round(self.fixes_written / elapsed, 1),
        }


def fixes_in(batches) -> int:
    """Fixes in `batches` (an iterable of Batch, other items skipped: a queue's end
    marker), for an `in_flight_at` place."""
    return sum(len(b.fixes) for b in batches if hasattr(b, "fixes"))


def fixes_queued(q) -> int:
    """Fixes in the batches a queue.Queue holds now."""
    with q.mutex:
        items = list(q.queue)
    return fixes_in(items)


def _by_name(counter: Counter) -> dict[str, int]:
    """A Counter keyed by (kind, name) summed by name."""
    out: Counter = Counter()
    for (_, name), n in dict(counter).items():
        out[name] += n
    return dict(out)


def _overflow_metrics(o: dict):
    """The disk buffer's depth, age and catch-up (rate of out against in)."""
    yield GaugeMetricFamily("soar_ingest_overflow_messages",
                            "Messages waiting in the disk buffer", value=o["messages"])
    yield GaugeMetricFamily("soar_ingest_overflow_bytes",
                            "Bytes of the disk buffer's segment files", value=o["bytes"])
    yield GaugeMetricFamily("soar_ingest_overflow_age_seconds",
                            "Age of the oldest message waiting in the disk buffer",
                            value=o["age_s"])
    for name, key, text in (("in", "in", "Messages put in the disk buffer"),
                            ("out", "out", "Messages taken back from the disk buffer"),
                            ("resumed", "resumed",
                             "Messages an earlier run left in the disk buffer"),
                            ("refused", "refused",
                             "Messages the disk buffer refused (budget or free-space floor): "
                             "dropped as queue_full")):
        yield CounterMetricFamily(f"soar_ingest_overflow_{name}", text, value=o[key])


class IngestCollector:
    """Prometheus view of an IngestStats."""

    def __init__(self, stats: IngestStats):
        self.stats = stats

    def collect(self):
        s = self.stats
        msgs = CounterMetricFamily("soar_ingest_messages", "Messages received", labels=["source"])
        for kind, n in dict(s.messages).items():
            msgs.add_metric([kind], n)
        yield msgs
        rej = CounterMetricFamily("soar_ingest_rejected", "Messages rejected",
                                  labels=["source", "reason"])
        for (kind, reason), n in dict(s.rejected).items():
            rej.add_metric([kind, reason], n)
        yield rej
        yield CounterMetricFamily("soar_ingest_fixes_written", "Fixes committed", value=s.fixes_written)
        yield CounterMetricFamily("soar_ingest_dropped_queue_full",
                                  "Messages dropped because the router queue was full",
                                  value=s.dropped_queue_full)
        acc = s.accounting()
        yield CounterMetricFamily("soar_ingest_messages_in",
                                  "Messages in: routed, or dropped before the router",
                                  value=acc["messages_in"])
        out = CounterMetricFamily(
            "soar_ingest_messages_accounted",
            "Messages by outcome (reason for rejected/dropped); with in_flight they sum "
            "to soar_ingest_messages_in", labels=["outcome", "reason"])
        for outcome in ("fixes_stored", "receiver_beacons", "state_only"):
            out.add_metric([outcome, ""], acc[outcome])
        for outcome in ("rejected", "dropped"):
            for reason, n in acc[outcome].items():
                out.add_metric([outcome, reason], n)
        yield out
        yield GaugeMetricFamily("soar_ingest_messages_in_flight",
                                "Accepted fixes not yet written nor refused by the database",
                                value=acc["in_flight"])
        yield GaugeMetricFamily("soar_ingest_messages_unaccounted",
                                "Messages in minus every outcome: 0 unless a message was lost",
                                value=acc["unaccounted"])
        cleaned = CounterMetricFamily("soar_ingest_cleaned",
                                      "Display-only text fields cleaned of control characters",
                                      labels=["source", "field"])
        for (kind, name), n in dict(s.cleaned).items():
            cleaned.add_metric([kind, name], n)
        yield cleaned
        yield from _overflow_metrics(s.overflow())
        yield CounterMetricFamily("soar_ingest_clock_skew",
                                  "APRS-IS server time lines that found the host clock off "
                                  "by more than clock_skew_max_s", value=s.clock_skew)
        yield GaugeMetricFamily("soar_ingest_clock_skew_seconds",
                                "The APRS-IS server's time minus the host clock's, last measured",
                                value=s.clock_skew_s or 0.0)
        yield CounterMetricFamily("soar_ingest_clock_retimed",
                                  "OGN fixes the host clock refused and the APRS-IS server's "
                                  "clock accepted (received_at moved)", value=s.clock_retimed)
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
