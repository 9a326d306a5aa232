SELECT
  c.contact_id
FROM contacts AS c
WHERE
  (
    c.workspace_id = 3 AND c.merged_into_id IS NULL
  )
  AND MONTH(c.birthday) * 100 + DAY(c.birthday) IN (630, 701, 702, 703, 704, 705, 706)
