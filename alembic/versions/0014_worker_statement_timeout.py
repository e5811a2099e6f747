"""The worker's statement timeout on its role (issue 21 item 5): ALTER ROLE soar_worker
SET statement_timeout, which holds through PgBouncer in transaction
mode (docs/operations.md, "Worker connections"). The downgrade resets it.

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
    "schema/140_worker_statement_timeout.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/140_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
