"""The live map's view: live_positions, one row per active flight with its aircraft's
latest fix, masked like aircraft_public, for the read-only role (`soar web`).

Only a view: nothing in the ingest path changes (docs/api.md, "Live positions").
The downgrade drops it.

Revision ID: 0013
Revises: 0012
"""
from alembic import op
from soar.db import sqlfiles

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "views/live_positions.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/130_web_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
