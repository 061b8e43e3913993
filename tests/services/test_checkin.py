import threading
import time
from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from clock_app.exceptions import AlreadyClockedIn, NotParticipant, OutsideWindow
from clock_app.models import ClockStatus, Participation, Player, Round
from clock_app.services.checkin import clock_in

from ..conftest import local
from ..factories import join

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
NEXT = "2026-11-27"


def clock_at(uid, day_text, clock):
    with time_machine.travel(local(day_text, clock), tick=False):
        return clock_in(uid=uid)


@pytest.mark.parametrize(
    ("clock", "ok"), [("04:59:59", False), ("05:00:00", True), ("07:59:59", True), ("08:00:00", False)]
)
def test_window_edges_in_shanghai_while_server_is_utc(clock, ok):
    join(1, DAY)
    if ok:
        assert clock_at(1, NEXT, clock) == 100
        part = Participation.objects.get()
        assert part.clock_status == ClockStatus.CLOCKED_IN
        assert part.clock_time == local(NEXT, clock)
    else:
        with pytest.raises(OutsideWindow) as caught:
            clock_at(1, NEXT, clock)
        assert caught.value.code == "outside_window"
        assert Participation.objects.get().clock_status == ClockStatus.JOINED


def test_returns_the_rounds_pool():
    for uid in range(1, 4):
        join(uid, DAY)
    assert clock_at(2, NEXT, "05:30:00") == 300


def test_not_a_participant():
    join(1, DAY)
    with pytest.raises(NotParticipant) as caught:
        clock_at(2, NEXT, "05:30:00")
    assert caught.value.code == "not_participant"


def test_no_round_at_all_is_not_participant():
    with pytest.raises(NotParticipant):
        clock_at(2, NEXT, "05:30:00")


def test_twice_is_refused_and_counts_once():
    join(1, DAY)
    clock_at(1, NEXT, "05:30:00")
    with pytest.raises(AlreadyClockedIn) as caught:
        clock_at(1, NEXT, "05:31:00")
    assert caught.value.code == "already_clocked_in"
    player = Player.objects.get(uid=1)
    assert (player.clock_day_num, player.long_day_num) == (1, 1)
    assert Participation.objects.get().clock_time == local(NEXT, "05:30:00")


def test_check_in_does_not_touch_the_round_row():
    join(1, DAY)
    before = Round.objects.values().get()
    clock_at(1, NEXT, "05:30:00")
    assert Round.objects.values().get() == before


def play_days(uid, days):
    for day in days:
        join(uid, day, "20:00:00")
        clock_at(uid, (day + timedelta(days=1)).isoformat(), "06:00:00")


def test_streak_of_three_consecutive_days():
    play_days(1, [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)])
    player = Player.objects.get(uid=1)
    assert (player.long_day_num, player.clock_day_num) == (3, 3)
    assert player.yesterday_time == local("2026-11-29", "06:00:00")


def test_missed_day_restarts_the_streak():
    play_days(1, [DAY, DAY + timedelta(days=1)])
    play_days(1, [DAY + timedelta(days=3)])
    player = Player.objects.get(uid=1)
    assert (player.long_day_num, player.clock_day_num) == (1, 3)


def test_joined_but_slept_in_restarts_the_streak():
    play_days(1, [DAY])
    join(1, DAY + timedelta(days=1), "20:00:00")  # pays, but does not clock in on the 28th
    play_days(1, [DAY + timedelta(days=2)])
    assert Player.objects.get(uid=1).long_day_num == 1


def test_a_check_in_never_lands_in_a_settled_round():
    """A request that read 07:59:59 but reaches the database after settlement is refused."""
    from clock_app.services.settlement import round_settle

    join(1, DAY)
    join(2, DAY)
    clock_at(1, NEXT, "06:00:00")
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        round_settle(DAY)
    with pytest.raises(OutsideWindow):
        clock_in(uid=2, now=local(NEXT, "07:59:59"))
    assert Participation.objects.get(uid=2).clock_status == ClockStatus.JOINED


def test_a_stalled_check_in_is_rolled_back_at_the_end_of_the_window(monkeypatch):
    """The portable path (SQLite, MySQL; forced here on PostgreSQL too): the window is checked again on the real
    clock just before the commit, so a request that passed the first check at 07:59:59 and then stalled past
    08:00 writes nothing."""
    from clock_app.services import checkin

    monkeypatch.setattr(checkin, "ONE_STATEMENT_VENDORS", ())
    join(1, DAY)
    real_check = checkin.calendar.window_is_open
    checks = []
    with time_machine.travel(local(NEXT, "07:59:59"), tick=False) as traveller:

        def stall_before_the_second_check(*args):
            checks.append(args)
            if len(checks) == 2:  # the re-check, after both UPDATEs ran: the clock read there is now late
                traveller.move_to(local(NEXT, "08:00:01"))
                return real_check(*args[:2], timezone.now())
            return real_check(*args)

        monkeypatch.setattr(checkin.calendar, "window_is_open", stall_before_the_second_check)
        with pytest.raises(OutsideWindow):
            clock_in(uid=1)
    assert len(checks) == 2
    assert Participation.objects.get(uid=1).clock_status == ClockStatus.JOINED
    assert Player.objects.get(uid=1).clock_day_num == 0


@pytest.mark.parametrize(("time_left", "ok"), [(timedelta(seconds=3), True), (timedelta(milliseconds=300), False)])
def test_on_postgresql_the_statement_itself_refuses_a_check_in_held_up_past_the_window(postgres, time_left, ok):
    """One statement in autocommit, no re-check in Python: a check-in that waits behind another writer of its
    row for 1 s is written when the window had more than that left, and refused (nothing written, streak not
    counted) when it had less — the statement re-reads the clock after the wait."""
    join(1, DAY)
    locked, hold = threading.Event(), 1.0

    def another_writer_of_the_row():
        try:
            with transaction.atomic():
                Participation.objects.filter(uid=1).update(update_time=F("update_time"))
                locked.set()
                time.sleep(hold)
        finally:
            connection.close()

    writer = threading.Thread(target=another_writer_of_the_row)
    writer.start()
    assert locked.wait(10)
    started = time.monotonic()
    with time_machine.travel(local(NEXT, "08:00:00") - time_left, tick=False):
        if ok:
            assert clock_in(uid=1) == 100
        else:
            with pytest.raises(OutsideWindow):
                clock_in(uid=1)
    waited = time.monotonic() - started
    writer.join()
    assert waited >= hold * 0.8  # it really waited for the row
    part, player = Participation.objects.get(uid=1), Player.objects.get(uid=1)
    assert part.clock_status == (ClockStatus.CLOCKED_IN if ok else ClockStatus.JOINED)
    assert player.clock_day_num == (1 if ok else 0)
