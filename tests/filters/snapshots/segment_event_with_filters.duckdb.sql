SELECT
  c.contact_id
FROM contacts AS c
WHERE
  (
    c.workspace_id = 3 AND c.merged_into_id IS NULL
  )
  AND c.contact_id IN (
    SELECT
      contact_id
    FROM events
    WHERE
      (
        (
          (
            workspace_id = 3 AND name = 'link_clicked'
          )
          AND occurred_at BETWEEN CAST('2026-05-31 12:00:00' AS TIMESTAMP) AND CAST('2026-06-30 12:00:00' AS TIMESTAMP)
        )
        AND STARTS_WITH(properties ->> '$.page', '/item/')
      )
      AND TRY_CAST(properties ->> '$.price' AS DOUBLE) >= 99.5
    GROUP BY
      contact_id
    HAVING
      COUNT(*) >= 2 AND COUNT(*) <= 10
  )
