"""Segments (用户分层): filter trees compiled to SQL over the analytics store, materialized membership."""
