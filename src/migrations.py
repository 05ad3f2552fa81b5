"""Alembic, driven from code: the CLI, readiness and the tests all use these."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str | None = None) -> Config:
    """The project's Alembic config; `database_url` overrides the one from settings."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    # Run from code, Alembic must not replace the application's logging configuration.
    config.attributes["configure_logging"] = False
    if database_url is not None:
        # ConfigParser interpolation treats % specially; URLs may contain it.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest migration this code base ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade_to_head(database_url: str | None = None) -> None:
    """Apply every migration. Must not be called from inside a running event loop."""
    command.upgrade(alembic_config(database_url), "head")


def downgrade_to_base(database_url: str | None = None) -> None:
    command.downgrade(alembic_config(database_url), "base")
