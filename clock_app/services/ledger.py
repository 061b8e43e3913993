"""The sole writer of the ledger (``pay_clock_user_log``).

A ledger row is only ever written inside the transaction that makes the money move, so the two commit or
roll back together: by :func:`ledger_write` inside that transaction, or by :func:`ledger_insert_sql` as part
of the one statement that moves the money. ``(money_type, reference)`` is unique in the database: booking
the same stake, packet or refund twice fails the whole transaction instead of double-counting.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ..models import LedgerEntry, MoneyType


def ledger_write(
    *,
    uid: int,
    clock_day: date,
    money_type: MoneyType,
    amount: int,
    reference: str,
    content: str,
    now: datetime | None = None,
) -> LedgerEntry:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger_write() must run inside the transaction that moves the money")
    _check_amount(amount)
    return LedgerEntry.objects.create(
        uid=uid,
        clock_day=clock_day,
        money_type=money_type,
        change_money=amount,
        reference=reference,
        log_content=content[:512],
        create_time=now or timezone.now(),
        update_time=now or timezone.now(),
    )


# One ledger row as the last part of the statement that moves the money (PostgreSQL's writable CTEs).
_INSERT = (
    "INSERT INTO pay_clock_user_log (uid, clock_day, money_type, change_money, log_content, reference, create_time, "
    "update_time) SELECT %s, %s, %s, %s, %s, %s, %s, %s FROM {after}"
)


def ledger_insert_sql(
    *,
    uid: int,
    clock_day: date,
    money_type: MoneyType,
    amount: int,
    reference: str,
    content: str,
    now: datetime,
    after: str,
) -> tuple[str, list[Any]]:
    """The same row as :func:`ledger_write`, as an ``INSERT … SELECT … FROM after`` for a writable CTE of the
    statement that moves the money: ``after`` names the CTE that returns one row when the money moved, none
    when it did not. One statement is one transaction, so the row and the movement commit together."""
    _check_amount(amount)
    stamp = connection.ops.adapt_datetimefield_value(now)
    day = connection.ops.adapt_datefield_value(clock_day)
    return _INSERT.format(after=after), [uid, day, int(money_type), amount, content[:512], reference, stamp, stamp]


def _check_amount(amount: Any) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"ledger amounts are non-negative integer fen, got {amount!r}")
