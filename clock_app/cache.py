"""Cache keys and helpers. The cache only ever holds copies: flushing it loses nothing, every value is
rebuilt from the database on a miss. Keys carry ``CLOCK["CACHE_PREFIX"]`` so several apps can share a Redis.

**Redis being down stops nothing** (DESIGN §6): every access goes through the helpers here, which treat any
error of the cache backend (refused, timed out, flushed mid-call, a corrupt value) as a miss and log a warning
at a bounded rate — never an exception to the caller. A write made after a commit (dropping a round's cached
totals once a payment committed) can therefore never turn a committed payment into a 500. Keep the backend's
own socket timeouts short (the example project sets 0.25 s for django-redis) so a hanging Redis costs a request
a fraction of a second, not a worker.

**Round-level reads are also kept in the process for a second** (``cached(..., local=True)``): every request of
the 05:00 rush reads the same round's frozen window and pool, and every summary the same counts. Asking Redis
each time was a round trip per request for a value that changes a few times a minute; a one-second copy in the
worker costs a reader at most one second of staleness, and the process's own writes drop its copy at once.
For the same reason a check-in does not bump the cached check-in count itself: the process adds its check-ins
up and sends the sum at most every ``COUNT_FLUSH_EVERY`` seconds (:func:`cache_count_soon`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from django.core.cache import BaseCache, caches
from django.db import transaction

from .conf import clock_settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
LOCAL_TTL = 1.0  # seconds a round-level value is kept in the process (see the module docstring)
COUNT_FLUSH_EVERY = 0.5  # seconds between two sends of a process's counted check-ins
WARN_EVERY = 30.0  # seconds: at most one warning per this interval while the cache is failing

_warned_at = 0.0
_suppressed = 0
_warn_lock = threading.Lock()
_local: dict[str, tuple[float, Any]] = {}  # key -> (monotonic expiry, value)
_counted: dict[str, int] = {}  # key -> additions not sent to the cache yet
_counted_sent_at = 0.0
_counted_lock = threading.Lock()


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


def _failed(action: str, exc: BaseException) -> None:
    """Log a cache failure, at most once every ``WARN_EVERY`` seconds (a Redis outage at 05:00 must not write a
    line per request), saying how many were not logged."""
    global _warned_at, _suppressed
    with _warn_lock:
        now = time.monotonic()
        if now - _warned_at < WARN_EVERY:
            _suppressed += 1
            return
        suppressed, _suppressed, _warned_at = _suppressed, 0, now
    logger.warning(
        "cache %s failed (%s: %s); served from the database%s",
        action,
        type(exc).__name__,
        exc,
        f" ({suppressed} more cache errors since the last warning)" if suppressed else "",
    )


def cache_get(cache_key: str) -> Any:
    """The cached value, or None (a miss) — also when the cache fails."""
    try:
        return clock_cache().get(cache_key)
    except Exception as exc:  # any backend error is a miss
        _failed("read", exc)
        return None


def cache_set(cache_key: str, value: Any, ttl: int) -> None:
    try:
        clock_cache().set(cache_key, value, ttl)
    except Exception as exc:
        _failed("write", exc)


def cache_forget(*cache_keys: str) -> None:
    forget_local(*cache_keys)
    try:
        clock_cache().delete_many(list(cache_keys))
    except Exception as exc:  # the entries expire on their own (short TTLs): a stale copy for seconds at most
        _failed("delete", exc)


def cache_incr(cache_key: str, delta: int = 1) -> None:
    """Bump a cached counter if it is cached; a miss (or a failing cache) is rebuilt by its reader."""
    forget_local(cache_key)
    try:
        clock_cache().incr(cache_key, delta)
    except ValueError:
        pass  # not cached: nothing to bump
    except Exception as exc:
        _failed("increment", exc)


def cached(cache_key: str, ttl: int, build: Callable[[], T], *, local: bool = False) -> T:
    """The cached value, or ``build()`` stored for ``ttl`` seconds; the database answers when the cache fails.

    ``local``: also keep it in this process for ``LOCAL_TTL`` seconds, for values every request reads."""
    if local:
        expires, value = _local.get(cache_key, (0.0, None))
        if expires > time.monotonic():
            return value
    value = cache_get(cache_key)
    if value is None:
        value = build()
        cache_set(cache_key, value, ttl)
    if local:
        _local[cache_key] = (time.monotonic() + min(LOCAL_TTL, ttl), value)
    return value


def cache_count_soon(cache_key: str) -> None:
    """Add one to a cached counter, sending this process's additions at most every ``COUNT_FLUSH_EVERY``
    seconds instead of a round trip per call. The counter is a display figure with a short TTL, rebuilt from
    the database on a miss: additions a process never sends (it exits first) or sends after a reader rebuilt
    it are corrected when it expires."""
    global _counted_sent_at
    with _counted_lock:
        _counted[cache_key] = _counted.get(cache_key, 0) + 1
        now = time.monotonic()
        if now - _counted_sent_at < COUNT_FLUSH_EVERY:
            return
        pending = dict(_counted)
        _counted.clear()
        _counted_sent_at = now
    for key, delta in pending.items():
        cache_incr(key, delta)


def forget_local(*cache_keys: str) -> None:
    """Drop this process's copies of ``cache_keys`` (all of them, and the counts not sent, when none is
    named)."""
    global _counted_sent_at
    if not cache_keys:
        _local.clear()
        with _counted_lock:
            _counted.clear()
            _counted_sent_at = 0.0
    for cache_key in cache_keys:
        _local.pop(cache_key, None)


def forget_on_commit(*cache_keys: str) -> None:
    """Drop ``cache_keys`` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: cache_forget(*cache_keys))
