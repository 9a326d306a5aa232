"""Operators, roles and permissions, console sessions and API tokens."""
