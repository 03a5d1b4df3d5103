"""A bounded cache of per-request lookups of rows that rarely change, emptied whenever they change.

Why: a profile of `POST …/Messages.json` (py-spy, SQLite, API only, bench/results/http_create.txt, 2026-12-07)
spent 13% in authentication's account lookup and 14% in the From number's owner lookup, each one SELECT per
request for rows that change a few times a day. An entry answers only what the database would answer now:

- Every change of the rows behind a cache announces its topic (services/changes.py). In the process that makes
  it the cache is emptied right after the commit (`changes.write`); every other process empties it when its
  ChangeWatcher sees the version move, at most one poll (0.25 s) later.
- A lookup that started before an emptying may have read the old rows: `put` keeps its answer only if the
  cache was not emptied since the lookup began (`generation`), so no old answer outlives the change.

Least recently used entries go first past `capacity`. An OrderedDict is the stdlib's LRU; nothing here
needs a library.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LookupCache(Generic[K, V]):
    __slots__ = ("_entries", "capacity", "generation")

    def __init__(self, capacity: int) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.capacity = capacity
        self.generation = 0  # raised by every clear(): take it before a lookup, give it back to put()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, generation: int) -> None:
        """Keep `value`, read from the database after `generation` was taken, unless a clear came since."""
        if generation != self.generation:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

    def __len__(self) -> int:
        return len(self._entries)
