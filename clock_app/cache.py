"""Cache keys and helpers. The cache only ever holds copies: flushing it loses nothing, every value is
rebuilt from the database on a miss. Keys carry ``CLOCK["CACHE_PREFIX"]`` so several apps can share a Redis."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from django.core.cache import BaseCache, caches
from django.db import transaction

from .conf import clock_settings

T = TypeVar("T")


def clock_cache() -> BaseCache:
    return caches[clock_settings.cache_alias]


def key(*parts: object) -> str:
    return ":".join([clock_settings.cache_prefix, *(str(p) for p in parts)])


# Bumped whenever the shape of a cached value changes, so a deploy never reads its predecessor's pickles.
SCHEMA = "v3"


def round_totals_key(day: date) -> str:
    return key("round", SCHEMA, day.isoformat())


def clocked_in_key(day: date) -> str:
    return key("round", day.isoformat(), "clocked_in")


def cached(cache_key: str, ttl: int, build: Callable[[], T]) -> T:
    """The cached value, or ``build()`` stored for ``ttl`` seconds."""
    value: Any = clock_cache().get(cache_key)
    if value is None:
        value = build()
        clock_cache().set(cache_key, value, ttl)
    return value


def forget_on_commit(*cache_keys: str) -> None:
    """Drop ``cache_keys`` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: clock_cache().delete_many(list(cache_keys)))
