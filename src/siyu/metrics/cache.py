"""Metric results kept in memory, keyed by workspace, query, as-of date and the analytics store's generation.

A dashboard asks for the same figures again and again between two refreshes of the analytics store; each
write to the store gives it a new generation (:func:`siyu.lake.store.generation`), so an entry is never
served once new data has landed — in this process or after a refresh made by another one. The oldest
entries go first when the cache is full.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

SIZE = 512


class MetricCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_run(self, key: Hashable, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The cached result for ``key``, or ``compute()`` kept for next time; callers get their own copy."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return copy.deepcopy(found)
        result = compute()  # outside the lock: two first askers may both compute, neither waits on the other
        with self._lock:
            self.misses += 1
            self._entries[key] = copy.deepcopy(result)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = MetricCache()
