"""The metrics library: typed metric queries compiled to SQL over the analytics store."""
