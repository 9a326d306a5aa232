"""File import and export of the user pool: CSV, JSONL and XLSX, restart-safe imports with error
reports, and exports with personal data masked unless the operator may see it."""
