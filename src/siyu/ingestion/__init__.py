"""The inbound edge of the user pool: batches of events, contact upserts and orders, from the HTTP API
and from file imports, validated record by record, idempotent, resolved to contacts."""
