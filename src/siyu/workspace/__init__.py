"""Workspaces (one brand each), their members and roles, and their API tokens."""
