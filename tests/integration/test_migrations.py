"""Migrations are what build the schema; they must go up, down and up again cleanly."""

import asyncio
import re
import uuid

from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from src.config import to_async_url
from src.devdb import create_database, drop_database
from src.migrations import alembic_config, downgrade_to_base, head_revision, upgrade_to_head


async def _snapshot(url: str) -> tuple[set[str], set[str]]:
    engine = create_async_engine(to_async_url(url))
    try:
        async with engine.connect() as connection:
            tables = set(
                (
                    await connection.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                )
                .scalars()
                .all()
            )
            revisions: set[str] = set()
            if "alembic_version" in tables:
                revisions = set(
                    (await connection.execute(text("SELECT version_num FROM alembic_version")))
                    .scalars()
                    .all()
                )
            return tables, revisions
    finally:
        await engine.dispose()


def test_upgrade_downgrade_upgrade_round_trip(database_server_url: str) -> None:
    name = f"trailmark_migrations_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(create_database(database_server_url, name))
    try:
        upgrade_to_head(url)
        tables_at_head, revisions = asyncio.run(_snapshot(url))
        assert revisions == {head_revision()}

        downgrade_to_base(url)
        tables_at_base, revisions = asyncio.run(_snapshot(url))
        assert revisions == set()
        assert tables_at_base <= {"alembic_version"}

        upgrade_to_head(url)
        tables_again, revisions = asyncio.run(_snapshot(url))
        assert revisions == {head_revision()}
        assert tables_again == tables_at_head
    finally:
        asyncio.run(drop_database(database_server_url, name))


def test_migration_files_are_date_named() -> None:
    from src.migrations import PROJECT_ROOT

    names = [path.name for path in (PROJECT_ROOT / "alembic" / "versions").glob("*.py")]
    assert names
    for file_name in names:
        date, _, slug = file_name.partition("_")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date), file_name
        assert re.fullmatch(r"[a-z0-9_]+\.py", slug), file_name


def test_models_and_migrations_agree(database_url: str) -> None:
    # `alembic check` autogenerates against the migrated database: no difference may remain.
    command.check(alembic_config(database_url))


def test_the_partitioning_migration_keeps_every_event(database_server_url: str) -> None:
    """0009 rewrites `audit_event` into partitions: each existing tenant's rows land in its
    first range, unchanged, and the table's rules hold as before."""
    name = f"trailmark_migrations_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(create_database(database_server_url, name))
    columns = (
        "tenant, seq, id, action_type, entity_type, entity_id, status, occurred_at, "
        "received_at, details, hash, prev_hash"
    )
    # acme: 900 events, one a day for the first 300, then 600 received at once in a month
    # of their own (so its months end at seq 300 and after it); globex: 40, all received now.
    rows = (
        "SELECT t, n, gen_random_uuid(), 'create', 'doc', 'doc_' || n, 'success', now(), "
        "CASE WHEN t = 'acme' AND n <= 300 THEN timestamptz '2026-01-01' + n * interval '1 day' "
        "ELSE now() END, jsonb_build_object('n', n), sha256(t::bytea || n::text::bytea), "
        "sha256(t::bytea) FROM unnest(ARRAY['acme', 'globex']) AS t, generate_series(1, 900) n "
        "WHERE t = 'acme' OR n <= 40"
    )

    async def arrange() -> None:
        engine = create_async_engine(to_async_url(url))
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text("INSERT INTO tenant (slug) VALUES ('acme'), ('globex')")
                )
                await connection.execute(text(f"INSERT INTO audit_event ({columns}) {rows}"))
        finally:
            await engine.dispose()

    async def inspect() -> tuple[list[tuple[str, int]], list[tuple[str, int, int | None]], bool]:
        engine = create_async_engine(to_async_url(url))
        try:
            async with engine.connect() as connection:
                placed = [
                    (str(table), int(count))
                    for table, count in await connection.execute(
                        text(
                            "SELECT tableoid::regclass::text, count(*) FROM audit_event "
                            "WHERE search_vector @@ 'doc'::tsquery GROUP BY 1 ORDER BY 1"
                        )
                    )
                ]
                ranges = [
                    (str(tenant), int(lower), None if upper is None else int(upper))
                    for tenant, lower, upper in await connection.execute(
                        text(
                            "SELECT tenant, lower_seq, upper_seq FROM audit_event_partition "
                            "WHERE lower_seq IS NOT NULL ORDER BY tenant, lower_seq"
                        )
                    )
                ]
                await connection.rollback()
                refused = False
                try:  # the primary key still holds, across the rewrite
                    async with connection.begin():
                        await connection.execute(
                            text(f"INSERT INTO audit_event ({columns}) {rows} LIMIT 1")
                        )
                except IntegrityError:
                    refused = True
                return placed, ranges, refused
        finally:
            await engine.dispose()

    try:
        command.upgrade(alembic_config(url), "0008_retention")
        asyncio.run(arrange())
        upgrade_to_head(url)
        placed, ranges, refused = asyncio.run(inspect())
        # acme's months, January to October 2026 (an event a day), end below seq 256 until
        # September's and October's, which end past it: one closed range, [1, 257); December
        # (the last, 600 events) stays open.
        assert ranges == [("acme", 1, 257), ("acme", 257, None), ("globex", 1, None)]
        assert sum(count for _, count in placed) == 940
        assert all(re.fullmatch(r"audit_event_[0-9a-f]{16}_(1|257)", table) for table, _ in placed)
        assert refused
        downgrade_to_base(url)
    finally:
        asyncio.run(drop_database(database_server_url, name))
