"""Partitioned events: a tenant's events in tile-aligned ranges of `seq`, each dropped whole
when the retention job prunes it, so removing a month rewrites and scans nothing else.

`audit_event` is partitioned by `LIST (tenant)`; each tenant's partition by `RANGE (seq)`.
A tenant's newest range is open (`FROM (lower) TO (MAXVALUE)`); the retention job closes it
once a month at the last tile boundary (`audit_event_close_partition`), so every closed range
ends where a minimum index may stand. The primary key `(tenant, seq)` holds every partition
column and stays a real constraint; `(tenant, id)` becomes a plain index (ids are uuid7s the
server makes, so it loses only a constraint nothing could violate), and the foreign key to
`tenant` goes: a tenant's partition, which only the trigger on `tenant` makes, is the
reference now (an event of no tenant has no partition to go to), and a foreign key cloned
onto each new partition would lock `tenant` against the inserts of new tenants, whose own
partitions then wait on one another.

The append-only guard now refuses every `DELETE`: rows leave only with their partition.
`audit_event_partition` lists every partition; event triggers (they need a superuser, which
the migration then is) refuse `DROP` of a range unless the transaction prunes
(`trailmark.prune`), the whole range is below a signed minimum index and no legal hold lists
any of its events, and refuse to leave any partition detached but the open range, and that
only in the job's close (`trailmark.partition`). The registry knows tables by oid.

Revision ID: 0009_partitioned_events
Revises: 0008_retention
Create Date: 2026-12-04 18:00:00+00:00
"""

import logging
from collections.abc import Sequence

from alembic import op

revision: str = "0009_partitioned_events"
down_revision: str | None = "0008_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The indexes of 0003, unchanged (the one that replaces its unique (tenant, id) is added
# on its own).
INDEXES = (
    "CREATE INDEX ix_audit_event_tenant_occurred "
    "ON audit_event (tenant, occurred_at DESC, id DESC)",
    "CREATE INDEX ix_audit_event_tenant_actor ON audit_event (tenant, actor_id, occurred_at, id)",
    "CREATE INDEX ix_audit_event_tenant_entity "
    "ON audit_event (tenant, entity_type, entity_id, occurred_at, id)",
    "CREATE INDEX ix_audit_event_tenant_action ON audit_event (tenant, action, occurred_at, id)",
    "CREATE INDEX ix_audit_event_tenant_action_type "
    "ON audit_event (tenant, action_type, occurred_at, id)",
    "CREATE INDEX ix_audit_event_tenant_status ON audit_event (tenant, status, occurred_at, id)",
    "CREATE INDEX ix_audit_event_tenant_details "
    "ON audit_event USING gin (tenant, details jsonb_path_ops)",
    "CREATE INDEX ix_audit_event_tenant_search ON audit_event USING gin (tenant, search_vector)",
)
INDEX_NAMES = tuple(statement.split()[2] for statement in INDEXES)

TRIGGERS = (
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_guard()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard()",
)

# 0008's guard with its DELETE branch refusing everything: rows now leave only with their
# partition (spelled out, not shared: a migration must not change when another does).
GUARD = r"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit events are append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.tenant, NEW.seq, NEW.id, NEW.action_type, NEW.action, NEW.entity_type,
        NEW.entity_id, NEW.actor_id, NEW.actor_type, NEW.occurred_at, NEW.received_at,
        NEW.request_id, NEW.hash, NEW.prev_hash)
       IS DISTINCT FROM
       (OLD.tenant, OLD.seq, OLD.id, OLD.action_type, OLD.action, OLD.entity_type,
        OLD.entity_id, OLD.actor_id, OLD.actor_type, OLD.occurred_at, OLD.received_at,
        OLD.request_id, OLD.hash, OLD.prev_hash) THEN
        RAISE EXCEPTION 'audit events are immutable' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.status, NEW.status_changed_at) IS DISTINCT FROM (OLD.status, OLD.status_changed_at)
       AND NOT (OLD.status = 'pending' AND OLD.status_changed_at IS NULL
                AND NEW.status IN ('success', 'failure') AND NEW.status_changed_at IS NOT NULL) THEN
        RAISE EXCEPTION 'only a pending event may change status, once'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.actor_name, NEW.ip_address, NEW.user_agent, NEW.details, NEW.field_salt,
        NEW.erased_at, NEW.erased_hashes)
       IS DISTINCT FROM
       (OLD.actor_name, OLD.ip_address, OLD.user_agent, OLD.details, OLD.field_salt,
        OLD.erased_at, OLD.erased_hashes)
       AND NOT (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL
                AND NEW.erased_hashes IS NOT NULL AND NEW.field_salt IS NULL
                AND NEW.actor_name IS NULL AND NEW.ip_address IS NULL
                AND NEW.user_agent IS NULL AND NEW.details IS NULL) THEN
        RAISE EXCEPTION 'the payload may only be erased, once'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
"""

# 0008's guard, for the downgrade (rows deleted below a signed anchor, as then).
GUARD_0008 = GUARD.replace(
    """    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit events are append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
""",
    """    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit events are append-only: TRUNCATE is not allowed'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF current_setting('trailmark.prune', true) IS DISTINCT FROM 'on' THEN
            RAISE EXCEPTION 'audit events are append-only: DELETE is not allowed'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF OLD.seq > coalesce((SELECT max(min_index) FROM log_prune_anchor
                               WHERE tenant = OLD.tenant), 0) THEN
            RAISE EXCEPTION 'event % of % is at or above the signed minimum index', OLD.seq,
                OLD.tenant USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF EXISTS (SELECT 1 FROM legal_hold_event
                   WHERE tenant = OLD.tenant AND seq = OLD.seq) THEN
            RAISE EXCEPTION 'event % of % is under a legal hold', OLD.seq, OLD.tenant
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
""",
)

# The registry of partitions: a tenant's own (`lower_seq` NULL) and its ranges of seq
# (`upper_seq` NULL while open). The drop guard reads it: at `sql_drop` the catalog no
# longer knows what a dropped table held. Tables are known by oid, which no rename or move
# changes. A row may only gain its upper bound (in the close: `trailmark.partition`) and
# then its drop time (once its table is gone, which only the drop guard sees), once each.
REGISTRY = r"""
CREATE TABLE audit_event_partition (
    name text PRIMARY KEY,
    relid oid NOT NULL CONSTRAINT uq_audit_event_partition_relid UNIQUE,
    tenant text NOT NULL,
    lower_seq bigint,
    upper_seq bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz,
    dropped_at timestamptz,
    CONSTRAINT ck_audit_event_partition_tile_bounds CHECK (
        (lower_seq IS NULL AND upper_seq IS NULL)
        OR (lower_seq % 256 = 1 AND (upper_seq IS NULL OR
            (upper_seq % 256 = 1 AND upper_seq > lower_seq)))),
    CONSTRAINT ck_audit_event_partition_dropped_closed CHECK (
        dropped_at IS NULL OR upper_seq IS NOT NULL)
);
-- ;;
CREATE INDEX ix_audit_event_partition_tenant ON audit_event_partition (tenant, lower_seq);
-- ;;
CREATE FUNCTION audit_event_partition_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP <> 'UPDATE'
       OR (NEW.name, NEW.relid, NEW.tenant, NEW.lower_seq, NEW.created_at)
          IS DISTINCT FROM (OLD.name, OLD.relid, OLD.tenant, OLD.lower_seq, OLD.created_at)
       OR (NEW.upper_seq, NEW.closed_at) IS DISTINCT FROM (OLD.upper_seq, OLD.closed_at)
          AND (OLD.upper_seq IS NOT NULL
               OR current_setting('trailmark.partition', true) IS DISTINCT FROM 'on')
       OR NEW.dropped_at IS DISTINCT FROM OLD.dropped_at
          AND (OLD.dropped_at IS NOT NULL
               OR EXISTS (SELECT 1 FROM pg_class WHERE oid = OLD.relid)) THEN
        RAISE EXCEPTION 'the partition registry only records closes and drops, once each'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
-- ;;
CREATE TRIGGER audit_event_partition_append_only BEFORE UPDATE OR DELETE
    ON audit_event_partition FOR EACH ROW EXECUTE FUNCTION audit_event_partition_guard();
-- ;;
CREATE TRIGGER audit_event_partition_no_truncate BEFORE TRUNCATE
    ON audit_event_partition FOR EACH STATEMENT EXECUTE FUNCTION audit_event_partition_guard();
-- ;;
"""

# Names: md5 of the slug (any text, up to PostgreSQL's 63-byte names), then the range's
# first seq.
FUNCTIONS = r"""
CREATE FUNCTION audit_event_tenant_table(tenant text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'audit_event_' || left(md5(tenant), 16) $$;
-- ;;

CREATE FUNCTION audit_event_columns() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
    WHERE attrelid = 'audit_event'::regclass AND attnum > 0 AND NOT attisdropped
      AND attgenerated = ''
$$;
-- ;;

-- A new open range `[lower, MAXVALUE)` of the tenant, guarded against TRUNCATE (statement
-- triggers are not cloned to partitions; row triggers are).
CREATE FUNCTION audit_event_add_range(p_tenant text, p_lower bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    parent text := audit_event_tenant_table(p_tenant);
    leaf text := parent || '_' || p_lower;
BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%s) TO (MAXVALUE)',
                   leaf, parent, p_lower);
    EXECUTE format('CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard()', leaf);
    INSERT INTO audit_event_partition (name, relid, tenant, lower_seq)
    VALUES (leaf, to_regclass(quote_ident(leaf)), p_tenant, p_lower);
    RETURN leaf;
END;
$$;
-- ;;

-- The tenant's partition and its first open range. Built apart and then attached, which
-- takes only a SHARE UPDATE EXCLUSIVE lock on `audit_event`: other tenants' readers and
-- writers do not wait (another new tenant's attach does, until this transaction ends).
CREATE FUNCTION audit_event_add_tenant(p_tenant text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    parent text := audit_event_tenant_table(p_tenant);
BEGIN
    IF to_regclass(quote_ident(parent)) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE audit_event INCLUDING DEFAULTS INCLUDING GENERATED '
                   'INCLUDING CONSTRAINTS) PARTITION BY RANGE (seq)', parent);
    EXECUTE format('ALTER TABLE audit_event ATTACH PARTITION %I FOR VALUES IN (%L)',
                   parent, p_tenant);
    EXECUTE format('CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard()', parent);
    INSERT INTO audit_event_partition (name, relid, tenant)
    VALUES (parent, to_regclass(quote_ident(parent)), p_tenant);
    PERFORM audit_event_add_range(p_tenant, 1);
END;
$$;
-- ;;

CREATE FUNCTION tenant_add_partition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM audit_event_add_tenant(NEW.slug);
    RETURN NULL;
END;
$$;
-- ;;

-- Close the tenant's open range at the last tile boundary of what it holds: the range
-- becomes `[lower, bound)`, a new open one starts at `bound`, and the at most 255 events at
-- or above `bound` move to it. NULL when fewer than 256 events would close. The tenant's
-- writers wait for the ACCESS EXCLUSIVE lock this takes; the one scan is of the closing
-- range itself (its bounds, checked once so that attaching it scans nothing).
CREATE FUNCTION audit_event_close_partition(p_tenant text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    open_range audit_event_partition;
    head bigint;
BEGIN
    SELECT * INTO STRICT open_range FROM audit_event_partition
    WHERE tenant = p_tenant AND lower_seq IS NOT NULL AND upper_seq IS NULL;
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', audit_event_tenant_table(p_tenant));
    EXECUTE format('SELECT max(seq) FROM %I', open_range.name) INTO head;
    RETURN audit_event_close_partition_at(p_tenant, head / 256 * 256 + 1);
END;
$$;
-- ;;

-- The same close at a given tile boundary (`bound` = a multiple of 256, plus 1); NULL when it
-- is not above the open range's start. The migration splits existing events with it.
CREATE FUNCTION audit_event_close_partition_at(p_tenant text, bound bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    parent text := audit_event_tenant_table(p_tenant);
    open_range audit_event_partition;
    opened text;
    columns text := audit_event_columns();
BEGIN
    SELECT * INTO STRICT open_range FROM audit_event_partition
    WHERE tenant = p_tenant AND lower_seq IS NOT NULL AND upper_seq IS NULL;
    IF bound IS NULL OR bound <= open_range.lower_seq THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('trailmark.partition', 'on', true);
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', parent, open_range.name);
    opened := audit_event_add_range(p_tenant, bound);
    -- Detached, the range has no row triggers: these rows move, they are not removed.
    EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM %I WHERE seq >= %s',
                   opened, columns, columns, open_range.name, bound);
    EXECUTE format('DELETE FROM %I WHERE seq >= %s', open_range.name, bound);
    -- The whole partition constraint, the tenant's included: what ATTACH would scan for.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (tenant = %L AND seq >= %s '
                   'AND seq < %s)', open_range.name, open_range.name || '_bounds', p_tenant,
                   open_range.lower_seq, bound);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
                   parent, open_range.name, open_range.lower_seq, bound);
    UPDATE audit_event_partition SET upper_seq = bound, closed_at = now()
    WHERE name = open_range.name;
    PERFORM set_config('trailmark.partition', 'off', true);
    RETURN bound;
END;
$$;
-- ;;
"""

# Existing events arrive in monthly ranges, as the job would have closed them: each tenant's
# (still empty) open range is closed at the last tile boundary of every month but its last
# (by `received_at`, UTC), before the events are copied in.
SPLIT_BY_MONTH = r"""
DO $$
DECLARE
    slug text;
    bound bigint;
BEGIN
    FOR slug IN SELECT tenant FROM audit_event_unpartitioned GROUP BY tenant ORDER BY tenant
    LOOP
        FOR bound IN
            SELECT DISTINCT max(seq) / 256 * 256 + 1 AS bound FROM audit_event_unpartitioned
            WHERE tenant = slug
            GROUP BY date_trunc('month', received_at AT TIME ZONE 'UTC')
            HAVING date_trunc('month', received_at AT TIME ZONE 'UTC') < (
                SELECT date_trunc('month', max(received_at) AT TIME ZONE 'UTC')
                FROM audit_event_unpartitioned WHERE tenant = slug)
            ORDER BY bound
        LOOP
            PERFORM audit_event_close_partition_at(slug, bound);
        END LOOP;
    END LOOP;
END $$
"""

# Event triggers: only a superuser may create them; they see DDL no row trigger sees.
EVENT_TRIGGERS = r"""
CREATE FUNCTION audit_event_drop_guard() RETURNS event_trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    dropped audit_event_partition;
BEGIN
    FOR dropped IN
        SELECT p.* FROM pg_event_trigger_dropped_objects() AS d
        JOIN audit_event_partition AS p ON p.relid = d.objid
        WHERE d.object_type = 'table' AND p.dropped_at IS NULL
    LOOP
        IF current_setting('trailmark.prune', true) IS DISTINCT FROM 'on' THEN
            RAISE EXCEPTION 'audit events are append-only: % may only be pruned', dropped.name
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF dropped.upper_seq IS NULL OR dropped.upper_seq - 1 > coalesce(
               (SELECT max(min_index) FROM log_prune_anchor WHERE tenant = dropped.tenant), 0)
        THEN
            RAISE EXCEPTION 'partition % of % is not wholly below the signed minimum index',
                dropped.name, dropped.tenant USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF EXISTS (SELECT 1 FROM legal_hold_event WHERE tenant = dropped.tenant
                   AND seq >= dropped.lower_seq AND seq < dropped.upper_seq) THEN
            RAISE EXCEPTION 'partition % of % holds events under a legal hold',
                dropped.name, dropped.tenant USING ERRCODE = 'insufficient_privilege';
        END IF;
        UPDATE audit_event_partition SET dropped_at = now() WHERE relid = dropped.relid;
    END LOOP;
END;
$$;
-- ;;
CREATE EVENT TRIGGER audit_event_drop_guard ON sql_drop
    EXECUTE FUNCTION audit_event_drop_guard();
-- ;;

-- A detached range loses its cloned row guard: only the close may leave one detached, and
-- only the open range (it moves the rows above the new bound, then attaches it again).
CREATE FUNCTION audit_event_detach_guard() RETURNS event_trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM audit_event_partition AS p JOIN pg_class AS c ON c.oid = p.relid
        WHERE p.dropped_at IS NULL AND NOT c.relispartition
          AND (p.lower_seq IS NULL OR p.upper_seq IS NOT NULL
               OR current_setting('trailmark.partition', true) IS DISTINCT FROM 'on'))
    THEN
        RAISE EXCEPTION 'audit events are append-only: a partition may not be detached'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END;
$$;
-- ;;
CREATE EVENT TRIGGER audit_event_detach_guard ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION audit_event_detach_guard();
-- ;;
"""

IS_SUPERUSER = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"


def _execute_each(script: str) -> None:
    """Run a script's statements one by one (asyncpg prepares one statement at a time)."""
    for statement in script.split("\n-- ;;\n"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    op.execute("ALTER TABLE audit_event RENAME TO audit_event_unpartitioned")
    op.execute("DROP TRIGGER audit_event_no_truncate ON audit_event_unpartitioned")
    op.execute("DROP TRIGGER audit_event_append_only ON audit_event_unpartitioned")
    op.execute(
        "ALTER TABLE audit_event_unpartitioned DROP CONSTRAINT pk_audit_event, "
        "DROP CONSTRAINT uq_audit_event_tenant_id"
    )
    for name in INDEX_NAMES:
        op.execute(f"DROP INDEX {name}")
    op.execute(
        "CREATE TABLE audit_event (LIKE audit_event_unpartitioned INCLUDING DEFAULTS "
        "INCLUDING GENERATED INCLUDING CONSTRAINTS) PARTITION BY LIST (tenant)"
    )
    op.execute(GUARD)
    _execute_each(REGISTRY)
    _execute_each(FUNCTIONS)
    op.execute("SELECT audit_event_add_tenant(slug) FROM tenant ORDER BY slug")
    op.execute(SPLIT_BY_MONTH)
    op.execute(
        "DO $$ BEGIN EXECUTE format('INSERT INTO audit_event (%s) SELECT %s "
        "FROM audit_event_unpartitioned', audit_event_columns(), audit_event_columns()); END $$"
    )
    op.execute("DROP TABLE audit_event_unpartitioned")
    op.execute("ALTER TABLE audit_event ADD CONSTRAINT pk_audit_event PRIMARY KEY (tenant, seq)")
    op.execute("CREATE INDEX ix_audit_event_tenant_id ON audit_event (tenant, id)")
    for statement in INDEXES + TRIGGERS:
        op.execute(statement)
    op.execute(
        "CREATE TRIGGER tenant_add_partition AFTER INSERT ON tenant "
        "FOR EACH ROW EXECUTE FUNCTION tenant_add_partition()"
    )
    if op.get_bind().exec_driver_sql(IS_SUPERUSER).scalar():
        _execute_each(EVENT_TRIGGERS)
    else:
        logging.getLogger("alembic.runtime.migration").warning(
            "not a superuser: the guards against dropping or detaching event partitions "
            "(event triggers) are not installed; the row guards are"
        )


def downgrade() -> None:
    op.execute("DROP EVENT TRIGGER IF EXISTS audit_event_detach_guard")
    op.execute("DROP EVENT TRIGGER IF EXISTS audit_event_drop_guard")
    op.execute("DROP FUNCTION IF EXISTS audit_event_detach_guard()")
    op.execute("DROP FUNCTION IF EXISTS audit_event_drop_guard()")
    op.execute("DROP TRIGGER tenant_add_partition ON tenant")
    op.execute(
        "CREATE TABLE audit_event_unpartitioned (LIKE audit_event INCLUDING DEFAULTS "
        "INCLUDING GENERATED INCLUDING CONSTRAINTS)"
    )
    op.execute(
        "DO $$ BEGIN EXECUTE format('INSERT INTO audit_event_unpartitioned (%s) SELECT %s "
        "FROM audit_event', audit_event_columns(), audit_event_columns()); END $$"
    )
    op.execute("DROP TABLE audit_event")
    op.execute("ALTER TABLE audit_event_unpartitioned RENAME TO audit_event")
    for name in (
        "audit_event_close_partition(text)",
        "audit_event_close_partition_at(text, bigint)",
        "tenant_add_partition()",
        "audit_event_add_tenant(text)",
        "audit_event_add_range(text, bigint)",
        "audit_event_columns()",
        "audit_event_tenant_table(text)",
    ):
        op.execute(f"DROP FUNCTION {name}")
    op.execute("DROP TABLE audit_event_partition")
    op.execute("DROP FUNCTION audit_event_partition_guard()")
    op.execute(
        "ALTER TABLE audit_event ADD CONSTRAINT pk_audit_event PRIMARY KEY (tenant, seq), "
        "ADD CONSTRAINT uq_audit_event_tenant_id UNIQUE (tenant, id), "
        "ADD CONSTRAINT fk_audit_event_tenant_tenant FOREIGN KEY (tenant) "
        "REFERENCES tenant (slug)"
    )
    op.execute(GUARD_0008)
    for statement in INDEXES + TRIGGERS:
        op.execute(statement)
