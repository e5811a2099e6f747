"""Airfield logbook: the `logbook` view and an index on each end of a flight.

One row per flight and airfield it took off from or landed at, read through
flights_public and aircraft_public (nothing the read-only role may not see), for
`soar logbook` and other tools; flights indexed by (departure airport, takeoff time)
and (arrival airport, landing time) so a day's logbook reads only that day's flights of
the field. The downgrade drops the view and the two indexes.

Revision ID: 0009
Revises: 0008
"""
from alembic import op
from soar.db import sqlfiles

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "schema/100_logbook_indexes.sql",
    "views/logbook.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/100_logbook_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
