"""Hostile input (issue 21): length limits on every text column a feed fills, and
pg_temp last in the search_path of every SECURITY DEFINER function, and the device
database's registration winning over an APRS `reg` token (aircraft.registration_from_ddb).

The length limits are CHECK constraints equal to soar/columns.py TEXT_MAX (the edge
applies the same ones); values stored before are made to fit first, by the edge's
rules (sql/schema/120_text_limits.sql). The downgrade drops the constraints and
restores the functions' earlier search_path.

Revision ID: 0012
Revises: 0011
"""
from alembic import op
from soar.db import sqlfiles

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE_FILES: tuple[str, ...] = (
    "schema/120_text_limits.sql",
    "functions/definer_search_path_v1.sql",
    "schema/121_ddb_registration.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/120_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
