"""Where the test suite's CPU goes, per test file: pytest's own CPU, its children's
(the `soar` commands it runs) and its PostgreSQL clusters' (each postmaster's and its
backends'), summed per file. A pytest plugin and a report (issue 19, docs/testing.md):

    PYTHONPATH=. SUITE_CPU_DIR=/tmp/suite-cpu .venv/bin/pytest -p bench.suite_cpu \
        -n 4 --dist loadfile --no-loadscope-reorder tests/integration tests/acceptance
    .venv/bin/python bench/suite_cpu.py /tmp/suite-cpu       # JSON, the costliest first

A cluster counts when this process started it through soar.db.embedded.Cluster.start
(the session's, a test's own); clusters a `soar` command or a benchmark starts by
itself (`pg_ctl` daemonises them) do not. CPU-seconds, not wall time: the figures hold
on a busy machine, where wall time does not."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

# The report runs as a script (bench/ first on the path), the plugin with PYTHONPATH=.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest  # noqa: E402

from bench.process import TICK, stat  # noqa: E402
from soar.db import embedded  # noqa: E402

_clusters: dict[str, float] = {}        # data folder -> its CPU when last seen
_rows: list[dict] = []


def _cluster_cpu(datadir: str) -> float | None:
    """The postmaster's CPU, its reaped children's, and its live backends'."""
    try:
        with open(Path(datadir) / "postmaster.pid") as f:
            pid = int(f.readline())
    except (OSError, ValueError):
        return None
    st = stat(pid)
    if st is None:
        return None
    total = sum(int(x) for x in st[11:15])      # utime, stime, cutime, cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (child := stat(entry)) is not None and int(child[1]) == pid:
            total += int(child[11]) + int(child[12])
    return total / TICK


def _clusters_cpu() -> float:
    for datadir in _clusters:
        if (now := _cluster_cpu(datadir)) is not None:
            _clusters[datadir] = now
    return sum(_clusters.values())


def _own_cpu() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _watch_clusters() -> None:
    start, stop = embedded.Cluster.start, embedded.Cluster.stop

    def started(self, *a, **kw):
        start(self, *a, **kw)
        _clusters.setdefault(str(self.datadir), 0.0)

    def stopping(self, *a, **kw):
        _clusters_cpu()                 # its last figure, before its processes go
        stop(self, *a, **kw)

    embedded.Cluster.start, embedded.Cluster.stop = started, stopping


def pytest_configure(config) -> None:
    _watch_clusters()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    (me0, kids0), pg0, t0 = _own_cpu(), _clusters_cpu(), time.monotonic()
    yield
    (me1, kids1), pg1, t1 = _own_cpu(), _clusters_cpu(), time.monotonic()
    _rows.append({"test": item.nodeid, "pytest_s": me1 - me0, "children_s": kids1 - kids0,
                  "postgresql_s": pg1 - pg0, "wall_s": t1 - t0})


def pytest_sessionfinish(session) -> None:
    folder = Path(os.environ.get("SUITE_CPU_DIR", "suite-cpu"))
    folder.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (folder / f"{worker}.json").write_text(json.dumps(_rows))


def report(folder: Path) -> dict:
    files: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for path in folder.glob("*.json"):
        for row in json.loads(path.read_text()):
            f = files[row["test"].split("::")[0]]
            for key in ("pytest_s", "children_s", "postgresql_s", "wall_s"):
                f[key] += row[key]
            f["tests"] += 1
    for f in files.values():
        f["cpu_s"] = f["pytest_s"] + f["children_s"] + f["postgresql_s"]
    ranked = sorted(files.items(), key=lambda kv: -kv[1]["cpu_s"])
    return {"cpu_s": round(sum(f["cpu_s"] for f in files.values()), 1),
            "files": {name: {k: round(v, 1) for k, v in f.items()} for name, f in ranked}}


if __name__ == "__main__":
    print(json.dumps(report(Path(sys.argv[1] if len(sys.argv) > 1 else "suite-cpu")), indent=1))
