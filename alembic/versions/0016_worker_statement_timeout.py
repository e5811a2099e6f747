"""The worker's statement timeout on its role (issue 21 item 5): ALTER ROLE soar_worker
SET statement_timeout, which holds through PgBouncer in transaction
mode (docs/operations.md, "Worker connections"). The downgrade resets it.

Revision ID: 0016
Revises: 0015
"""
from alembic import op
from soar.db import sqlfiles

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "schema/160_worker_statement_timeout.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/160_worker_statement_timeout_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
