"""Round-level reads kept in the process for a second (``clock_app.cache.LOCAL_TTL``): another process's write
is seen within that second, this process's own writes at once."""

from datetime import date

import pytest

from clock_app import cache as clock_cache
from clock_app.cache import round_totals_key
from clock_app.models import Round
from clock_app.selectors import round_view

from .factories import join

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(clock_cache.time, "monotonic", clock)
    return clock


def test_another_process_s_write_is_seen_within_a_second(monotonic):
    join(1, DAY)
    assert round_view(DAY).user_num == 1
    # Another process commits a payment: the database changes and it drops the shared (Redis) copy.
    Round.objects.filter(clock_day=DAY).update(user_num=2)
    clock_cache.clock_cache().delete(round_totals_key(DAY))
    monotonic.now += 0.5
    assert round_view(DAY).user_num == 1  # this process's copy, half a second old
    monotonic.now += 0.6
    assert round_view(DAY).user_num == 2


@pytest.mark.django_db(transaction=True)  # the copies are dropped when the payment commits
def test_this_process_s_own_payment_is_seen_at_once(monotonic):
    join(1, DAY)
    assert round_view(DAY).user_num == 1
    join(2, DAY)
    assert round_view(DAY).user_num == 2


def test_check_ins_are_counted_in_the_cache_in_batches(monotonic):
    """A check-in does not cost a cache round trip: the process sends its count at most every half second."""
    shared = clock_cache.clock_cache()
    shared.set("clock:test:count", 10, 60)
    calls = []
    real_incr = shared.incr
    shared.incr = lambda key, delta=1: calls.append(delta) or real_incr(key, delta)
    try:
        clock_cache.cache_count_soon("clock:test:count")  # the first is sent at once
        for _ in range(5):
            monotonic.now += 0.05
            clock_cache.cache_count_soon("clock:test:count")
        assert shared.get("clock:test:count") == 11
        monotonic.now += 0.5
        clock_cache.cache_count_soon("clock:test:count")
        assert shared.get("clock:test:count") == 17
        assert calls == [1, 6]
    finally:
        del shared.incr
