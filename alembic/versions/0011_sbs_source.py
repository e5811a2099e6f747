"""SBS source: fixes and flights from SBS/BaseStation feeds are stored with source 3,
and the statistics views name it 'sbs' (beside 'ogn' and 'adsb').

flights_daily, flights_hourly and flight_durations are replaced (CREATE OR REPLACE:
same columns, grants kept) by versions that map source 3. The downgrade restores
the 0007 versions.

Revision ID: 0011
Revises: 0010
"""
from alembic import op
from soar.db import sqlfiles

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "views/flights_daily_v4.sql",
    "views/flights_hourly_v2.sql",
    "views/flight_durations_v2.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/113_sbs_down.sql",
    "views/flights_hourly.sql",
    "views/flight_durations.sql",
    "views/flights_daily_v3.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
