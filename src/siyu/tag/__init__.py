"""Tags in groups: manual, bulk, imported and rule-based (auto-tags applied by the analytics refresh)."""
