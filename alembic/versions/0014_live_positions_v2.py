"""The live map shows every aircraft heard recently, on the ground too: the view
live_positions_v2 (tracked aircraft with a fix in the last 10 minutes of data time,
their active flight if any) replaces live_positions, and an index on
aircraft.last_seen finds them.

Nothing in the ingest path changes (docs/api.md, "Live positions"). The downgrade
drops both and re-creates live_positions.

Revision ID: 0014
Revises: 0013
"""
from alembic import op
from soar.db import sqlfiles

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "schema/140_aircraft_last_seen.sql",
    "views/live_positions_v2.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/140_live_positions_down.sql",
    "views/live_positions.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
