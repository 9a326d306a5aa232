"""Built-in tiers: RFM, threshold tiers, lifecycle, value and activity tiers, CLV."""
