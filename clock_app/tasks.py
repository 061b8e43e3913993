"""Celery tasks: the same jobs as the management commands, for spreading them over workers. Optional —
every job also runs whole in ``manage.py`` — and safe to redeliver: settlement and payouts are idempotent,
so the tasks use ``acks_late`` and a worker killed mid-task just has its task run again.

``push_round_task`` fans a round's winners out in id ranges of ``chunk_size`` so several workers share a
big round; each chunk claims its rows in the database, so overlapping or repeated chunks cannot pay twice.
Payout tasks use ``CLOCK["PAYOUT_HANDLER"]`` (a task cannot carry a closure).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import group, shared_task

from . import calendar
from .audit import audit, audit_players
from .models import ClockStatus, Participation, Round
from .services.audits import audit_record
from .services.payouts import refunds_push, round_push
from .services.reconcile import reconcile_day
from .services.reminders import reminders_send
from .services.settlement import round_settle, round_settle_if_due, rounds_settle_due
from .services.sweep import payments_sweep


def _day(day: str | None, default_days_ago: int):
    return calendar.parse_day(day) if day else calendar.today() - timedelta(days=default_days_ago)


@shared_task(name="clock_app.settle_round", acks_late=True)
def settle_round_task(day: str | None = None) -> dict[str, Any]:
    """Settle a round (default: yesterday's), as ``clock_init_red``."""
    round_day = _day(day, 1)
    if not Round.objects.filter(clock_day=round_day).exists():
        return {"clock_day": round_day.isoformat(), "settled": False, "reason": "no round"}
    result = round_settle(round_day)
    return {
        "clock_day": round_day.isoformat(),
        "settled": True,
        "already_settled": result.already_settled,
        "statement_hash": result.statement_hash,
    }


@shared_task(name="clock_app.settle_due", acks_late=True)
def settle_due_task() -> dict[str, Any]:
    """Settle every round whose frozen red-open time has passed (the beat runs it every five minutes)."""
    results = rounds_settle_due()
    return {"settled": [r.clock_day.isoformat() for r in results if not r.already_settled]}


@shared_task(name="clock_app.sweep_payments", acks_late=True)
def sweep_payments_task(day: str | None = None) -> dict[str, Any]:
    """Apply payments of a round (default: yesterday's) whose notification never came."""
    round_day = _day(day, 1)
    return {"clock_day": round_day.isoformat(), "outcomes": dict(payments_sweep(round_day))}


@shared_task(name="clock_app.reconcile", acks_late=True)
def reconcile_task(day: str | None = None) -> dict[str, Any]:
    """Reconcile the channel's bill of a day (default: yesterday) with the books."""
    report = reconcile_day(_day(day, 1))
    return {"clock_day": report.run.bill_day.isoformat(), "found": report.found, "open": report.open}


@shared_task(name="clock_app.push_round", acks_late=True)
def push_round_task(day: str | None = None, chunk_size: int = 5000) -> dict[str, Any]:
    """Pay a round's unpaid winners (default: two days ago, as ``clock_push_red``) in parallel chunks, and
    the pending refunds."""
    round_day = _day(day, 2)
    round_settle_if_due(round_day)
    winners = Participation.objects.filter(clock_day=round_day, clock_status=ClockStatus.CLOCKED_IN).order_by("pk")
    ranges, last = [], 0
    while ids := list(winners.filter(pk__gt=last).values_list("pk", flat=True)[:chunk_size]):
        ranges.append((ids[0], ids[-1]))
        last = ids[-1]
    group(
        [push_chunk_task.s(round_day.isoformat(), lo, hi) for lo, hi in ranges] + [push_refunds_task.s()]
    ).apply_async()
    return {"clock_day": round_day.isoformat(), "chunks": len(ranges)}


@shared_task(name="clock_app.push_chunk", acks_late=True)
def push_chunk_task(day: str, first_id: int, last_id: int) -> dict[str, Any]:
    report = round_push(calendar.parse_day(day), id_range=(first_id, last_id), refunds=False)
    return {"clock_day": day, "outcomes": dict(report.outcomes), "unpaid": report.unpaid}


@shared_task(name="clock_app.push_refunds", acks_late=True)
def push_refunds_task() -> dict[str, Any]:
    outcomes, pending = refunds_push()
    return {"outcomes": outcomes, "pending": pending}


@shared_task(name="clock_app.remind", acks_late=True)
def remind_task(kind: str = "checkin", day: str | None = None) -> dict[str, Any]:
    """Send the due reminders of ``kind`` (as ``clock_remind``); a redelivered task sends nothing twice."""
    report = reminders_send(kind, day=calendar.parse_day(day) if day else None)
    return {
        "kind": kind,
        "clock_day": report.clock_day.isoformat() if report.clock_day else None,
        "not_due": report.not_due,
        "outcomes": dict(report.outcomes),
        "statuses": report.statuses,
    }


@shared_task(name="clock_app.audit", acks_late=True)
def audit_task(day: str | None = None) -> dict[str, Any]:
    round_day = calendar.parse_day(day) if day else None
    reports, players = audit(round_day), audit_players(round_day)
    audit_record(reports)
    failed = {r.clock_day.isoformat(): r.problems for r in reports if not r.ok}
    if not players.ok:
        failed["players"] = players.problems
    return {"ok": not failed, "rounds": len(reports), "failed": failed}
