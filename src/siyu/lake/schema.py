"""Tables of the analytics store. Every row carries ``workspace_id``; every time is the workspace's local
wall-clock time (what operators mean by "today" and "the last 30 days"), without a zone, and each time
column has a ``*_day`` twin: the local date as a day number (days since 1970-01-01), so that recency,
windows, weeks and cohorts are integer arithmetic that every engine computes the same way.

Raw copies (kept current by :mod:`siyu.lake.sync`): ``contacts`` (live and merged; no names, phone
numbers or e-mail addresses: analytics needs none), ``contact_properties`` (custom properties, one row
per value, typed, so filters compare plain columns on every engine), ``contact_tags``, ``events``,
``orders`` and ``refunds``. Derived by the sync (:mod:`siyu.lake.derived`): ``order_days``,
``relation_events``. Computed (by refreshes): ``contact_scores``, ``lifecycle_history``,
``segment_members``, ``segment_changes``.
"""

from __future__ import annotations

import duckdb

from siyu.errors import SiyuError

# Bump when a table changes: the store is derived data, so an older store is dropped and copied again.
SCHEMA_VERSION = 5

_EVENT_COLUMNS = """
        workspace_id BIGINT NOT NULL,
        event_pk BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        name VARCHAR NOT NULL,
        occurred_at TIMESTAMP NOT NULL,
        occurred_day INTEGER NOT NULL,
        source VARCHAR,
        properties VARCHAR"""

TABLES: dict[str, str] = {
    "sync_state": """
        workspace_id BIGINT NOT NULL,
        source VARCHAR NOT NULL,
        last_id BIGINT,          -- highest id copied
        safe_id BIGINT,          -- every id at or below is known to be copied (PostgreSQL commits out of order)
        last_time TIMESTAMP,     -- UTC watermark of updated rows
        timezone VARCHAR,        -- the workspace's time zone when its local times were computed
        synced_at TIMESTAMP,
        PRIMARY KEY (workspace_id, source)""",
    "contacts": """
        workspace_id BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        merged_into_id BIGINT,
        created_at TIMESTAMP NOT NULL,
        created_day INTEGER NOT NULL,
        gender VARCHAR,
        birthday DATE,
        region VARCHAR,
        first_source VARCHAR,
        first_channel_code VARCHAR,
        owner_staff_id BIGINT,
        properties VARCHAR""",
    "contact_properties": """
        workspace_id BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        key VARCHAR NOT NULL,
        text_value VARCHAR,
        number_value DOUBLE,
        bool_value BOOLEAN,
        date_value DATE""",
    "contact_tags": """
        workspace_id BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        tag_id BIGINT NOT NULL,
        source VARCHAR NOT NULL""",
    "events": _EVENT_COLUMNS,
    "orders": """
        workspace_id BIGINT NOT NULL,
        order_pk BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        amount_fen BIGINT NOT NULL,
        paid_at TIMESTAMP NOT NULL,
        paid_day INTEGER NOT NULL,
        sales_channel VARCHAR NOT NULL,
        items VARCHAR""",
    "refunds": """
        workspace_id BIGINT NOT NULL,
        refund_pk BIGINT NOT NULL,
        order_pk BIGINT NOT NULL,
        amount_fen BIGINT NOT NULL,
        refunded_at TIMESTAMP NOT NULL,
        refunded_day INTEGER NOT NULL""",
    # Derived from orders by the sync (siyu.lake.derived): one row per contact and purchase day.
    "order_days": """
        workspace_id BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        paid_day INTEGER NOT NULL,
        orders INTEGER NOT NULL,
        amount_fen BIGINT NOT NULL""",
    # Derived from events by the sync (siyu.lake.derived): the relation events, with the columns of events.
    "relation_events": _EVENT_COLUMNS,
    # Derived from events by the sync (siyu.lake.derived): one row per message sent, with the first open,
    # click (of the same content) and answer (any message from the contact) at or after it.
    "message_sends": """
        workspace_id BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        event_pk BIGINT NOT NULL,
        sent_at TIMESTAMP NOT NULL,
        sent_day INTEGER NOT NULL,
        content_id VARCHAR,
        content_type VARCHAR,
        channel VARCHAR,
        opened_at TIMESTAMP,
        clicked_at TIMESTAMP,
        answered_at TIMESTAMP""",
    # Derived from events by the sync (siyu.lake.derived): customer-group joins and leaves, the group read
    # out of the properties (the board's group members, without scanning every event).
    "group_moves": """
        workspace_id BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        event_pk BIGINT NOT NULL,
        name VARCHAR NOT NULL,
        group_id VARCHAR,
        group_name VARCHAR,
        moved_at TIMESTAMP NOT NULL,
        moved_day INTEGER NOT NULL""",
    "contact_scores": """
        workspace_id BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        as_of TIMESTAMP NOT NULL,
        -- inputs, kept so that every score can be explained
        last_order_day INTEGER,
        first_order_day INTEGER,
        last_touch_day INTEGER,
        last_active_day INTEGER,
        orders_in_window INTEGER,
        net_fen_in_window BIGINT,
        orders_30d INTEGER,
        total_net_fen BIGINT,
        spend_365d_fen BIGINT,
        spend_recent_fen BIGINT,
        spend_before_fen BIGINT,
        active_days_30d INTEGER,
        active_days_7d INTEGER,
        relation_deleted BOOLEAN,
        -- outputs
        recency_days INTEGER,
        r_score INTEGER,
        f_score INTEGER,
        m_score INTEGER,
        rfm_cell VARCHAR,
        threshold_tier VARCHAR NOT NULL,
        lifecycle_stage VARCHAR NOT NULL,
        value_tier VARCHAR NOT NULL,
        activity_tier VARCHAR NOT NULL,
        clv_purchases DOUBLE,
        clv_p_alive DOUBLE,
        clv_value_fen DOUBLE""",
    "lifecycle_history": """
        workspace_id BIGINT NOT NULL,
        contact_id BIGINT NOT NULL,
        from_stage VARCHAR,
        to_stage VARCHAR NOT NULL,
        changed_at TIMESTAMP NOT NULL""",
    "segment_members": """
        workspace_id BIGINT NOT NULL,
        segment_id BIGINT NOT NULL,
        refresh_no INTEGER NOT NULL,
        contact_id BIGINT NOT NULL""",
    # Which membership version the lake holds for each segment (the operational store's segment.refresh_no
    # is the truth; a refresh killed between the two is recovered from it).
    "segment_state": """
        workspace_id BIGINT NOT NULL,
        segment_id BIGINT NOT NULL,
        refresh_no INTEGER NOT NULL,
        next_no INTEGER,
        PRIMARY KEY (workspace_id, segment_id)""",
    # Parameters of fitted models (CLV), reused by incremental refreshes between two full ones.
    "model_params": """
        workspace_id BIGINT NOT NULL,
        model VARCHAR NOT NULL,
        params VARCHAR NOT NULL,
        fitted_at TIMESTAMP NOT NULL,
        PRIMARY KEY (workspace_id, model)""",
    # A refresh writes the changes of a segment's membership here first (who enters, who leaves); they are
    # applied to segment_members once the operational store has them.
    "segment_changes": """
        workspace_id BIGINT NOT NULL,
        segment_id BIGINT NOT NULL,
        refresh_no INTEGER NOT NULL,
        contact_id BIGINT NOT NULL,
        entered BOOLEAN NOT NULL""",
}


class LakeOutdated(SiyuError):
    status = 503
    code = "analytics_outdated"
    title = "The analytics store needs a refresh"


def _version(connection: duckdb.DuckDBPyConnection) -> int | None:
    found = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'lake_meta'"
    ).fetchall()
    if not found[0][0]:
        return None
    rows = connection.execute("SELECT value FROM lake_meta WHERE key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else None


def ensure(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, or drop and recreate them when the store is older than this code."""
    version = _version(connection)
    if version == SCHEMA_VERSION:
        return
    connection.execute("BEGIN")
    try:
        for name in ("lake_meta", *TABLES):
            connection.execute(f"DROP TABLE IF EXISTS {name}")
        connection.execute("CREATE TABLE lake_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        for name, columns in TABLES.items():
            connection.execute(f"CREATE TABLE {name} ({columns})")
        connection.execute("INSERT INTO lake_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def check(connection: duckdb.DuckDBPyConnection) -> None:
    """A read-only opener cannot upgrade the store: say so instead of failing on a missing column."""
    if _version(connection) != SCHEMA_VERSION:
        raise LakeOutdated("the analytics store was made by another version of siyu; run a refresh first")
