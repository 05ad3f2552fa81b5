"""Trailmark's command line: `python -m src.cli --help`."""

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from src.config import get_settings, settings_reference
from src.logging import configure_logging
from src.migrations import PROJECT_ROOT, upgrade_to_head

app = typer.Typer(
    help="Trailmark: a self-hosted, tamper-evident audit trail.", no_args_is_help=True
)
logger = logging.getLogger("trailmark.cli")

DEV_DATA_DIR = PROJECT_ROOT / ".data" / "pg"
DEV_DATABASE = "trailmark"


@app.command()
def migrate() -> None:
    """Apply every database migration (`alembic upgrade head`) to DATABASE_URL."""
    settings = get_settings()
    configure_logging(settings.log_level)
    upgrade_to_head(settings.async_database_url)
    typer.echo("database schema is at head")


@app.command("settings")
def settings_table() -> None:
    """Print every setting as a Markdown table (the README's configuration section)."""
    typer.echo(settings_reference())


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: Annotated[
        Path, typer.Option(help="Where the embedded PostgreSQL keeps its data.")
    ] = DEV_DATA_DIR,
) -> None:
    """Run Trailmark for development: PostgreSQL (embedded unless DATABASE_URL is set),
    migrations, then the API on http://HOST:PORT (Swagger UI at /docs). Ctrl-C stops it all."""
    from src.devdb import EmbeddedPostgres, create_database

    settings = get_settings()
    configure_logging(settings.log_level)
    embedded: EmbeddedPostgres | None = None
    if settings.database_url is None:
        typer.echo(f"starting embedded PostgreSQL in {data_dir} ...", err=True)
        embedded = EmbeddedPostgres(data_dir)
        url = asyncio.run(create_database(embedded.url(), DEV_DATABASE, exist_ok=True))
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        settings = get_settings()
    try:
        upgrade_to_head(settings.async_database_url)
        typer.echo(
            f"Trailmark on http://{host}:{port}  (Swagger UI: http://{host}:{port}/docs)", err=True
        )
        uvicorn.run(
            "src.main:create_app",
            factory=True,
            host=host,
            port=port,
            log_config=None,
            proxy_headers=True,
        )
    finally:
        if embedded is not None:
            typer.echo("stopping embedded PostgreSQL ...", err=True)
            embedded.stop()


if __name__ == "__main__":
    app()
