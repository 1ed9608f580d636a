"""Apply the Alembic migrations shipped in geo_outreach/migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection

SCRIPTS = Path(__file__).resolve().parent / "migrations"


def alembic_config(*, url: URL | None = None, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    # Passed as objects so passwords with '%' never meet ConfigParser interpolation.
    cfg.attributes["url"] = url
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: URL, revision: str = "head") -> None:
    command.upgrade(alembic_config(url=url), revision)


def downgrade(url: URL, revision: str) -> None:
    command.downgrade(alembic_config(url=url), revision)


def current(url: URL) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    """The newest revision shipped with this installation."""
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev
