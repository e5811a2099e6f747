"""Least privilege: column-level grants, a view for the read-only role, no CREATE on public.

Ingest may write only the columns its statements name (never aircraft.tracked /
identified nor the enrichment columns of flights); the worker no longer UPDATEs
locations; the read-only role reads aircraft only through aircraft_public, which hides
the registration and callsign of aircraft not identified, and the statistics views read
through it too; PUBLIC may not create objects in public. The downgrade restores the
grants of revisions 0001-0002 and the views of 0003.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
from soar.db import sqlfiles

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The SQL files this revision applies, relative to sql/, in order. Once released their
# contents are frozen (alembic/sql.sha256; tests/unit/test_migrations_frozen.py).
UPGRADE_FILES: tuple[str, ...] = (
    "schema/070_least_privilege.sql",
    "views/aircraft_public.sql",
    "views/aircraft_flight_totals_v2.sql",
    "views/flights_daily_v2.sql",
)
# The two views of 0003 first (they stop reading aircraft_public), then the grants.
DOWNGRADE_FILES: tuple[str, ...] = (
    "views/aircraft_flight_totals.sql",
    "views/flights_daily.sql",
    "schema/070_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
