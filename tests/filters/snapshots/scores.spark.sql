WITH refunded AS (
  /* Refunds count from the day they were made; they are few, so they are applied to the day rows here. */
  SELECT
    o.contact_id,
    o.paid_day,
    SUM(x.amount_fen) AS refunded_fen
  FROM refunds AS x
  JOIN orders AS o
    ON o.order_pk = x.order_pk AND o.workspace_id = 3
  WHERE
    x.workspace_id = 3 AND x.refunded_day <= 20634 AND o.paid_day <= 20634
  GROUP BY
    o.contact_id,
    o.paid_day
), daily AS (
  /* One row per contact and purchase day (kept by the sync, siyu.lake.derived): the orders of a day are */
  /* one purchase for CLV (the CDNOW convention), and everything per contact is summed from these rows. */
  SELECT
    p.contact_id,
    p.paid_day,
    p.orders,
    p.amount_fen - COALESCE(r.refunded_fen, 0) AS net_fen
  FROM order_days AS p
  LEFT JOIN refunded AS r
    ON r.contact_id = p.contact_id AND r.paid_day = p.paid_day
  WHERE
    p.workspace_id = 3 AND p.paid_day <= 20634
), buyers AS (
  SELECT
    contact_id,
    MAX(paid_day) AS last_order_day,
    MIN(paid_day) AS first_order_day,
    COUNT(*) AS purchase_days,
    MIN_BY(net_fen, paid_day) AS first_day_net_fen,
    SUM(CASE WHEN paid_day > 20269 THEN orders ELSE 0 END) AS orders_in_window,
    SUM(CASE WHEN paid_day > 20269 THEN net_fen ELSE 0 END) AS net_fen_in_window,
    SUM(CASE WHEN paid_day > 20604 THEN orders ELSE 0 END) AS orders_30d,
    SUM(net_fen) AS total_net_fen,
    SUM(CASE WHEN paid_day > 20269 THEN net_fen ELSE 0 END) AS spend_365d_fen,
    SUM(CASE WHEN paid_day > 20544 THEN net_fen ELSE 0 END) AS spend_recent_fen,
    SUM(CASE WHEN paid_day > 20454 AND paid_day <= 20544 THEN net_fen ELSE 0 END) AS spend_before_fen
  FROM daily
  GROUP BY
    contact_id
), engaged AS (
  /* Interactions older than the longest window any tier looks at decide nothing (the contact is lost, */
  /* churned or dormant either way), so only the last 181 days are read (the rows are in time order). */
  SELECT
    contact_id,
    MAX(occurred_day) AS last_active_day
  FROM events
  WHERE
    workspace_id = 3
    AND occurred_day <= 20634
    AND occurred_day > 20453
    AND name IN (
      'message_received',
      'message_opened',
      'link_clicked',
      'group_message',
      'page_view',
      'login',
      'checkin',
      'survey_answered',
      'order_paid'
    )
  GROUP BY
    contact_id
), active_days AS (
  /* Distinct days with an interaction: the day pairs first, then counted (faster than COUNT DISTINCT). */
  SELECT
    contact_id,
    occurred_day
  FROM events
  WHERE
    workspace_id = 3
    AND occurred_day <= 20634
    AND occurred_day > 20604
    AND name IN (
      'message_received',
      'message_opened',
      'link_clicked',
      'group_message',
      'page_view',
      'login',
      'checkin',
      'survey_answered',
      'order_paid'
    )
  GROUP BY
    contact_id,
    occurred_day
), recent AS (
  SELECT
    contact_id,
    COUNT(*) AS active_days_30d,
    SUM(CASE WHEN occurred_day > 20627 THEN 1 ELSE 0 END) AS active_days_7d
  FROM active_days
  GROUP BY
    contact_id
), relation AS (
  SELECT
    contact_id,
    MAX(CASE WHEN name = 'contact_deleted' THEN occurred_at END) AS deleted_at,
    MAX(CASE WHEN name = 'contact_added' THEN occurred_at END) AS added_at
  FROM relation_events
  WHERE
    workspace_id = 3
    AND occurred_day <= 20634
    AND name IN ('contact_added', 'contact_deleted')
  GROUP BY
    contact_id
), ranked AS (
  /* Buyers are referenced once (a CTE read twice is computed twice): the scores rank those with an */
  /* order in the window among themselves, in a partition of their own. */
  SELECT
    *,
    CASE WHEN orders_in_window > 0 THEN 20634 - last_order_day END AS recency_days,
    CASE
      WHEN orders_in_window > 0
      THEN CAST(FLOOR(
        5 * (
          RANK() OVER (PARTITION BY orders_in_window > 0 ORDER BY last_order_day ASC NULLS LAST) - 1
        ) / COUNT(*) OVER (PARTITION BY orders_in_window > 0)
      ) AS INT) + 1
    END AS r_score,
    CASE
      WHEN orders_in_window > 0
      THEN CAST(FLOOR(
        5 * (
          RANK() OVER (PARTITION BY orders_in_window > 0 ORDER BY orders_in_window ASC NULLS LAST) - 1
        ) / COUNT(*) OVER (PARTITION BY orders_in_window > 0)
      ) AS INT) + 1
    END AS f_score,
    CASE
      WHEN orders_in_window > 0
      THEN CAST(FLOOR(
        5 * (
          RANK() OVER (PARTITION BY orders_in_window > 0 ORDER BY net_fen_in_window ASC NULLS LAST) - 1
        ) / COUNT(*) OVER (PARTITION BY orders_in_window > 0)
      ) AS INT) + 1
    END AS m_score
  FROM buyers
), base AS (
  SELECT
    c.contact_id,
    c.created_day,
    b.last_order_day,
    b.first_order_day,
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
    GREATEST(
      COALESCE(e.last_active_day, c.created_day),
      COALESCE(b.last_order_day, c.created_day),
      c.created_day
    ) AS last_touch_day,
    COALESCE(
      rel.deleted_at > rel.added_at
      OR (
        NOT rel.deleted_at IS NULL AND rel.added_at IS NULL
      ),
      FALSE
    ) AS relation_deleted,
    b.recency_days,
    b.r_score,
    b.f_score,
    b.m_score,
    b.purchase_days - 1 AS clv_x,
    b.last_order_day - b.first_order_day AS clv_t_x,
    20634 - b.first_order_day AS clv_t,
    CASE
      WHEN b.purchase_days > 1
      THEN CAST(b.total_net_fen - b.first_day_net_fen AS DOUBLE) / (
        b.purchase_days - 1
      )
    END AS clv_m
  FROM contacts AS c
  LEFT JOIN ranked AS b
    ON b.contact_id = c.contact_id
  LEFT JOIN engaged AS e
    ON e.contact_id = c.contact_id
  LEFT JOIN recent AS n
    ON n.contact_id = c.contact_id
  LEFT JOIN relation AS rel
    ON rel.contact_id = c.contact_id
  WHERE
    c.workspace_id = 3 AND c.merged_into_id IS NULL AND c.created_day <= 20634
)
SELECT
  3 AS workspace_id,
  contact_id,
  CAST('2026-06-30 12:00:00' AS TIMESTAMP_NTZ) AS as_of,
  last_order_day,
  first_order_day,
  last_touch_day,
  last_active_day,
  orders_in_window,
  net_fen_in_window,
  orders_30d,
  total_net_fen,
  spend_365d_fen,
  spend_recent_fen,
  spend_before_fen,
  active_days_30d,
  active_days_7d,
  relation_deleted,
  recency_days,
  r_score,
  f_score,
  m_score,
  CASE
    WHEN r_score IS NULL
    THEN NULL
    WHEN (
      r_score >= 3
    ) = TRUE
    AND (
      f_score >= 3
    ) = TRUE
    AND (
      m_score >= 3
    ) = TRUE
    THEN '重要价值'
    WHEN (
      r_score >= 3
    ) = TRUE
    AND (
      f_score >= 3
    ) = FALSE
    AND (
      m_score >= 3
    ) = TRUE
    THEN '重要发展'
    WHEN (
      r_score >= 3
    ) = FALSE
    AND (
      f_score >= 3
    ) = TRUE
    AND (
      m_score >= 3
    ) = TRUE
    THEN '重要保持'
    WHEN (
      r_score >= 3
    ) = FALSE
    AND (
      f_score >= 3
    ) = FALSE
    AND (
      m_score >= 3
    ) = TRUE
    THEN '重要挽留'
    WHEN (
      r_score >= 3
    ) = TRUE
    AND (
      f_score >= 3
    ) = TRUE
    AND (
      m_score >= 3
    ) = FALSE
    THEN '一般价值'
    WHEN (
      r_score >= 3
    ) = TRUE
    AND (
      f_score >= 3
    ) = FALSE
    AND (
      m_score >= 3
    ) = FALSE
    THEN '一般发展'
    WHEN (
      r_score >= 3
    ) = FALSE
    AND (
      f_score >= 3
    ) = TRUE
    AND (
      m_score >= 3
    ) = FALSE
    THEN '一般保持'
    WHEN (
      r_score >= 3
    ) = FALSE
    AND (
      f_score >= 3
    ) = FALSE
    AND (
      m_score >= 3
    ) = FALSE
    THEN '一般挽留'
  END AS rfm_cell,
  clv_x,
  clv_t_x,
  clv_t,
  clv_m,
  CASE
    WHEN orders_30d >= 5 AND total_net_fen >= 500000 AND active_days_30d >= 20
    THEN 'vip'
    WHEN orders_30d >= 2 AND total_net_fen >= 100000 AND active_days_30d >= 4
    THEN 'active'
    ELSE 'inactive'
  END AS threshold_tier,
  CASE
    WHEN relation_deleted OR 20634 - last_touch_day >= 180
    THEN 'churned'
    WHEN 20634 - created_day < 30
    THEN 'new'
    WHEN spend_365d_fen >= 500000 AND 20634 - last_touch_day < 90
    THEN 'high_value'
    WHEN 20634 - last_touch_day < 30
    THEN 'active'
    WHEN 20634 - last_touch_day < 90
    THEN 'silent'
    ELSE 'dormant'
  END AS lifecycle_stage,
  CASE
    WHEN spend_365d_fen >= 500000
    THEN 'high_net'
    WHEN spend_recent_fen > 0 AND spend_recent_fen >= 1.5 * spend_before_fen
    THEN 'potential'
    ELSE 'low'
  END AS value_tier,
  CASE
    WHEN active_days_7d > 0
    THEN 'weekly_active'
    WHEN last_active_day IS NULL OR 20634 - last_active_day >= 90
    THEN 'lost'
    ELSE 'silent'
  END AS activity_tier
FROM base
