"""The live map's positions as a function of the time since which an aircraft counts
as heard, live_positions_v3(heard_since), replacing the view live_positions_v2: the
same rows, with the chunks of fixes older than that time excluded once at plan time
instead of once per aircraft at run time (sql/functions/live_positions_v3.sql).

The flights list's index follows its order and keyset, (started_at, id), replacing
the index on started_at alone (schema/171_flights_started_at_id.sql). Nothing in the
ingest path changes: one index on flights, as before. The downgrade restores both.

Revision ID: 0017
Revises: 0016
"""
from alembic import op
from soar.db import sqlfiles

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "functions/live_positions_v3.sql",
    "schema/171_flights_started_at_id.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/171_flights_started_at_id_down.sql",
    "schema/170_live_positions_v3_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
