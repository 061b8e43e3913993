"""Reconciliation (对账): the channel's own bill of a day against the app's books.

Notifications are at least once — in principle; a payment the app never heard of is a real event, and only the
channel's bill reveals it. ``reconcile_day`` reads the channel's bills of local day D (payments, refunds,
transfers, by the channel's time in ``CLOCK["TIME_ZONE"]``) and compares them line by line with the orders,
refunds and packets of that day:

* **payments**, matched by the channel's transaction id: one the app never heard of is *applied* — through
  ``order_notify``, the same code as a notification, so DESIGN §1–§2 decide (joined, or kept for refund); a
  rerun finds it booked and changes nothing. One the app has but the bill lacks (``ours_only``), an amount that
  differs (the order's ``pay_amount`` against the bill's order amount: the channel's fee is not a difference),
  a transaction listed twice (``duplicate``) — reported;
* **refunds**, matched by our refund number (``<order_no>R``): one the channel made that the app has not booked
  (``status``) or never asked for (``theirs_only``), one the app booked that the bill lacks, an amount — reported;
* **transfers** (packets), matched by their number at the channel (``payout_no``, ``…N2`` after a renewal), the
  same way.

Memory stays bounded whatever the size of the day: the bill is streamed into a staging table
(``pay_clock_bill_line``) in batches, the comparison is a handful of SQL anti-joins and joins streamed back, and
the staging rows are deleted when the run ends. Each run and each difference is stored
(``pay_clock_reconcile_run``, ``pay_clock_reconcile_diff``): a difference stays open until an operator resolves
it with a note, or a later run no longer finds it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import SimpleNamespace

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils import timezone

from .. import calendar
from ..channels import get_channel
from ..channels.base import BillLine
from ..conf import clock_settings
from ..deadline import call_with_deadline
from ..models import (
    BillEntry,
    ClockOrder,
    Difference,
    OrderStatus,
    Participation,
    ReconcileRun,
    RedStatus,
    RefundStatus,
)
from .orders import Notification, order_notify
from .transfers import channel_number, parse_channel_number

logger = logging.getLogger(__name__)

BATCH = 5000
TRANSFER_LOOKBACK = timedelta(days=31)  # packets are paid within days of their round; WeChat queries 30 days


@dataclass
class ReconcileReport:
    run: ReconcileRun
    found: dict[str, int] = field(default_factory=dict)  # differences found by this run, by reason
    open: int = 0  # differences of this channel and day still open after the run

    @property
    def clean(self) -> bool:
        return self.open == 0


def reconcile_day(day: date, *, now: datetime | None = None) -> ReconcileReport:
    """Reconcile the configured channel's bill of ``day`` with the books (see the module docstring)."""
    channel = get_channel()
    run = ReconcileRun.objects.create(channel=channel.name, bill_day=day, started_at=now or timezone.now())
    report = ReconcileReport(run)
    try:
        run.lines = _stage(run, channel.bill(day))
        seen: set[int] = set()
        _payments(run, day, report, seen)
        _refunds(run, day, report, seen)
        _transfers(run, day, report, seen)
        stale = Difference.objects.filter(channel=run.channel, bill_day=day, status=Difference.Status.OPEN).exclude(
            pk__in=seen
        )
        stale.update(
            status=Difference.Status.RESOLVED,
            note=f"no longer found by reconciliation run {run.pk}",
            resolved_at=timezone.now(),
            update_time=timezone.now(),
        )
    except Exception as exc:
        run.status, run.summary, run.finished_at = ReconcileRun.Status.FAILED, str(exc)[:2000], timezone.now()
        run.save(update_fields=["status", "summary", "finished_at", "lines", "applied"])
        raise
    finally:
        BillEntry.objects.filter(run=run).delete()
    report.open = Difference.objects.filter(channel=run.channel, bill_day=day, status=Difference.Status.OPEN).count()
    run.status = ReconcileRun.Status.CLEAN if report.clean else ReconcileRun.Status.DIFFERENCES
    run.summary = ", ".join(f"{reason} {n}" for reason, n in sorted(report.found.items())) or "the books agree"
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "summary", "finished_at", "lines", "applied"])
    logger.info("reconciliation %s %s: %s lines, %s; %s open", run.channel, day, run.lines, run.summary, report.open)
    return report


STAGED = ("run_id", "kind", "number", "key", "renewal", "channel_id", "amount", "status", "at", "buyer_id", "raw")


def _staged_rows(run: ReconcileRun, lines: Iterator[BillLine]) -> Iterator[tuple]:
    for line in lines:
        key, renewal = line.number, 0
        if line.kind == "refund":
            key = line.number.removesuffix("R")
        elif line.kind == "transfer":
            key, renewal = parse_channel_number(line.number, key_suffix="P")
        yield (
            run.pk,
            line.kind,
            line.number[:64],
            key[:64],
            renewal,
            line.channel_id[:64],
            line.amount,
            line.status[:32],
            line.at,
            line.buyer_id[:64],
            line.raw[:2000],
        )


def _stage(run: ReconcileRun, lines: Iterator[BillLine]) -> int:
    """Copy the bill into the staging table as it streams: PostgreSQL's COPY, elsewhere ``BATCH`` rows at a
    time; then the planner is told how many rows there are."""
    rows = _staged_rows(run, lines)
    total = 0
    if connection.vendor == "postgresql":
        # In its own (sub)transaction: a bill that fails half-way (a hash that does not match) aborts the COPY,
        # and must not poison a transaction the caller may have open.
        with transaction.atomic(), connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: COPY streams rows without building them in memory
            with raw.copy(f"COPY pay_clock_bill_line ({', '.join(STAGED)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    total += 1
            cursor.execute("ANALYZE pay_clock_bill_line")
        return total
    while batch := list(itertools.islice(rows, BATCH)):
        BillEntry.objects.bulk_create(BillEntry(**dict(zip(STAGED, row, strict=True))) for row in batch)
        total += len(batch)
    return total


def _note(run, report, seen, *, kind, number, reason, channel_id="", ours=None, theirs=None, detail="", resolved=False):
    """Record one difference (once per channel, day, kind, number and reason), reopening nothing an operator
    resolved: their note stands."""
    difference, created = Difference.objects.get_or_create(
        channel=run.channel,
        bill_day=run.bill_day,
        kind=kind,
        number=number[:64],
        reason=reason,
        defaults={
            "channel_id": channel_id[:64],
            "ours": ours,
            "theirs": theirs,
            "detail": detail[:2000],
            "first_run": run,
            "last_run": run,
            "status": Difference.Status.RESOLVED if resolved else Difference.Status.OPEN,
            "resolved_at": timezone.now() if resolved else None,
            "note": "applied by the reconciliation" if resolved else "",
        },
    )
    if not created:
        Difference.objects.filter(pk=difference.pk).update(
            last_run=run, ours=ours, theirs=theirs, detail=detail[:2000], update_time=timezone.now()
        )
    seen.add(difference.pk)
    report.found[reason] = report.found.get(reason, 0) + 1


def _day_of(queryset: QuerySet, column: str, day: date) -> QuerySet:
    start, end = calendar.day_span(day)
    return queryset.filter(**{f"{column}__gte": start, f"{column}__lt": end})


def _payment_of(line: BillEntry, run: ReconcileRun) -> Notification:
    """The payment behind a bill line, as its notification would have said it: asked of the channel by the
    order number (the payer, the payment time — Alipay's bills mask the buyer), else read off the line."""
    try:
        found = call_with_deadline(
            get_channel().query_payment, SimpleNamespace(order_no=line.number), timeout=clock_settings.payout_timeout
        )
    except Exception:  # the channel cannot be asked now: the bill's own line is the record
        logger.exception("reconciliation: cannot ask the channel about order %s", line.number)
        found = None
    if found is not None and found.transaction_id == line.channel_id:
        return found
    return Notification(
        order_no=line.number,
        amount=line.amount,
        buyer_id=line.buyer_id or "unknown",
        transaction_id=line.channel_id,
        notify_time=line.at,
        content=f"reconciliation run {run.pk}: {line.raw}",
    )


def _payments(run: ReconcileRun, day: date, report: ReconcileReport, seen: set[int]) -> None:
    theirs = BillEntry.objects.filter(run=run, kind="payment")
    # Every lookup by transaction id names the unique index's own condition (transaction_id <> ''): without it
    # PostgreSQL cannot use that partial index for a correlated subquery and scans the orders once per line.
    with_transaction = ClockOrder.objects.exclude(transaction_id="")
    booked = with_transaction.filter(transaction_id=OuterRef("channel_id"))
    for line in theirs.exclude(Exists(booked)).order_by("pk").iterator(chunk_size=BATCH):
        if theirs.filter(channel_id=line.channel_id, pk__lt=line.pk).exists():
            continue  # a duplicate line: reported below, applied once
        outcome = order_notify(_payment_of(line, run))
        run.applied += 1
        logger.warning(
            "reconciliation: payment %s of order %s was never notified: %s", line.channel_id, line.number, outcome
        )
        _note(
            run,
            report,
            seen,
            kind="payment",
            number=line.number,
            reason="applied",
            channel_id=line.channel_id,
            theirs=line.amount,
            detail=f"applied as its notification would have been: {outcome}",
            resolved=True,
        )
    ours = _day_of(ClockOrder.objects.filter(order_status=OrderStatus.PAID), "pay_time", day)
    listed = theirs.filter(channel_id=OuterRef("transaction_id"))
    for order in ours.exclude(Exists(listed)).iterator(chunk_size=BATCH):
        _note(
            run,
            report,
            seen,
            kind="payment",
            number=order.order_no,
            reason="ours_only",
            channel_id=order.transaction_id,
            ours=order.pay_amount,
            detail="paid according to the app; the channel's bill does not list this transaction",
        )
    differing = with_transaction.filter(transaction_id=OuterRef("channel_id")).exclude(pay_amount=OuterRef("amount"))
    for line in theirs.filter(Exists(differing)).iterator(chunk_size=BATCH):
        order = ClockOrder.objects.get(transaction_id=line.channel_id)
        _note(
            run,
            report,
            seen,
            kind="payment",
            number=order.order_no,
            reason="amount",
            channel_id=line.channel_id,
            ours=order.pay_amount,
            theirs=line.amount,
            detail="the order's amount differs from the bill's",
        )
    for row in theirs.values("channel_id", "number").annotate(n=Count("id")).filter(n__gt=1).iterator():
        _note(
            run,
            report,
            seen,
            kind="payment",
            number=row["number"],
            reason="duplicate",
            channel_id=row["channel_id"],
            detail=f"listed {row['n']} times",
        )


def _refunds(run: ReconcileRun, day: date, report: ReconcileReport, seen: set[int]) -> None:
    """Refunds by our number ``<order_no>R`` (the staged ``key`` is the order number: its unique index)."""
    theirs = BillEntry.objects.filter(run=run, kind="refund", status="SUCCESS")
    refunded = ClockOrder.objects.filter(refund_status=RefundStatus.REFUNDED)
    for line in theirs.exclude(Exists(refunded.filter(order_no=OuterRef("key")))).iterator(chunk_size=BATCH):
        kept = ClockOrder.objects.filter(order_no=line.key).exclude(refund_status=RefundStatus.NONE).first()
        _note(
            run,
            report,
            seen,
            kind="refund",
            number=line.number,
            reason="status" if kept else "theirs_only",
            channel_id=line.channel_id,
            ours=kept.pay_amount if kept else None,
            theirs=line.amount,
            detail="the channel refunded it; the app has not booked the refund"
            if kept
            else "the channel refunded money the app never asked to refund",
        )
    ours = _day_of(refunded, "refund_time", day).exclude(Exists(theirs.filter(key=OuterRef("order_no"))))
    for order in ours.iterator(chunk_size=BATCH):
        _note(
            run,
            report,
            seen,
            kind="refund",
            number=f"{order.order_no}R",
            reason="ours_only",
            ours=order.pay_amount,
            detail="refunded according to the app; the channel's bill does not list it",
        )
    differing = refunded.filter(order_no=OuterRef("key")).exclude(pay_amount=OuterRef("amount"))
    for line in theirs.filter(Exists(differing)).iterator(chunk_size=BATCH):
        _note(
            run,
            report,
            seen,
            kind="refund",
            number=line.number,
            reason="amount",
            channel_id=line.channel_id,
            ours=ClockOrder.objects.get(order_no=line.key).pay_amount,
            theirs=line.amount,
            detail="the refund's amounts differ",
        )


def _transfers(run: ReconcileRun, day: date, report: ReconcileReport, seen: set[int]) -> None:
    """Packets by their number at the channel: ``payout_no`` (its unique index, staged as ``key``) and the
    renewal that paid it (``payout_renewals`` when it was paid)."""
    theirs = BillEntry.objects.filter(run=run, kind="transfer")
    paid = Participation.objects.filter(red_status=RedStatus.PAID)
    same_bill = paid.filter(payout_no=OuterRef("key"), payout_renewals=OuterRef("renewal"))
    for line in theirs.exclude(Exists(same_bill)).iterator(chunk_size=BATCH):
        known = Participation.objects.filter(payout_no=line.key).first()
        if known is None:
            reason, detail = "theirs_only", "the channel paid a transfer the app does not know"
        elif known.red_status == RedStatus.PAID:  # paid under another number: two bills of one packet paid
            reason, detail = "duplicate", f"the packet is booked as paid under renewal {known.payout_renewals}"
        else:
            reason, detail = "status", "the channel paid it; the app has not booked the packet"
        _note(
            run,
            report,
            seen,
            kind="transfer",
            number=line.number,
            reason=reason,
            channel_id=line.channel_id,
            ours=(known.order_money + known.red_money) if known else None,
            theirs=line.amount,
            detail=detail,
        )
    recent = paid.filter(clock_day__gte=day - TRANSFER_LOOKBACK, clock_day__lte=day)
    listed = theirs.filter(key=OuterRef("payout_no"), renewal=OuterRef("payout_renewals"))
    for part in _day_of(recent, "red_time", day).exclude(Exists(listed)).iterator(chunk_size=BATCH):
        _note(
            run,
            report,
            seen,
            kind="transfer",
            number=channel_number(part.payout_no, part.payout_renewals),
            reason="ours_only",
            ours=part.clock_money,
            detail="paid according to the app; the channel's bill does not list this transfer",
        )
    for line in theirs.filter(Exists(same_bill.exclude(clock_money=OuterRef("amount")))).iterator(chunk_size=BATCH):
        _note(
            run,
            report,
            seen,
            kind="transfer",
            number=line.number,
            reason="amount",
            channel_id=line.channel_id,
            ours=Participation.objects.get(payout_no=line.key).clock_money,
            theirs=line.amount,
            detail="the transfer's amounts differ",
        )


def difference_resolve(difference_id: int, *, note: str, now: datetime | None = None) -> bool:
    """An operator's decision on an open difference, with a note saying what was done."""
    if not note.strip():
        raise ValueError("a resolution needs a note")
    with transaction.atomic():
        return bool(
            Difference.objects.filter(pk=difference_id, status=Difference.Status.OPEN).update(
                status=Difference.Status.RESOLVED,
                note=note.strip()[:2000],
                resolved_at=now or timezone.now(),
                update_time=now or timezone.now(),
            )
        )
