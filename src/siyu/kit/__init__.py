"""Domain-free building blocks: database sessions, column types, time, security, logging."""
