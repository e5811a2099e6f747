"""Ingest safety: quarantine for rows the database rejects, batch idempotency keys.

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
UPGRADE_FILES: tuple[str, ...] = ()
DOWNGRADE_FILES: tuple[str, ...] = ()


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
