SELECT
  c.contact_id
FROM contacts AS c
WHERE
  (
    c.workspace_id = 3 AND c.merged_into_id IS NULL
  )
  AND NOT (
    c.contact_id IN (
      SELECT
        contact_id
      FROM (
        SELECT
          o.workspace_id,
          o.contact_id,
          o.amount_fen,
          o.paid_at,
          o.sales_channel,
          r.refunded_fen
        FROM orders AS o
        LEFT JOIN (
          SELECT
            order_pk,
            SUM(amount_fen) AS refunded_fen
          FROM refunds
          WHERE
            workspace_id = 3
          GROUP BY
            order_pk
        ) AS r
          ON r.order_pk = o.order_pk
      ) AS orders_net
      WHERE
        workspace_id = 3
        AND paid_at BETWEEN CAST('2026-04-01 12:00:00' AS TIMESTAMP_NTZ) AND CAST('2026-06-30 12:00:00' AS TIMESTAMP_NTZ)
      GROUP BY
        contact_id
      HAVING
        NOT (
          SUM(amount_fen) - COALESCE(SUM(refunded_fen), 0) < 10000
        )
    )
  )
