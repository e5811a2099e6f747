"""IngestStats.accounting: every message counted once, in one outcome.

The counters are set here as the router and writer set them; the integration tests
(tests/integration/test_accounting.py) check the identity on real recordings."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from soar.ingest.stats import IngestCollector, IngestStats


def routed(stats: IngestStats, *, fixes=0, beacons=0, state_only=0, rejected=None,
           kind="aprs") -> None:
    """Messages through the router as `Router.handle` counts them."""
    rejected = rejected or {}
    stats.messages[kind] += fixes + beacons + state_only + sum(rejected.values())
    stats.fixes_accepted += fixes
    stats.receiver_beacons += beacons
    stats.state_only += state_only
    for reason, n in rejected.items():
        stats.reject(kind, reason, n)


def test_a_clean_run_balances_with_nothing_in_flight():
    s = IngestStats()
    routed(s, fixes=60, beacons=7, state_only=3, rejected={"duplicate": 20, "bad_text": 2})
    s.fixes_written = 60
    a = s.accounting()
    assert a == {"messages_in": 92, "fixes_stored": 60, "receiver_beacons": 7, "state_only": 3,
                 "rejected": {"duplicate": 20, "bad_text": 2}, "dropped": {},
                 "spooled": 0, "restored": 0, "in_flight": 0, "unaccounted": 0,
                 "balanced": True}


def test_buffered_fixes_are_in_flight_until_written_or_refused():
    s = IngestStats()
    routed(s, fixes=100, kind="modes")
    s.fixes_written = 40
    s.reject("db", "write_error", 25)          # the writer's refusals
    a = s.accounting()
    assert (a["in_flight"], a["rejected"], a["unaccounted"], a["balanced"]) == \
        (35, {"write_error": 25}, 0, True)


def test_queue_full_is_one_drop_not_also_a_rejection():
    """Pipeline._drop counts a dropped chunk in `messages`, in rejected[(kind,
    "queue_full")] and in dropped_queue_full: the identity counts it once, as a drop."""
    s = IngestStats()
    routed(s, fixes=10)
    s.fixes_written = 10
    s.messages["aprs"] += 500
    s.dropped_queue_full += 500
    s.reject("aprs", "queue_full", 500)
    a = s.accounting()
    assert a["messages_in"] == 510
    assert a["dropped"] == {"queue_full": 500} and a["rejected"] == {}
    assert a["unaccounted"] == 0 and a["balanced"]
    assert s.summary()["dropped_queue_full"] == 500   # kept for compatibility


def test_a_lost_message_unbalances_it():
    s = IngestStats()
    routed(s, fixes=10, beacons=2)
    s.fixes_written = 10
    s.messages["aprs"] += 1                     # counted in, no outcome
    a = s.accounting()
    assert a["unaccounted"] == 1 and not a["balanced"]
    s = IngestStats()
    routed(s, fixes=10)
    s.fixes_written = 11                        # written more than accepted: double write
    assert s.accounting()["in_flight"] == -1 and not s.accounting()["balanced"]


def test_summary_line_and_metrics_carry_the_accounting():
    s = IngestStats()
    routed(s, fixes=5, beacons=1, rejected={"parse_error": 2})
    s.fixes_written = 3
    s.messages["aprs"] += 4                     # as Pipeline._drop counts a dropped chunk
    s.reject("aprs", "queue_full", 4)
    s.count_cleaned("aprs", ("registration", "model"))
    summary = s.summary()
    assert summary["accounting"]["balanced"] and summary["accounting"]["in_flight"] == 2
    assert summary["cleaned"] == {"registration": 1, "model": 1}
    assert s.accounting_line() == ("in=12 stored=3 beacons=1 state_only=0 rejected=2 "
                                   "dropped=4 spooled=0 in_flight=2 unaccounted=0")
    registry = CollectorRegistry()
    registry.register(IngestCollector(s))
    text = generate_latest(registry).decode()
    for line in ('soar_ingest_messages_in_total 12.0',
                 'soar_ingest_messages_accounted_total{outcome="fixes_stored",reason=""} 3.0',
                 'soar_ingest_messages_accounted_total{outcome="rejected",reason="parse_error"} 2.0',
                 'soar_ingest_messages_accounted_total{outcome="dropped",reason="queue_full"} 4.0',
                 'soar_ingest_messages_in_flight 2.0', 'soar_ingest_messages_unaccounted 0.0',
                 'soar_ingest_cleaned_total{field="model",source="aprs"} 1.0'):
        assert line in text, line
