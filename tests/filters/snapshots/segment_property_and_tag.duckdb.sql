SELECT
  c.contact_id
FROM contacts AS c
WHERE
  (
    c.workspace_id = 3 AND c.merged_into_id IS NULL
  )
  AND (
    NOT (
      c.contact_id IN (
        SELECT
          contact_id
        FROM contact_properties
        WHERE
          (
            workspace_id = 3 AND key = 'skin_type'
          ) AND text_value = '油皮'
      )
    )
    AND NOT (
      c.contact_id IN (
        SELECT
          contact_id
        FROM contact_tags
        WHERE
          workspace_id = 3 AND tag_id = 7
      )
    )
  )
