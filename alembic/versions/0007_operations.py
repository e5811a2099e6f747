"""Operations: statistics views by UTC day (indexed), queue health for cron-less monitoring.

flights_daily and airport_movements_daily group by the UTC date (an immutable
expression two new indexes serve, so `soar stats --days N` reads N days of flights);
new views: flights per hour, flight durations, runway use, flights per aircraft, tows
per tow plane, enrichment coverage and failures; queue_health over pgmq.metrics_all();
retention functions the worker may call (old fix chunks only); the read-only role
reads flights without the callsign, and flights_public with the
callsign masked for aircraft not identified (as aircraft_public masks it).
The downgrade drops them and restores the 0006 versions of the two replaced views.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
from soar.db import sqlfiles

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "schema/080_statistics_indexes.sql",
    "views/flights_daily_v3.sql",
    "views/flights_hourly.sql",
    "views/flight_durations.sql",
    "views/airport_movements_daily_v2.sql",
    "views/runway_use_daily.sql",
    "views/aircraft_flights_daily.sql",
    "views/tow_plane_daily.sql",
    "views/enrichment_coverage_daily.sql",
    "functions/queue_health_v1.sql",
    "views/queue_health.sql",
    "functions/drop_fix_chunk_v1.sql",
    "schema/081_flights_public.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/081_down.sql",
    "schema/080_down.sql",
    "views/airport_movements_daily.sql",
    "views/flights_daily_v2.sql",
    "schema/080_down_grants.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
