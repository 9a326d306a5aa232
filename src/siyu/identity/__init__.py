"""Identity resolution: typed, scoped identity keys, the rules that join them, and reversible merges."""
