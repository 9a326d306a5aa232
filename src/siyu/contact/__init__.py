"""The user pool's read side and upkeep: contact search and profiles, timelines, manual merges, and the
reference data contacts point to (property catalogue, 渠道活码 channel codes, staff)."""
