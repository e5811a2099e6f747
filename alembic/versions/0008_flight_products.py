"""Flight products: the flight keeps its previous callsign, and records its launch method.

aircraft.competition_number (the device database's CN, for the logbook),
flights.previous_callsign (a callsign change in the air updates the flight instead of
splitting it) and flights.launch_method (aerotow, winch, self, unknown), written by
ingest; flights_public shows both, the previous callsign masked like the callsign.
The downgrade drops them and restores the 0007 flights_public.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
from soar.db import sqlfiles

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "schema/090_flight_products.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/090_down.sql",
    "schema/081_flights_public.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
