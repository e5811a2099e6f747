"""Statistics views for the read-only role.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
from soar.db import sqlfiles

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

VIEWS = ("flights_daily", "airport_movements_daily", "aircraft_flight_totals", "enrichment_status")

# The SQL files this revision applies, relative to sql/, in order (one per view).
# Released: their contents are frozen (alembic/sql.sha256;
# tests/unit/test_migrations_frozen.py).
UPGRADE_FILES = tuple(f"views/{v}.sql" for v in VIEWS)
DOWNGRADE_FILES = ()    # the downgrade drops the views by name


def upgrade() -> None:
    conn = op.get_bind().connection.driver_connection
    sqlfiles.execute(conn, *UPGRADE_FILES)
    for v in VIEWS:
        conn.execute(f"GRANT SELECT ON {v} TO soar_readonly")


def downgrade() -> None:
    conn = op.get_bind().connection.driver_connection
    for v in reversed(VIEWS):
        conn.execute(f"DROP VIEW IF EXISTS {v}")
