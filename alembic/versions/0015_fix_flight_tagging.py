"""Ingest may set a stored fix's flight_id, and only that column: a flight's create
also tags the fixes of its confirmation window that an earlier batch stored untagged,
so the stored fixes do not depend on where the router cut its batches (a replay of
the raw archive stores what the live run stored; docs/ingest.md).

Revision ID: 0015
Revises: 0014
"""
from alembic import op
from soar.db import sqlfiles

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "schema/150_fix_flight_tagging.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/150_fix_flight_tagging_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
