"""LookupCache: bounded LRU, and an answer read before an emptying is never kept (services/lookup_cache.py)."""

from __future__ import annotations

from mycpaas.services.lookup_cache import LookupCache


def test_least_recently_used_entries_go_first_past_the_capacity() -> None:
    cache: LookupCache[str, int] = LookupCache(2)
    cache.put("a", 1, cache.generation)
    cache.put("b", 2, cache.generation)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3, cache.generation)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_an_answer_read_before_an_emptying_is_not_kept() -> None:
    cache: LookupCache[str, str] = LookupCache(10)
    started = cache.generation  # a lookup begins, reads the old row...
    cache.clear()  # ...a change commits meanwhile and empties the cache...
    cache.put("token", "old principal", started)  # ...the lookup's answer must not outlive the change
    assert cache.get("token") is None
    cache.put("token", "new principal", cache.generation)
    assert cache.get("token") == "new principal"
    cache.clear()
    assert cache.get("token") is None and len(cache) == 0
