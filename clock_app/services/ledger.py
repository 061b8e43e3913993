"""The sole writer of the ledger (``pay_clock_user_log``).

A ledger row is only ever written inside the transaction that makes the money move, so the two commit or
roll back together. ``(money_type, reference)`` is unique in the database: booking the same stake, packet or
refund twice fails the whole transaction instead of double-counting.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction
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
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"ledger amounts are non-negative integer fen, got {amount!r}")
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
