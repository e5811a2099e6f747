"""Test layout: tests/unit needs nothing but Python; tests/integration needs the real
PostgreSQL (fixtures in helpers/database.py); tests/acceptance runs the `soar`
command and the whole system as a user does. Shared helpers live in tests/helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.paths import TEST_DATA

pytest_plugins = ["helpers.database"]

TESTS = Path(__file__).resolve().parent

# The longest files first (per-file sums of `pytest --durations=0`, docs/testing.md).
# Under pytest-xdist's `--dist loadfile --no-loadscope-reorder` each worker takes the
# next file in collection order, so these start at once on different workers instead of
# ending the run alone (xdist's own order, most tests first, put the one-test outage
# files last: 12 min 48 s against 9 min 3 s in this order, docs/testing.md).
LONGEST_FIRST = (
    "acceptance/test_outage_database.py",
    "acceptance/test_outage_cpu.py",
    "integration/test_worker.py",
    "integration/test_writer_faults.py",
    "acceptance/test_bench_incident.py",
    "integration/test_lifecycle.py",
    "acceptance/test_shard_replay.py",
    "integration/test_runway_sql.py",
    "integration/test_ingest.py",
    "acceptance/test_pgbouncer_setup.py",
    "integration/test_overdue_alerts.py",
    "integration/test_web_api.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def first(item: pytest.Item) -> int:
        try:
            return rank.get(item.path.relative_to(TESTS).as_posix(), len(rank))
        except ValueError:
            return len(rank)
    items.sort(key=first)       # stable: the rest keep their order

@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real recordings kept in the repository (tests/data/README.md)."""
    return TEST_DATA


