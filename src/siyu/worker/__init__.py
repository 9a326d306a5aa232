"""Durable background jobs: enqueued in the caller's transaction, run after commit, retried with
back-off, leased so a dead worker's job is taken over, and scheduled by cron rules kept in the database."""
