"""Prometheus exposition for the ingest process (loopback only by default)."""

from __future__ import annotations

from prometheus_client import REGISTRY, start_http_server

from soar.ingest.stats import IngestCollector, IngestStats


def serve(port: int, stats: IngestStats, addr: str = "127.0.0.1") -> None:
    REGISTRY.register(IngestCollector(stats))
    start_http_server(port, addr=addr)
