"""The data board (数据看板) and the health check (私域体检): the seeds' three-level board read through the
metrics library, with per-workspace thresholds."""
