"""The test database: emptied between tests."""

from src.devdb import connect

_tables: dict[str, list[str]] = {}  # database URL -> its application tables

# A tenant's event partitions outlive its row (tenants are deleted below, partitions are
# tables): one left with only its first open range is as a new tenant's, and is kept (and
# so is its registry row); one whose ranges were closed or dropped is dropped with its rows
# in the registry, and made afresh when the tenant is. Event triggers, like row triggers,
# do not fire in `replica` mode.
_RESET_PARTITIONS = """
DO $$
DECLARE
    used text;
BEGIN
    FOR used IN
        SELECT DISTINCT tenant FROM audit_event_partition
        WHERE lower_seq > 1 OR upper_seq IS NOT NULL OR dropped_at IS NOT NULL
    LOOP
        EXECUTE format('DROP TABLE %I', audit_event_tenant_table(used));
        DELETE FROM audit_event_partition WHERE tenant = used;
    END LOOP;
END $$;
"""


async def truncate_all(url: str) -> None:
    """Empty every application table (the schema and `alembic_version` stay).

    DELETE rather than TRUNCATE: on tables of a few rows it is several times cheaper (TRUNCATE
    gives each table new files), and one connection, one round trip, does it all. As a
    superuser in `replica` mode, neither the append-only guard nor foreign keys fire, so the
    order of the tables does not matter. `audit_event` is emptied through its root, which
    reaches every partition.
    """
    connection = await connect(url)
    try:
        if url not in _tables:
            _tables[url] = [
                row[0]
                for row in await connection.fetch(
                    "SELECT quote_ident(relname) FROM pg_class "
                    "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') "
                    "AND NOT relispartition "
                    "AND relname NOT IN ('alembic_version', 'audit_event_partition')"
                )
            ]
        statements = "".join(f"DELETE FROM {table};" for table in _tables[url])
        await connection.execute(
            "BEGIN; SET LOCAL session_replication_role = replica; "
            f"{_RESET_PARTITIONS} {statements} COMMIT;"
        )
    finally:
        await connection.close()
