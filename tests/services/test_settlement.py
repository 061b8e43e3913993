from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import override_settings

from clock_app import statement
from clock_app.audit import audit
from clock_app.exceptions import RoundNotClosed
from clock_app.exports import statement_chunks
from clock_app.models import ClockStatus, Participation, Round
from clock_app.services import settlement
from clock_app.services.settlement import round_settle

from ..conftest import local
from ..factories import play_round

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def settle(day=DAY, clock="08:05:00"):
    with time_machine.travel(local(day + timedelta(days=1), clock), tick=False):
        return round_settle(day)


def packets(day=DAY):
    return dict(Participation.objects.filter(clock_day=day).values_list("uid", "red_money"))


def test_ten_payers_seven_clock_ins():
    play_round(DAY, 10, 7)
    result = settle()
    t = result.totals
    assert (t.payers, t.winners, t.stakes, t.winner_stakes, t.forfeited) == (10, 7, 1000, 700, 300)
    assert (t.service_fee, t.bonus, t.rollover_out) == (15, 285, 0)  # floor(300 * 0.05) = 15
    the_round = Round.objects.get(clock_day=DAY)
    assert (the_round.success_user_num, the_round.failure_user_num) == (7, 3)
    assert (the_round.service_fee, the_round.bonus_money) == (15, 285)
    assert the_round.settled_at == local("2026-11-27", "08:05:00")
    allocated = packets()
    assert sum(allocated.values()) == 285
    assert all(allocated[uid] >= 1 for uid in range(1, 8))
    assert all(allocated[uid] == 0 for uid in range(8, 11))
    assert t.balances()
    assert [a.ok for a in audit(DAY)] == [True]


def test_second_run_changes_nothing():
    play_round(DAY, 10, 7)
    first = settle()
    before = list(Participation.objects.values().order_by("pk")), list(Round.objects.values())
    again = settle(clock="09:00:00")
    assert again.already_settled and again.statement_hash == first.statement_hash
    assert (list(Participation.objects.values().order_by("pk")), list(Round.objects.values())) == before


@pytest.mark.parametrize("clock", ["08:04:59", "08:00:00", "07:59:59", "05:30:00"])
def test_not_before_red_open(clock):
    play_round(DAY, 3, 1)
    with pytest.raises(RoundNotClosed):
        settle(clock=clock)
    assert Round.objects.get().settled_at is None


def test_crash_half_way_then_rerun_gives_the_same_allocation(monkeypatch):
    """Killed after the packets are written and before the round is marked settled (on PostgreSQL the write is
    one COPY + UPDATE, with no half-way inside it; elsewhere the batches of 5 run first): nothing stays, and
    the rerun writes the very packets the crashed run had written."""
    play_round(DAY, 30, 20)
    monkeypatch.setattr(settlement, "BATCH", 5)
    written_before_the_crash = {}
    real = settlement._write_packets

    def crash_after_writing(day, winners, packets, progress, meanwhile=None):
        real(day, winners, packets, progress, meanwhile)
        written_before_the_crash.update(Participation.objects.filter(clock_day=day).values_list("id", "red_money"))
        raise RuntimeError("killed")

    monkeypatch.setattr(settlement, "_write_packets", crash_after_writing)
    with pytest.raises(RuntimeError):
        settle()
    assert sum(written_before_the_crash.values()) > 0
    assert sum(packets().values()) == 0 and Round.objects.get().settled_at is None  # rolled back entirely
    monkeypatch.setattr(settlement, "_write_packets", real)
    result = settle()
    assert dict(Participation.objects.values_list("id", "red_money")) == written_before_the_crash
    the_round = Round.objects.get()
    assert statement.digest(statement_chunks(the_round)) == result.statement_hash == the_round.statement_hash
    assert sum(packets().values()) == result.totals.packets
    assert [a.ok for a in audit(DAY)] == [True]


def test_no_winners_rolls_the_bonus_into_the_next_round():
    play_round(DAY, 5, 0)
    first = settle().totals
    assert (first.service_fee, first.bonus, first.rollover_out, first.packets) == (25, 475, 475, 0)
    nxt = DAY + timedelta(days=1)
    play_round(nxt, 4, 2, first_uid=100)
    second = settle(nxt).totals
    # forfeited 200, fee 10, plus 475 rolled in.
    assert (second.rollover_in, second.service_fee, second.bonus, second.packets) == (475, 10, 665, 665)
    assert sum(packets(nxt).values()) == 665
    assert Round.objects.get(clock_day=DAY).rollover_into == nxt
    assert [a.ok for a in audit()] == [True, True]


def test_rollover_skips_a_day_nobody_played():
    play_round(DAY, 2, 0)
    settle()
    later = DAY + timedelta(days=3)
    play_round(later, 2, 1, first_uid=50)
    assert settle(later).totals.rollover_in == 190


@override_settings(CLOCK={"NO_WINNER_POLICY": "operator"})
def test_no_winners_operator_policy_books_it_as_fee():
    play_round(DAY, 5, 0)
    t = settle().totals
    assert (t.service_fee, t.bonus, t.rollover_out) == (500, 0, 0)
    assert t.bonus == t.forfeited - t.service_fee + t.rollover_in  # DESIGN's formula holds here too
    assert [a.ok for a in audit()] == [True]


def test_everyone_won_gets_the_stake_back_and_no_fee():
    play_round(DAY, 4, 4)
    t = settle().totals
    assert (t.forfeited, t.service_fee, t.bonus, t.rollover_out) == (0, 0, 0, 0)
    assert sum(packets().values()) == 0


@override_settings(CLOCK={"PARTICIPATE_MONEY": 1, "SERVICE_RATIO": "0"})
def test_tiny_pot_one_fen_to_that_many_winners():
    play_round(DAY, 12, 9)  # 3 fen forfeited among 9 winners
    t = settle().totals
    assert t.bonus == 3
    assert sorted(packets().values()) == [0] * 9 + [1] * 3
    assert [a.ok for a in audit()] == [True]


@override_settings(CLOCK={"MAX_PACKET": 10})
def test_small_cap_rolls_what_nobody_can_take():
    play_round(DAY, 10, 2)  # pot 800 - 40 = 760, two packets of at most 10
    t = settle().totals
    assert (t.bonus, t.rollover_out, t.packets) == (760, 740, 20)
    assert sorted(packets().values())[-2:] == [10, 10]
    assert [a.ok for a in audit()] == [True]


@override_settings(CLOCK={"MAX_PACKET": 120, "LUCKY_PROPORTION": "0.8"})
def test_cap_spreads_the_cut_to_the_others():
    play_round(DAY, 20, 10)  # pot 1000 - 50 = 950; two lucky packets share 760, far above the cap of 120
    t = settle().totals
    assert (t.bonus, t.rollover_out) == (950, 0)
    assert max(packets().values()) == 120 and sum(packets().values()) == 950


def test_allocation_is_in_pseudonym_order_from_the_committed_seed():
    play_round(DAY, 15, 9)
    settle()
    the_round = Round.objects.get()
    from clock_app.rules import RoundRules
    from clock_app.winners import Winners

    winners = Winners.load(the_round)
    _, expected = statement.settle_numbers(
        payers=15,
        stakes=1500,
        winner_stakes=900,
        winners=9,
        rollover_in=0,
        rules=RoundRules.of(the_round),
        seed=the_round.split_seed,
    )
    assert list(winners.packets) == expected


def test_settlement_refuses_books_that_do_not_add_up():
    play_round(DAY, 3, 2)
    Round.objects.update(clock_money=301)
    with pytest.raises(settlement.RoundBooksMismatch):
        settle()
    assert Round.objects.get().settled_at is None


def test_audit_fails_on_a_corrupted_ledger_row_naming_the_round():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    play_round(DAY, 10, 7)
    settle()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pay_clock_user_log SET change_money = change_money + 1 WHERE id = "
            "(SELECT MIN(id) FROM pay_clock_user_log)"
        )
    with pytest.raises(CommandError, match="2026-11-26"):
        call_command("clock_audit")


def test_audit_fails_when_a_packet_is_changed_by_sql():
    play_round(DAY, 10, 7)
    settle()
    winner = Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).first()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pay_clock_day SET red_money = red_money + 1 WHERE id = %s", [winner.pk])
    report = audit(DAY)[0]
    assert not report.ok
    assert any("statement" in p for p in report.problems)
    assert any("allocation" in p for p in report.problems)


def test_a_failed_split_leaves_the_connection_usable(monkeypatch):
    """The winners' load is in flight while the bonus is split (PostgreSQL): a split that fails drains it."""

    def broken(**kwargs):
        raise ZeroDivisionError("split failed")

    play_round(DAY, 6, 4)
    monkeypatch.setattr(statement, "settle_numbers", broken)
    with pytest.raises(ZeroDivisionError):
        settle()
    assert Round.objects.get().settled_at is None and Participation.objects.count() == 6
    monkeypatch.undo()
    assert settle().totals.winners == 4
