"""Overdue alerts for search and rescue: the overdue_alerts table and the view
overdue_flights (the active alerts, masked like aircraft_public, for the read-only role).

The worker raises an alert while it enriches the `timeout` end of a flight last heard
low or descending, clears it when the aircraft is heard again, and delivers each notice
to an optional webhook through the flight_enrichment queue (event `overdue_alert`).
No function or trigger: nothing in the ingest path changes. The downgrade drops both.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
from soar.db import sqlfiles

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "schema/101_overdue_alerts.sql",
    "views/overdue_flights.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/101_overdue_alerts_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
