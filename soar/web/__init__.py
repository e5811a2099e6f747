"""`soar web`: the live map, flight and logbook pages and the JSON API under /api/v1
(docs/api.md). It reads as the read-only role through the public views only, so the
privacy rules of soar.products hold here too; it imports nothing of ingest, the
tracker or the feeds (an import-linter contract)."""

from soar.web.app import create_app
from soar.web.config import WebConfig

__all__ = ["WebConfig", "create_app"]
