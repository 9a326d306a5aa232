"""The rule-based tiers as one query over the analytics store: RFM scores and cells, seed 000's threshold
tiers, lifecycle stages, value tiers and activity tiers, one row per live contact, with the inputs each
score came from (so it can be explained).

Like the segment compiler, :func:`scores_query` is pure: it gets the workspace, the day the scores are
"as of" and the settings, and returns a sqlglot tree rendered for DuckDB or Spark. Windows count whole
local days: "the last 30 days" are the as-of day and the 29 before it (``day > as_of_day - 30``).

RFM scores and their tie rule: among buyers (at least one order in the RFM window), each score is
``1 + floor(5 × w / n)``, where ``n`` is the number of buyers and ``w`` the number of buyers with a strictly
worse value (longer since the last order for R; fewer orders for F; less net spend for M). Buyers with
equal values therefore always share a score, whatever their ids or the order rows were read in, and the
scores are quintiles when there are no ties. A score at or above ``rfm.high_score`` (default 3) is
"high"; the cells are named from the three highs and lows (重要价值 = R, F and M high … 一般挽留 = all low).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlglot
from sqlglot import exp

from siyu.tiers.settings import TierSettings

EPOCH = date(1970, 1, 1)

# (R high, F high, M high) → cell. The classic eight: M decides 重要 / 一般; R and F say which kind.
CELLS: dict[tuple[bool, bool, bool], str] = {
    (True, True, True): "重要价值",
    (True, False, True): "重要发展",
    (False, True, True): "重要保持",
    (False, False, True): "重要挽留",
    (True, True, False): "一般价值",
    (True, False, False): "一般发展",
    (False, True, False): "一般保持",
    (False, False, False): "一般挽留",
}


def day_number(value: date | datetime) -> int:
    """Days since 1970-01-01 of a local date (the lake's ``*_day`` columns)."""
    day = value.date() if isinstance(value, datetime) else value
    return (day - EPOCH).days


def _quoted(names: tuple[str, ...]) -> str:
    return ", ".join("'" + n.replace("'", "''") + "'" for n in names)


def event_horizon_days(settings: TierSettings) -> int:
    """How many days of events the tiers read: interactions older than the longest window any tier looks
    at decide nothing (the contact is lost, churned or dormant either way)."""
    lc, a = settings.lifecycle, settings.activity
    return max(lc.churned_days, lc.dormant_days, a.lost_days, 31) + 1


RAW_TABLES = ("contacts", "events", "orders", "order_days", "relation_events", "refunds")


def scores_query(
    workspace_id: int, as_of: datetime, settings: TierSettings, tables: dict[str, str] | None = None
) -> exp.Expr:
    """``SELECT <contact_scores columns except CLV>`` for the live contacts of the workspace. ``tables``
    reads other tables in place of the store's (an incremental refresh's copies of a few contacts' rows;
    their RFM scores are then placed against the whole population by :mod:`siyu.tiers.refresh`)."""
    return sqlglot.parse_one(scores_sql(workspace_id, as_of, settings, tables), read="duckdb")


def scores_sql(workspace_id: int, as_of: datetime, settings: TierSettings, tables: dict[str, str] | None = None) -> str:
    """:func:`scores_query` as the DuckDB text it is written in (what a refresh runs: parsing it into a
    tree only to render it back costs a tenth of a second; other engines get the tree)."""
    t_ = {name: (tables or {}).get(name, name) for name in RAW_TABLES}
    ws, d = int(workspace_id), day_number(as_of)
    r, t, lc, v, a = settings.rfm, settings.threshold, settings.lifecycle, settings.value, settings.activity
    high = int(r.high_score)
    cell_cases = "\n".join(
        f"WHEN (r_score >= {high}) = {str(rh).upper()} AND (f_score >= {high}) = {str(fh).upper()} "
        f"AND (m_score >= {high}) = {str(mh).upper()} THEN '{name}'"
        for (rh, fh, mh), name in CELLS.items()
    )
    engagement = _quoted(settings.engagement_events)
    horizon = event_horizon_days(settings)
    as_of_text = as_of.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    # Only integers from validated settings, the as-of time and validated event names are interpolated.
    sql = f"""
WITH refunded AS (
    -- Refunds count from the day they were made; they are few, so they are applied to the day rows here.
    SELECT o.contact_id, o.paid_day, SUM(x.amount_fen) AS refunded_fen
    FROM {t_["refunds"]} AS x JOIN {t_["orders"]} AS o ON o.order_pk = x.order_pk AND o.workspace_id = {ws}
    WHERE x.workspace_id = {ws} AND x.refunded_day <= {d} AND o.paid_day <= {d}
    GROUP BY o.contact_id, o.paid_day
), daily AS (
    -- One row per contact and purchase day (kept by the sync, siyu.lake.derived): the orders of a day are
    -- one purchase for CLV (the CDNOW convention), and everything per contact is summed from these rows.
    SELECT p.contact_id, p.paid_day, p.orders, p.amount_fen - COALESCE(r.refunded_fen, 0) AS net_fen
    FROM {t_["order_days"]} AS p
    LEFT JOIN refunded AS r ON r.contact_id = p.contact_id AND r.paid_day = p.paid_day
    WHERE p.workspace_id = {ws} AND p.paid_day <= {d}
), buyers AS (
    SELECT contact_id,
        MAX(paid_day) AS last_order_day,
        MIN(paid_day) AS first_order_day,
        COUNT(*) AS purchase_days,
        ARG_MIN(net_fen, paid_day) AS first_day_net_fen,
        SUM(CASE WHEN paid_day > {d - r.window_days} THEN orders ELSE 0 END) AS orders_in_window,
        SUM(CASE WHEN paid_day > {d - r.window_days} THEN net_fen ELSE 0 END) AS net_fen_in_window,
        SUM(CASE WHEN paid_day > {d - 30} THEN orders ELSE 0 END) AS orders_30d,
        SUM(net_fen) AS total_net_fen,
        SUM(CASE WHEN paid_day > {d - 365} THEN net_fen ELSE 0 END) AS spend_365d_fen,
        SUM(CASE WHEN paid_day > {d - v.potential_days} THEN net_fen ELSE 0 END) AS spend_recent_fen,
        SUM(CASE WHEN paid_day > {d - 2 * v.potential_days} AND paid_day <= {d - v.potential_days}
            THEN net_fen ELSE 0 END) AS spend_before_fen
    FROM daily GROUP BY contact_id
), engaged AS (
    -- Interactions older than the longest window any tier looks at decide nothing (the contact is lost,
    -- churned or dormant either way), so only the last {horizon} days are read (the rows are in time order).
    SELECT contact_id, MAX(occurred_day) AS last_active_day
    FROM {t_["events"]}
    WHERE workspace_id = {ws} AND occurred_day <= {d} AND occurred_day > {d - horizon} AND name IN ({engagement})
    GROUP BY contact_id
), active_days AS (
    -- Distinct days with an interaction: the day pairs first, then counted (faster than COUNT DISTINCT).
    SELECT contact_id, occurred_day
    FROM {t_["events"]}
    WHERE workspace_id = {ws} AND occurred_day <= {d} AND occurred_day > {d - 30} AND name IN ({engagement})
    GROUP BY contact_id, occurred_day
), recent AS (
    SELECT contact_id,
        COUNT(*) AS active_days_30d,
        SUM(CASE WHEN occurred_day > {d - a.weekly_days} THEN 1 ELSE 0 END) AS active_days_7d
    FROM active_days GROUP BY contact_id
), relation AS (
    SELECT contact_id,
        MAX(CASE WHEN name = 'contact_deleted' THEN occurred_at END) AS deleted_at,
        MAX(CASE WHEN name = 'contact_added' THEN occurred_at END) AS added_at
    FROM {t_["relation_events"]}
    WHERE workspace_id = {ws} AND occurred_day <= {d} AND name IN ('contact_added', 'contact_deleted')
    GROUP BY contact_id
), ranked AS (
    -- Buyers are referenced once (a CTE read twice is computed twice): the scores rank those with an
    -- order in the window among themselves, in a partition of their own.
    SELECT *,
        CASE WHEN orders_in_window > 0 THEN {d} - last_order_day END AS recency_days,
        CASE WHEN orders_in_window > 0 THEN CAST(FLOOR(5 * (RANK() OVER (PARTITION BY orders_in_window > 0
            ORDER BY last_order_day ASC) - 1) / COUNT(*) OVER (PARTITION BY orders_in_window > 0)) AS INTEGER) + 1
            END AS r_score,
        CASE WHEN orders_in_window > 0 THEN CAST(FLOOR(5 * (RANK() OVER (PARTITION BY orders_in_window > 0
            ORDER BY orders_in_window ASC) - 1) / COUNT(*) OVER (PARTITION BY orders_in_window > 0)) AS INTEGER) + 1
            END AS f_score,
        CASE WHEN orders_in_window > 0 THEN CAST(FLOOR(5 * (RANK() OVER (PARTITION BY orders_in_window > 0
            ORDER BY net_fen_in_window ASC) - 1) / COUNT(*) OVER (PARTITION BY orders_in_window > 0)) AS INTEGER) + 1
            END AS m_score
    FROM buyers
), base AS (
    SELECT c.contact_id, c.created_day,
        b.last_order_day, b.first_order_day,
        COALESCE(b.orders_in_window, 0) AS orders_in_window,
        COALESCE(b.net_fen_in_window, 0) AS net_fen_in_window,
        COALESCE(b.orders_30d, 0) AS orders_30d,
        COALESCE(b.total_net_fen, 0) AS total_net_fen,
        COALESCE(b.spend_365d_fen, 0) AS spend_365d_fen,
        COALESCE(b.spend_recent_fen, 0) AS spend_recent_fen,
        COALESCE(b.spend_before_fen, 0) AS spend_before_fen,
        COALESCE(n.active_days_30d, 0) AS active_days_30d,
        COALESCE(n.active_days_7d, 0) AS active_days_7d,
        e.last_active_day,
        GREATEST(COALESCE(e.last_active_day, c.created_day), COALESCE(b.last_order_day, c.created_day), c.created_day)
            AS last_touch_day,
        COALESCE(rel.deleted_at > rel.added_at OR (rel.deleted_at IS NOT NULL AND rel.added_at IS NULL), FALSE)
            AS relation_deleted,
        b.recency_days, b.r_score, b.f_score, b.m_score,
        b.purchase_days - 1 AS clv_x,
        b.last_order_day - b.first_order_day AS clv_t_x,
        {d} - b.first_order_day AS clv_t,
        CASE WHEN b.purchase_days > 1
            THEN CAST(b.total_net_fen - b.first_day_net_fen AS DOUBLE) / (b.purchase_days - 1) END AS clv_m
    FROM {t_["contacts"]} AS c
    LEFT JOIN ranked AS b ON b.contact_id = c.contact_id
    LEFT JOIN engaged AS e ON e.contact_id = c.contact_id
    LEFT JOIN recent AS n ON n.contact_id = c.contact_id
    LEFT JOIN relation AS rel ON rel.contact_id = c.contact_id
    WHERE c.workspace_id = {ws} AND c.merged_into_id IS NULL AND c.created_day <= {d}
)
SELECT {ws} AS workspace_id, contact_id, CAST('{as_of_text}' AS TIMESTAMP) AS as_of,
    last_order_day, first_order_day, last_touch_day, last_active_day, orders_in_window, net_fen_in_window, orders_30d,
    total_net_fen, spend_365d_fen, spend_recent_fen, spend_before_fen, active_days_30d, active_days_7d,
    relation_deleted, recency_days, r_score, f_score, m_score,
    CASE WHEN r_score IS NULL THEN NULL {cell_cases} END AS rfm_cell,
    clv_x, clv_t_x, clv_t, clv_m,
    CASE
        WHEN orders_30d >= {t.vip.min_orders_30d} AND total_net_fen >= {t.vip.min_total_fen}
            AND active_days_30d >= {t.vip.min_active_days_30d} THEN 'vip'
        WHEN orders_30d >= {t.active.min_orders_30d} AND total_net_fen >= {t.active.min_total_fen}
            AND active_days_30d >= {t.active.min_active_days_30d} THEN 'active'
        ELSE 'inactive'
    END AS threshold_tier,
    CASE
        WHEN relation_deleted OR {d} - last_touch_day >= {lc.churned_days} THEN 'churned'
        WHEN {d} - created_day < {lc.new_days} THEN 'new'
        WHEN spend_365d_fen >= {lc.high_value_fen} AND {d} - last_touch_day < {lc.dormant_days} THEN 'high_value'
        WHEN {d} - last_touch_day < {lc.active_days} THEN 'active'
        WHEN {d} - last_touch_day < {lc.dormant_days} THEN 'silent'
        ELSE 'dormant'
    END AS lifecycle_stage,
    CASE
        WHEN spend_365d_fen >= {v.high_net_fen} THEN 'high_net'
        WHEN spend_recent_fen > 0 AND spend_recent_fen >= {v.potential_growth!r} * spend_before_fen THEN 'potential'
        ELSE 'low'
    END AS value_tier,
    CASE
        WHEN active_days_7d > 0 THEN 'weekly_active'
        WHEN last_active_day IS NULL OR {d} - last_active_day >= {a.lost_days} THEN 'lost'
        ELSE 'silent'
    END AS activity_tier
FROM base
"""  # noqa: S608
    return sql


SCORE_COLUMNS = (
    "workspace_id",
    "contact_id",
    "as_of",
    "last_order_day",
    "first_order_day",
    "last_touch_day",
    "last_active_day",
    "orders_in_window",
    "net_fen_in_window",
    "orders_30d",
    "total_net_fen",
    "spend_365d_fen",
    "spend_recent_fen",
    "spend_before_fen",
    "active_days_30d",
    "active_days_7d",
    "relation_deleted",
    "recency_days",
    "r_score",
    "f_score",
    "m_score",
    "rfm_cell",
    "threshold_tier",
    "lifecycle_stage",
    "value_tier",
    "activity_tier",
)
