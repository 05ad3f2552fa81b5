"""Trailmark's command line: `python -m src.cli --help`."""

import asyncio
import base64
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from src.auth import service as auth_service
from src.auth.constants import Scope
from src.auth.schemas import KeyCreate, KeyCreated
from src.config import Settings, get_settings, settings_reference
from src.database import create_engine, create_sessionmaker
from src.exceptions import DomainError, Unauthorized
from src.log import signing
from src.logging import configure_logging
from src.migrations import PROJECT_ROOT, upgrade_to_head
from src.pagination import CursorCodec
from src.retention import job as retention_job
from src.viewer import service as viewer_service
from src.viewer.constants import MAX_TTL_SECONDS
from src.viewer.schemas import ViewerTokenCreate

app = typer.Typer(
    help="Trailmark: a self-hosted, tamper-evident audit trail.", no_args_is_help=True
)
keys_app = typer.Typer(
    help="Create, list and revoke API keys (no API key needed).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
log_app = typer.Typer(help="The transparency log's signing key.", no_args_is_help=True)
app.add_typer(log_app, name="log")
retention_app = typer.Typer(
    help="Retention: apply the tenants' policies now.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")

DEV_DATA_DIR = PROJECT_ROOT / ".data" / "pg"
DEV_DATABASE = "trailmark"
DEV_KEY_FILE = PROJECT_ROOT / ".data" / "dev-admin-key"


def _pepper(settings: Settings) -> bytes:
    return settings.api_key_pepper.get_secret_value().encode()


@contextmanager
def _database(data_dir: Path = DEV_DATA_DIR) -> Iterator[Settings]:
    """Settings whose DATABASE_URL is usable: the configured server, or the embedded one.

    Without DATABASE_URL, the embedded development PostgreSQL is started (or joined, when the
    start command already runs it) and migrated; it stops on exit unless another process uses it.
    """
    settings = get_settings()
    configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    if settings.database_url is not None:
        yield settings
        return
    from src.devdb import EmbeddedPostgres, create_database

    embedded = EmbeddedPostgres(data_dir)
    try:
        url = asyncio.run(create_database(embedded.url(), DEV_DATABASE, exist_ok=True))
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
        settings = get_settings()
        upgrade_to_head(settings.async_database_url)
        yield settings
    finally:
        embedded.stop()


async def _create_key(settings: Settings, request: KeyCreate) -> KeyCreated:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            return await auth_service.create_key(
                session=session, pepper=_pepper(settings), request=request
            )
    finally:
        await engine.dispose()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@keys_app.command("create")
def keys_create(
    admin: Annotated[
        bool, typer.Option("--admin", help="An admin key: every scope, every tenant.")
    ] = False,
    tenant: Annotated[str | None, typer.Option(help="The tenant the key acts for.")] = None,
    scopes: Annotated[
        str | None, typer.Option(help="Comma-separated: audits:write,audits:read,audits:erase.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for people.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a key and print it. Its secret is shown this once."""
    if admin and scopes:
        raise _fail("--admin implies every scope; do not pass --scopes with it")
    scope_list = ["admin"] if admin else [s.strip() for s in (scopes or "").split(",") if s.strip()]
    try:
        request = KeyCreate.model_validate({"tenant": tenant, "scopes": scope_list, "name": name})
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'key'}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(reasons) from exc
    with _database() as settings:
        created = asyncio.run(_create_key(settings, request))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "id": str(created.id),
                    "key": created.key,
                    "tenant": created.tenant,
                    "scopes": [scope.value for scope in created.scopes],
                }
            )
        )
    else:
        typer.echo(f"key:     {created.key}")
        typer.echo(f"id:      {created.id}")
        typer.echo(f"tenant:  {created.tenant or '(every tenant: admin)'}")
        typer.echo(f"scopes:  {', '.join(scope.value for scope in created.scopes)}")
        typer.echo("Store the key now: it is not shown again.", err=True)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per line.")
    ] = False,
) -> None:
    """List keys, newest first (never their secrets)."""

    async def run(settings: Settings) -> None:
        engine = create_engine(settings)
        codec = CursorCodec(_pepper(settings))
        cursor: str | None = None
        try:
            while True:
                async with create_sessionmaker(engine)() as session:
                    page = await auth_service.list_keys(
                        session=session, codec=codec, limit=100, cursor=cursor, tenant=tenant
                    )
                for key in page.items:
                    if as_json:
                        typer.echo(key.model_dump_json())
                    else:
                        state = "revoked" if key.revoked_at else "active"
                        typer.echo(
                            f"{key.id}  {key.prefix}  {key.tenant or '(admin)':<20} "
                            f"{','.join(key.scopes):<40} {state}"
                        )
                if page.next_cursor is None:
                    return
                cursor = page.next_cursor
        finally:
            await engine.dispose()

    with _database() as settings:
        asyncio.run(run(settings))


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key at once."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError as exc:
        raise _fail(f"not a key id: {key_id!r}") from exc

    async def run(settings: Settings) -> None:
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                await auth_service.revoke_key(session=session, key_id=parsed)
        finally:
            await engine.dispose()

    with _database() as settings:
        try:
            asyncio.run(run(settings))
        except DomainError as exc:
            raise _fail(exc.detail) from exc
    typer.echo(f"revoked {parsed}")


def _as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"--as-of: not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise _fail("--as-of: the time needs an offset, such as Z or +02:00")
    return parsed


@retention_app.command("run")
def retention_run(
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant (default: every tenant with a policy).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be removed; remove nothing.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(help="Judge age as if it were this time (ISO 8601 with an offset)."),
    ] = None,
) -> None:
    """Apply retention now: one JSON report per tenant (a tenant another process is working
    on is reported as `"skipped": true`)."""
    when = _as_of(as_of)

    async def run(settings: Settings) -> None:
        engine = create_engine(settings)
        identity = signing.log_identity(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                tenants = (
                    [tenant]
                    if tenant is not None
                    else await retention_job.tenants_with_policies(session)
                )
                for name in tenants:
                    report = await retention_job.run_tenant(
                        session, identity, name, as_of=when, dry_run=dry_run
                    )
                    if report is None:
                        typer.echo(json.dumps({"tenant": name, "skipped": True}))
                    else:
                        typer.echo(report.model_dump_json())
        finally:
            await engine.dispose()

    with _database() as settings:
        asyncio.run(run(settings))


@app.command()
def migrate() -> None:
    """Apply every database migration (`alembic upgrade head`) to DATABASE_URL."""
    settings = get_settings()
    configure_logging(settings.log_level)
    upgrade_to_head(settings.async_database_url)
    typer.echo("database schema is at head")


@log_app.command("keygen")
def log_keygen() -> None:
    """Print a new checkpoint signing key as JSON: `signing_key` (set it as LOG_SIGNING_KEY)
    and `public_key`, both base64."""
    typer.echo(signing.keygen())


@app.command("settings")
def settings_table() -> None:
    """Print every setting as a Markdown table (the README's configuration section)."""
    typer.echo(settings_reference())


async def _dev_admin_key(settings: Settings, saved: str | None) -> str:
    """The saved development admin key if it still works, else a new one."""
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        if saved:
            try:
                async with sessionmaker() as session:
                    await auth_service.authenticate(
                        session=session, pepper=_pepper(settings), secret_key=saved
                    )
                return saved
            except Unauthorized:
                pass  # revoked, or made under another pepper: mint a new one
        async with sessionmaker() as session:
            created = await auth_service.create_key(
                session=session,
                pepper=_pepper(settings),
                request=KeyCreate(scopes=[Scope.ADMIN], name="development admin"),
            )
            return created.key
    finally:
        await engine.dispose()


DEV_VIEWER_TENANT = "acme"  # the README's examples' tenant


async def _dev_viewer_token(settings: Settings, admin_key: str) -> str:
    """A fresh viewer token for the development tenant (made if it does not exist yet)."""
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            admin = await auth_service.authenticate(
                session=session, pepper=_pepper(settings), secret_key=admin_key
            )
            async with session.begin():
                await auth_service.ensure_tenant(session=session, slug=DEV_VIEWER_TENANT)
            minted = await viewer_service.mint(
                session=session,
                pepper=_pepper(settings),
                principal=admin,
                access=auth_service.resolve_tenant(admin, DEV_VIEWER_TENANT),
                request=ViewerTokenCreate(
                    tenant=DEV_VIEWER_TENANT, ttl_seconds=MAX_TTL_SECONDS, can_export=True
                ),
            )
        return minted.token
    finally:
        await engine.dispose()


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: Annotated[
        Path, typer.Option(help="Where the embedded PostgreSQL keeps its data.")
    ] = DEV_DATA_DIR,
    key_file: Annotated[
        Path, typer.Option(help="Where the development admin key is kept.")
    ] = DEV_KEY_FILE,
) -> None:
    """Run Trailmark for development: PostgreSQL (embedded unless DATABASE_URL is set),
    migrations, a development admin key, then the API on http://HOST:PORT. Ctrl-C stops it all."""
    with _database(data_dir) as settings:
        configure_logging(settings.log_level)
        saved = key_file.read_text().strip() if key_file.exists() else None
        key = asyncio.run(_dev_admin_key(settings, saved))
        if key != saved:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.touch(mode=0o600)
            key_file.write_text(key + "\n")
        origin = "saved" if key == saved else "new"
        typer.echo(f"\nDevelopment admin key ({origin}, kept in {key_file}):\n  {key}\n", err=True)
        identity = signing.log_identity(settings)
        typer.echo(
            "Transparency log public key (Ed25519): "
            f"{base64.b64encode(signing.public_key_bytes(identity.key)).decode()}\n"
            f"  e.g. tenant `acme` verifies with {identity.verifier_key('acme')}\n"
            "  (any tenant's: GET /api/v1/logs/<tenant>/key)\n",
            err=True,
        )
        token = asyncio.run(_dev_viewer_token(settings, key))
        typer.echo(
            f"Viewer of tenant `{DEV_VIEWER_TENANT}` (a read-only token, valid for a day):\n"
            f"  {viewer_service.page_url(f'http://{host}:{port}', token)}\n",
            err=True,
        )
        typer.echo(
            f"Trailmark on http://{host}:{port}  (Swagger UI: http://{host}:{port}/docs)", err=True
        )
        _run_server(settings, host=host, port=port, workers=1)


def _run_server(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """uvicorn with the app factory; SIGTERM drains first (see src/lifecycle.py)."""
    uvicorn.run(
        "src.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,  # the app writes its own JSON access log
        proxy_headers=True,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        timeout_keep_alive=settings.http_keep_alive_seconds,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (default: WORKERS, else one per CPU)."),
    ] = None,
) -> None:
    """Run the API as in production: DATABASE_URL must be set and migrated (`migrate`).

    SIGTERM drains (`/readyz` 503 for SHUTDOWN_DRAIN_SECONDS), then in-flight requests finish
    and queued writes are committed before the process exits."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if settings.database_url is None:
        raise _fail("DATABASE_URL is not set (use `python3 tasks.py start` for development)")
    count = workers or settings.workers or os.cpu_count() or 1
    _run_server(settings, host=host, port=port, workers=count)


if __name__ == "__main__":
    app()
