"""The analytics store: a columnar copy of contacts, events and orders in DuckDB, kept current by
watermarks, where tiers, tags and segments are computed."""
