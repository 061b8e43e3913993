"""The database, not Python, is the last word: these go around the services with queryset.update()."""

from datetime import date

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from clock_app.models import (
    ClockOrder,
    ClockStatus,
    LedgerEntry,
    LuckySetting,
    MoneyType,
    Participation,
    RedStatus,
    Round,
)

from .conftest import local
from .factories import join

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def refused(callable_):
    with pytest.raises(IntegrityError), transaction.atomic():
        callable_()


def test_money_cannot_go_negative():
    join(1, DAY)
    refused(lambda: Round.objects.update(clock_money=F("clock_money") - 101))
    refused(lambda: LedgerEntry.objects.update(change_money=-1))


def test_one_participation_per_user_and_round():
    part = join(1, DAY)
    refused(
        lambda: Participation.objects.create(
            uid=1, clock_day=DAY, order_no="other", order_money=100, payout_no="other-P"
        )
    )
    assert Participation.objects.filter(pk=part.pk).exists()


def test_one_round_row_per_day():
    join(1, DAY)
    the_round = Round.objects.get()
    fields = {f.name: getattr(the_round, f.name) for f in Round._meta.fields if f.name not in ("id",)}
    refused(lambda: Round.objects.create(**fields))


def test_transaction_id_is_recorded_once():
    join(1, DAY)
    join(2, DAY)
    first, second = ClockOrder.objects.order_by("pk")
    refused(lambda: ClockOrder.objects.filter(pk=second.pk).update(transaction_id=first.transaction_id))


def test_paid_order_needs_a_transaction():
    join(1, DAY)
    refused(lambda: ClockOrder.objects.update(transaction_id=""))


def test_ledger_books_a_reference_once():
    part = join(1, DAY)
    refused(
        lambda: LedgerEntry.objects.create(
            uid=1, clock_day=DAY, money_type=MoneyType.STAKE, change_money=100, reference=part.order_no
        )
    )


def test_paid_out_amount_is_exactly_stake_plus_packet():
    part = join(1, DAY)
    Participation.objects.filter(pk=part.pk).update(clock_status=ClockStatus.CLOCKED_IN, red_money=50)
    refused(lambda: Participation.objects.filter(pk=part.pk).update(red_status=RedStatus.PAID, clock_money=100))
    Participation.objects.filter(pk=part.pk).update(red_status=RedStatus.PAID, clock_money=150)
    refused(lambda: Participation.objects.filter(pk=part.pk).update(clock_money=151))


def test_only_winners_hold_or_receive_packets():
    part = join(1, DAY)
    refused(lambda: Participation.objects.filter(pk=part.pk).update(red_money=10))
    refused(lambda: Participation.objects.filter(pk=part.pk).update(red_status=RedStatus.PAYING))


def test_status_codes_are_the_seeds():
    part = join(1, DAY)
    refused(lambda: Participation.objects.filter(pk=part.pk).update(clock_status=7))
    refused(lambda: ClockOrder.objects.update(order_status=9))


def test_setting_period_and_percentage_are_checked():
    refused(lambda: LuckySetting.objects.create(start_time=local(DAY), end_time=local(DAY), money_proportion=20))
    refused(
        lambda: LuckySetting.objects.create(
            start_time=local(DAY, "01:00:00"), end_time=local(DAY), money_proportion=101
        )
    )
