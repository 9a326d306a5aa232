"""The filter language shared by segments, auto-tag rules and journey conditions: a JSON tree
(:mod:`siyu.filters.definition`) and its compiler to SQL over the analytics store
(:mod:`siyu.filters.compiler`)."""
