"""Alembic migrations, run on a connection we open (so errors are ours to phrase).

Alembic and SQLAlchemy are imported where a migration is run, not at module import:
every `soar` command imports the CLI, which imports this module, and the two cost
more than the rest of the CLI's imports together (`python -X importtime -m soar`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from soar import db
from soar.db.sqlfiles import project_dir

if TYPE_CHECKING:
    from alembic.config import Config

ALEMBIC_DIR = project_dir("alembic")


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    return cfg


def _run(url: str, action, *args) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    db.connect(url).close()     # fail early with a one-line error
    engine = create_engine("postgresql+psycopg://", creator=lambda: db.connect(url),
                           poolclass=NullPool)
    try:
        with engine.connect() as connection:
            cfg = _config()
            cfg.attributes["connection"] = connection
            action(cfg, *args)
            connection.commit()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    _run(url, command.upgrade, revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    _run(url, command.downgrade, revision)


def current(url: str) -> str | None:
    with db.connect(url) as conn:
        if not conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0]:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


class Revision(NamedTuple):
    revision: str
    down_revision: str | None
    title: str          # the first line of the migration's docstring


def history() -> list[Revision]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_config())
    out = [Revision(s.revision, s.down_revision, (s.doc or "").strip().splitlines()[0]
                    if (s.doc or "").strip() else "")
           for s in scripts.walk_revisions()]
    return out[::-1]
