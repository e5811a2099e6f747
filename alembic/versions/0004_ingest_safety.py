"""Ingest safety: quarantine for rows the database rejects, batch idempotency keys,
and the 'superseded' end reason for a flight closed because its end was lost.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
from soar.db import sqlfiles

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The SQL files this revision applies, relative to sql/, in order. Once released their
# contents are frozen (alembic/sql.sha256; tests/unit/test_migrations_frozen.py).
UPGRADE_FILES: tuple[str, ...] = (
    "schema/050_ingest_quarantine.sql",
    "schema/051_ingest_batches.sql",
    "schema/052_flights_end_superseded.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/050_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
