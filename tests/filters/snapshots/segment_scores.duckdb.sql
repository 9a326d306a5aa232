SELECT
  c.contact_id
FROM contacts AS c
WHERE
  (
    c.workspace_id = 3 AND c.merged_into_id IS NULL
  )
  AND (
    (
      (
        c.contact_id IN (
          SELECT
            contact_id
          FROM contact_scores
          WHERE
            workspace_id = 3 AND rfm_cell IN ('重要价值', '重要保持')
        )
        OR NOT (
          c.contact_id IN (
            SELECT
              contact_id
            FROM contact_scores
            WHERE
              workspace_id = 3 AND lifecycle_stage IN ('churned')
          )
        )
      )
      OR c.contact_id IN (
        SELECT
          contact_id
        FROM contact_scores
        WHERE
          workspace_id = 3 AND clv_p_alive BETWEEN 0.2 AND 0.8
      )
    )
    OR c.contact_id IN (
      SELECT
        contact_id
      FROM segment_members
      WHERE
        workspace_id = 3 AND segment_id = 11
    )
  )
