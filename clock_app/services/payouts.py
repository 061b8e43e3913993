"""Money out: red packets (stake + packet) and refunds, each paid exactly once.

The state machine of one packet (``pay_clock_day.red_status``; refunds use ``pay_clock_order.refund_*``)::

    unpaid(1) ─┐                 ┌─ SUCCESS ───────────▶ paid(2)       + player totals + ledger row, one transaction
    failed(4) ─┤                 ├─ WAIT_USER_CONFIRM ─▶ awaiting(5)   the user confirms at the channel
    awaiting(5)┼─claim─▶ paying(3)┼─ PENDING / unknown ─▶ stays paying  asked about later (same number)
    paying ────┘  (stale)        ├─ HELD ──────────────▶ unpaid(1)     owed, not sent: outside the channel's limits
                                 └─ FAIL ──────────────▶ failed(4)     + error row; the next offer has a new number

1. **Claim**: the rows in a claimable state, locked (``FOR UPDATE``) and moved to ``red_status = paying,
   payout_attempts = payout_attempts + 1``, committed at once (never inside someone else's transaction: its
   rollback would forget a transfer that happened). Exactly one caller wins; the attempt number it wrote is
   its fence. On PostgreSQL one statement claims a row, or the push job's batch of ``CLAIM_BATCH`` rows;
   claims of a batch still waiting for their turn are renewed before they could look stale.
2. **Ask first**: a payout that was sent before and is not final (paying, awaiting) is asked about at the
   channel (``handler.query``) before anything is sent: paid → recorded; still waiting → kept (re-sent only
   to hand the user the bill's package again); cancelled or failed → the failure is recorded and a new
   transfer offered at once; unknown → left paying. Only when the channel has no such transfer is it sent
   again — the same number, the same amount.
3. **Call** the handler with no transaction open and no lock held, with ``CLOCK["PAYOUT_TIMEOUT"]``.
4. **Record** with a conditional ``UPDATE … WHERE red_status = paying AND payout_attempts = <fence>``. A
   confirmed success is recorded whoever holds the claim (the channel paid that number once), with the
   player's totals and the ledger row in the same transaction — on PostgreSQL one statement.

The channel's own notifications (``transfer-notify/``, ``refund-notify/``) record outcomes through
:func:`payout_record` and :func:`refund_record`, fenced by the transfer's number instead of an attempt.
The database decides every race (no cache lock): a process killed at any point leaves a claimable row or a
*paying* row that ``clock_push_red`` asks about, with the same number, once it is older than
``CLOCK["PAYOUT_RETRY_AFTER"]``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from .. import calendar
from ..conf import clock_settings
from ..exceptions import (
    AlreadyPaid,
    NotParticipant,
    NotWinner,
    PayoutFailed,
    PayoutHeld,
    PayoutInProgress,
    RedNotOpen,
)
from ..models import (
    ClockOrder,
    ClockStatus,
    ErrorStatus,
    MoneyType,
    Participation,
    PayoutError,
    Player,
    RedStatus,
    RefundStatus,
    Round,
)
from ..money import yuan
from .ledger import ledger_insert_sql, ledger_write
from .players import require_uid
from .settlement import round_settle_if_due
from .transfers import (
    Answer,
    Handler,
    Outcome,
    Transfer,
    call_channel,
    query_of,
    resolve_handler,
    transfer_succeeded,
)

__all__ = [
    "Handler",
    "OpenResult",
    "Outcome",
    "PushReport",
    "Transfer",
    "packet_open",
    "packet_pay",
    "payout_record",
    "refund_key",
    "refund_pay",
    "refund_record",
    "refunds_push",
    "resolve_handler",
    "round_push",
    "transfer_succeeded",
]

logger = logging.getLogger(__name__)

KEYSET_BATCH = 500
SENT = (RedStatus.PAYING, RedStatus.AWAITING)  # sent before, not final: asked about before anything is re-sent


def _clock(now: datetime | None) -> Callable[[], datetime]:
    """The time of each step: the caller's fixed ``now`` (simulations, tests), else the wall clock at that step
    — a claim made ten minutes into a long push job must not look ten minutes old."""
    return (lambda: now) if now is not None else timezone.now


def _stale(now: datetime) -> datetime:
    return now - timedelta(seconds=clock_settings.payout_retry_after)


# --- red packets -------------------------------------------------------------------------------------------


def _claimable_packets(now: datetime, *, by_user: bool) -> Q:
    """What a caller may claim. The push job: anything unpaid, failed, or sent longer than
    ``PAYOUT_RETRY_AFTER`` ago without a final answer. The winner opening their packet: also a packet awaiting
    their confirmation, whatever its age (they want the bill's package again)."""
    owed = Q(red_status__in=[RedStatus.UNPAID, RedStatus.FAILED])
    stale = Q(red_status__in=SENT, payout_claimed_at__lte=_stale(now))
    return owed | stale | Q(red_status=RedStatus.AWAITING) if by_user else owed | stale


SETTLED_ROUND = Exists(Round.objects.filter(clock_day=OuterRef("clock_day"), settled_at__isnull=False))
CLAIM_BATCH = 50  # rows the push job claims with one statement: the most a killed job leaves "paying" at once
_CLAIMED = (
    "pk",
    "uid",
    "source_uid",
    "order_money",
    "red_money",
    "clock_day",
    "payout_no",
    "payout_renewals",
    "payout_attempts",
    "red_status",
)


@dataclass(frozen=True)
class PayResult:
    outcome: Outcome
    confirm: dict[str, str] | None = None


@dataclass(slots=True)
class Claim:
    """A packet this caller holds: the row's payout fields as it claimed them, ``payout_attempts`` being the
    attempt number it wrote (its fence) and ``previous`` the state it was claimed from. The same attribute
    names as :class:`Participation`, so the recording helpers take either."""

    pk: int
    uid: int
    source_uid: str
    order_money: int
    red_money: int
    clock_day: date
    payout_no: str
    payout_renewals: int
    payout_attempts: int
    previous: int


def _claim(ids: list[int], now: datetime, *, by_user: bool) -> list[Claim]:
    """Claim the claimable packets among ``ids`` (settled round, winner, claimable state): each moves to
    paying with its next attempt number, committed before this returns. Rows another caller holds or already
    paid are left out. On PostgreSQL one statement claims them all (row locks taken in id order, so two pushers
    cannot deadlock); elsewhere each row is claimed in its own transaction."""
    claimable = (
        Participation.objects.filter(
            _claimable_packets(now, by_user=by_user), SETTLED_ROUND, pk__in=ids, clock_status=ClockStatus.CLOCKED_IN
        )
        .order_by("pk")
        .values_list("pk", "red_status")
    )
    if connection.vendor != "postgresql":
        return [claim for pk in ids if (claim := _claim_one(claimable.filter(pk=pk), now)) is not None]
    select, params = claimable.query.sql_with_params()
    sql = (
        f"WITH claimable (id, previous) AS ({select} FOR UPDATE) "
        "UPDATE pay_clock_day AS d SET red_status = %s, payout_attempts = d.payout_attempts + 1, "
        "payout_claimed_at = %s, update_time = %s FROM claimable WHERE d.id = claimable.id "
        "RETURNING d.id, d.uid, d.source_uid, d.order_money, d.red_money, d.clock_day, d.payout_no, "
        "d.payout_renewals, d.payout_attempts, claimable.previous"
    )
    stamp = connection.ops.adapt_datetimefield_value(now)
    rows = _committed(sql, [*params, RedStatus.PAYING, stamp, stamp])
    return sorted((Claim(*row) for row in rows), key=lambda claim: claim.pk)


def _claim_one(claimable, now: datetime) -> Claim | None:
    """The portable claim of one row: ``SELECT … FOR UPDATE`` then ``UPDATE``, committed at once."""
    with transaction.atomic(durable=True):
        row = claimable.select_for_update().values_list(*_CLAIMED).first()
        if row is None:
            return None
        Participation.objects.filter(pk=row[0]).update(
            red_status=RedStatus.PAYING,
            payout_attempts=F("payout_attempts") + 1,
            payout_claimed_at=now,
            update_time=now,
        )
    return Claim(*row[:8], row[8] + 1, row[9])


def _committed(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run one statement that commits on its own and return its rows. Inside a caller's transaction a
    rollback would forget a claim or a booked transfer, so that is refused as ``atomic(durable=True)``
    refuses it; outside one, the statement is its own transaction (autocommit: no BEGIN/COMMIT round trips)."""
    if connection.in_atomic_block:
        with transaction.atomic(durable=True), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _transfer(row: Claim | Participation) -> Transfer:
    return Transfer(
        row.payout_no,
        row.uid,
        row.source_uid,
        row.order_money + row.red_money,
        row.clock_day,
        renewals=row.payout_renewals,
    )


def packet_pay(
    participation_id: int,
    *,
    handler: Handler,
    now: datetime | None = None,
    by_user: bool = False,
    claim: Claim | None = None,
) -> PayResult:
    """Pay one winner stake + packet, exactly once (see the module docstring). Only a settled round's
    packets can be claimed: before settlement a winner's packet is not known. ``claim``: the row's claim when
    the caller already holds it (the push job claims its rows a batch at a time)."""
    clock = _clock(now)
    if claim is None:
        claims = _claim([participation_id], clock(), by_user=by_user)
        if not claims:
            return PayResult(Outcome.NOT_CLAIMED)
        [claim] = claims
    row = claim
    query = query_of(handler)
    if row.previous in SENT and query is not None:
        asked = call_channel(query, _transfer(row))
        if asked.outcome is Outcome.FAILED:
            # That transfer is over (cancelled, expired, failed): record it and offer a new one at once.
            if not _packet_failed(row, asked, clock(), keep_claim=True):
                return PayResult(Outcome.NOT_CLAIMED)
            row.payout_renewals += 1
        elif asked.outcome is Outcome.CONFIRM and by_user:
            pass  # still waiting: sent again (same number, same amount) only to hand the user its package
        elif asked.outcome is not Outcome.NOT_FOUND:
            return _packet_record(row, asked, clock())
    return _packet_record(row, call_channel(handler, _transfer(row)), clock())


def _mine(row: Claim):
    """The row while our claim holds: still paying, with our attempt number."""
    return Participation.objects.filter(pk=row.pk, red_status=RedStatus.PAYING, payout_attempts=row.payout_attempts)


def _packet_record(row: Claim, answer: Answer, now: datetime) -> PayResult:
    outcome = answer.outcome
    if outcome is Outcome.PAID:
        _packet_paid(row, answer.text, now)
    elif outcome is Outcome.FAILED:
        _packet_failed(row, answer, now)
    elif outcome is Outcome.CONFIRM:
        _mine(row).update(red_status=RedStatus.AWAITING, pay_result=answer.text, update_time=now)
    elif outcome is Outcome.HELD:
        # Not sent: owed, and offered again on the next push (or when the operator lifts the limit).
        _mine(row).update(red_status=RedStatus.UNPAID, payout_claimed_at=None, pay_result=answer.text, update_time=now)
        logger.warning("payout %s held back by the channel's limits: %s", row.payout_no, answer.text)
    else:  # PENDING, UNKNOWN (or a NOT_FOUND answer to a send): stays paying, asked about later
        _mine(row).update(pay_result=answer.text, update_time=now)
    return PayResult(outcome, answer.confirm)


# Booking a confirmed transfer on PostgreSQL: the row, the player's totals, the ledger row and the repair of
# the payout's open errors in one statement (writable CTEs, one transaction, one round trip); the player, the
# ledger and the errors are written only if the row moved to paid.
_PAID = "UPDATE pay_clock_day SET red_status = %s, clock_money = %s, red_time = %s, pay_result = %s, update_time = %s "
_PAID += "WHERE id = %s AND red_status NOT IN (%s, %s) RETURNING id"
_PAID_PLAYER = (
    "UPDATE pay_clock_user SET income_money = income_money + %s, clock_max_money = GREATEST(clock_max_money, %s), "
    "update_time = %s WHERE uid = %s AND EXISTS (SELECT 1 FROM paid)"
)
_PAID_REPAIRED = (
    "UPDATE pay_clock_user_error_log SET status = %s, update_time = %s "
    "WHERE order_no = %s AND status = %s AND EXISTS (SELECT 1 FROM paid)"
)


def _packet_paid(row: Claim | Participation, text: str, now: datetime) -> bool:
    """Book a confirmed transfer, once — whoever holds the claim (a retry may have taken it over: the channel
    paid this payout once, and the retry's answer changes nothing more)."""
    amount = row.order_money + row.red_money
    content = (
        f"用户ID: {row.uid} 参与 {row.clock_day:%Y-%m-%d} 打卡活动红包发放：{yuan(amount)} 元"
        f"（本金 {yuan(row.order_money)} + 红包 {yuan(row.red_money)}）"
    )
    entry = {
        "uid": row.uid,
        "clock_day": row.clock_day,
        "money_type": MoneyType.RED_PACKET,
        "amount": amount,
        "reference": row.payout_no,
        "content": content,
        "now": now,
    }
    if connection.vendor == "postgresql":
        stamp = connection.ops.adapt_datetimefield_value(now)
        ledger, ledger_params = ledger_insert_sql(**entry, after="paid")
        sql = f"WITH paid AS ({_PAID}), player AS ({_PAID_PLAYER}), ledger AS ({ledger}), "
        sql += f"repaired AS ({_PAID_REPAIRED}) SELECT count(*) FROM paid"
        params = [RedStatus.PAID, amount, stamp, text, stamp, row.pk, RedStatus.PAID, RedStatus.UNPAID]
        params += [amount, amount, stamp, row.uid, *ledger_params]
        params += [ErrorStatus.REPAIRED, stamp, row.payout_no, ErrorStatus.OPEN]
        return _committed(sql, params)[0][0] == 1
    unpaid = Participation.objects.filter(pk=row.pk).exclude(red_status__in=[RedStatus.PAID, RedStatus.UNPAID])
    with transaction.atomic(durable=True):
        if not unpaid.update(
            red_status=RedStatus.PAID, clock_money=amount, red_time=now, pay_result=text, update_time=now
        ):
            return False
        Player.objects.filter(uid=row.uid).update(
            income_money=F("income_money") + amount,
            clock_max_money=Greatest(F("clock_max_money"), amount),
            update_time=now,
        )
        ledger_write(**entry)
        PayoutError.objects.filter(order_no=row.payout_no, status=ErrorStatus.OPEN).update(
            status=ErrorStatus.REPAIRED, update_time=now
        )
    return True


def _packet_failed(row: Claim, answer: Answer, now: datetime, *, keep_claim: bool = False) -> bool:
    """The channel will not pay this transfer: failed (owed, offered again with the next number) — or, when
    the caller goes on to offer the next transfer itself, still claimed by it."""
    status = RedStatus.PAYING if keep_claim else RedStatus.FAILED
    if not _record_failure(_mine(row), row, answer, now, status, "the channel did not pay the transfer"):
        return False
    logger.warning("payout %s refused or cancelled by the channel: %s", row.payout_no, answer.text)
    return True


def _record_failure(rows, row: Claim | Participation, answer: Answer, now: datetime, status: int, message: str) -> bool:
    """Move ``rows`` (the payout, fenced by the caller's condition) to ``status`` with its next renewal, and
    log the failure for the operator — one transaction; False when the fence no longer matches."""
    with transaction.atomic(durable=True):
        if not rows.update(
            red_status=status, payout_renewals=F("payout_renewals") + 1, pay_result=answer.text, update_time=now
        ):
            return False
        PayoutError.objects.create(
            clock_day_id=row.pk,
            clock_day=row.clock_day,
            red_money=row.order_money + row.red_money,
            order_no=row.payout_no,
            uid=row.uid,
            error_msg=message,
            pay_result=answer.text,
            create_time=now,
            update_time=now,
        )
    return True


def payout_record(payout_no: str, renewals: int, answer: Answer, *, now: datetime | None = None) -> bool:
    """The channel's notification about one transfer of a packet (``transfer-notify/``). Paid is booked once,
    whoever holds the claim; a failure counts only for the transfer that is the payout's current one."""
    now = now or timezone.now()
    row = Participation.objects.filter(payout_no=payout_no).first()
    if row is None:
        return False
    if answer.outcome is Outcome.PAID:
        return _packet_paid(row, answer.text, now)
    if answer.outcome is Outcome.FAILED:
        current = Participation.objects.filter(pk=row.pk, red_status__in=SENT, payout_renewals=renewals)
        return _record_failure(current, row, answer, now, RedStatus.FAILED, "the channel closed the transfer unpaid")
    return False  # not final: nothing to record


@dataclass(frozen=True)
class OpenResult:
    """What opening a packet gave: ``paid`` (money in the user's hands), ``confirm`` (the user confirms the
    channel's bill with ``confirm``), or ``pending`` (sent, not final)."""

    money: int  # stake + packet, fen
    state: str
    confirm: dict[str, str] | None = None


def packet_open(*, uid: int, handler: Handler | None = None, now: datetime | None = None) -> OpenResult:
    """A winner of yesterday's round opens their red packet (seed 3.7).

    From ``red_open`` (08:05) on the morning after the check-in. If the round is not settled yet it is
    settled first (under its row lock, once), rather than telling the user to come back. Opened again while
    its bill awaits their confirmation, it hands out the same bill again (or a new one once it was cancelled).
    """
    require_uid(uid)
    handler = resolve_handler(handler)
    now = now or timezone.now()
    day = calendar.checkin_round(now)
    the_round = Round.objects.filter(clock_day=day).first()
    if now < calendar.red_open_at(day, the_round or clock_settings.load()):
        raise RedNotOpen()
    part = Participation.objects.filter(uid=uid, clock_day=day).first()
    if the_round is None or part is None:
        raise NotParticipant("您没有参加昨日打卡活动哦")
    if part.clock_status != ClockStatus.CLOCKED_IN:
        raise NotWinner()
    round_settle_if_due(day, now=now)
    result = packet_pay(part.pk, handler=handler, now=now, by_user=True)
    row = Participation.objects.values("red_status", "order_money", "red_money", "pay_result").get(pk=part.pk)
    money = row["order_money"] + row["red_money"]
    if result.outcome is Outcome.PAID:
        return OpenResult(money, "paid")
    if result.outcome is Outcome.CONFIRM and result.confirm:
        return OpenResult(money, "confirm", result.confirm)
    if result.outcome in (Outcome.CONFIRM, Outcome.PENDING, Outcome.UNKNOWN):
        return OpenResult(money, "pending")
    if result.outcome is Outcome.FAILED:
        raise PayoutFailed()
    if result.outcome is Outcome.HELD:
        raise PayoutHeld()
    if row["red_status"] == RedStatus.PAID:
        raise AlreadyPaid()
    raise PayoutInProgress()


# --- refunds -----------------------------------------------------------------------------------------------


def refund_key(order: ClockOrder) -> str:
    """The refund's idempotency key at the channel (and its ledger reference); the same on every retry."""
    return f"{order.order_no}R"


def refund_pay(order_id: int, *, handler: Handler, now: datetime | None = None) -> Outcome:
    """Pay back one payment that could not join a round (``refund_status`` refunding), exactly once. A refund
    sent before without a final answer keeps its claim; once older than ``PAYOUT_RETRY_AFTER`` it is asked
    about first, and sent again with the same key only if the channel has no such refund."""
    clock = _clock(now)
    with transaction.atomic(durable=True):
        order = (
            ClockOrder.objects.select_for_update()
            .filter(
                Q(refund_claimed_at__isnull=True) | Q(refund_claimed_at__lte=_stale(clock())),
                pk=order_id,
                refund_status=RefundStatus.REFUNDING,
            )
            .first()
        )
        if order is None:
            return Outcome.NOT_CLAIMED
        sent_before = order.refund_claimed_at is not None
        ClockOrder.objects.filter(pk=order.pk).update(
            refund_attempts=F("refund_attempts") + 1, refund_claimed_at=clock(), update_time=clock()
        )
        order.refund_attempts += 1
    transfer = Transfer(
        refund_key(order),
        order.user_id,
        order.buyer_id,
        order.pay_amount,
        order.clock_day,
        "refund",
        order.transaction_id,
        total=order.pay_amount,
    )
    query = query_of(handler)
    if sent_before and query is not None:
        answer = call_channel(query, transfer)
        if answer.outcome is not Outcome.NOT_FOUND:
            return _refund_record(order, answer, clock(), fenced=True)
    return _refund_record(order, call_channel(handler, transfer), clock(), fenced=True)


def _refund_record(order: ClockOrder, answer: Answer, now: datetime, *, fenced: bool) -> Outcome:
    pending = ClockOrder.objects.filter(pk=order.pk, refund_status=RefundStatus.REFUNDING)
    mine = pending.filter(refund_attempts=order.refund_attempts) if fenced else pending
    key = refund_key(order)
    if answer.outcome is Outcome.PAID:  # booked whoever holds the claim, as for packets
        with transaction.atomic(durable=True):
            if pending.update(
                refund_status=RefundStatus.REFUNDED, refund_time=now, refund_result=answer.text, update_time=now
            ):
                ledger_write(
                    uid=order.user_id,
                    clock_day=order.clock_day,
                    money_type=MoneyType.REFUND,
                    amount=order.pay_amount,
                    reference=key,
                    content=f"订单 {order.order_no} 退款 {yuan(order.pay_amount)} 元（{order.refund_reason}）",
                    now=now,
                )
                PayoutError.objects.filter(order_no=key, status=ErrorStatus.OPEN).update(
                    status=ErrorStatus.REPAIRED, update_time=now
                )
    elif answer.outcome in (Outcome.FAILED, Outcome.HELD):
        with transaction.atomic(durable=True):
            # Released at once: the next push tries again, with the same key (WeChat and Alipay retry a
            # refund under its number).
            if mine.update(refund_claimed_at=None, refund_result=answer.text, update_time=now):
                PayoutError.objects.create(
                    clock_day_id=0,
                    clock_day=order.clock_day,
                    red_money=order.pay_amount,
                    order_no=key,
                    uid=order.user_id,
                    error_msg="the channel did not pay the refund",
                    pay_result=answer.text,
                    create_time=now,
                    update_time=now,
                )
    else:  # accepted and processing, or unknown: the claim stays, asked about once it is stale
        mine.update(refund_result=answer.text, update_time=now)
    return answer.outcome


def refund_record(key: str, answer: Answer, *, now: datetime | None = None) -> bool:
    """The channel's notification about a refund (``refund-notify/``)."""
    order = ClockOrder.objects.filter(order_no=key.removesuffix("R")).first() if key.endswith("R") else None
    if order is None or answer.outcome not in (Outcome.PAID, Outcome.FAILED):
        return False
    _refund_record(order, answer, now or timezone.now(), fenced=False)
    return True


def refunds_push(*, handler: Handler | None = None, now: datetime | None = None) -> tuple[dict[str, int], int]:
    """Try every pending refund once; return the outcomes and how many refunds are still pending."""
    handler = resolve_handler(handler)
    outcomes: dict[str, int] = {}
    pending = ClockOrder.objects.filter(refund_status=RefundStatus.REFUNDING)
    for pk in list(pending.order_by("pk").values_list("pk", flat=True)):
        try:
            outcome = str(refund_pay(pk, handler=handler, now=now))
        except Exception:  # as for packets: one broken row does not stop the others
            logger.exception("refund of pay_clock_order %s failed", pk)
            outcome = "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes, pending.count()


# --- the push job ------------------------------------------------------------------------------------------


@dataclass
class PushReport:
    clock_day: date
    outcomes: dict[str, int] = field(default_factory=dict)
    refunds: dict[str, int] = field(default_factory=dict)
    unpaid: int = 0  # winners of the round still not paid after the run (any state but paid)
    refunds_pending: int = 0
    # What the round's winners are still owed, by state: {"owed"|"failed"|"pending"|"awaiting": (count, fen)}
    owing: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Nothing left for the operator: every winner paid or holding a bill to confirm, no refund pending."""
        return not self.refunds_pending and all(state == "awaiting" for state in self.owing)


OWING_STATES = {
    RedStatus.UNPAID: "owed",
    RedStatus.FAILED: "failed",
    RedStatus.PAYING: "pending",
    RedStatus.AWAITING: "awaiting",
}


def round_owing(day: date) -> dict[str, tuple[int, int]]:
    """What round ``day``'s winners are still owed, by state, in one grouped query."""
    rows = (
        Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN)
        .exclude(red_status=RedStatus.PAID)
        .values("red_status")
        .annotate(n=Count("id"), fen=Sum(F("order_money") + F("red_money")))
    )
    return {OWING_STATES[RedStatus(r["red_status"])]: (r["n"], r["fen"] or 0) for r in rows}


def _push_claimed(
    report: PushReport, ids: list[int], handler: Handler, clock: Callable[[], datetime], now: datetime | None
) -> None:
    """Claim ``ids`` in one go, then pay each claimed row, one at a time (claim committed, handler called with
    no transaction open, record fenced on the claim). Claims still waiting for their turn are renewed before
    they look stale to another pusher (half of ``PAYOUT_RETRY_AFTER``): a slow channel must not make this
    job's own claims look abandoned; a claim someone else took over meanwhile is dropped."""
    try:
        pending = deque(_claim(ids, clock(), by_user=False))
    except Exception:
        # As for one row below: the batch stays claimable (the claim is one statement) and the run exits non-zero.
        logger.exception("push round %s: claiming pay_clock_day %s..%s failed", report.clock_day, ids[0], ids[-1])
        _tally(report, "error", len(ids))
        return
    _tally(report, str(Outcome.NOT_CLAIMED), len(ids) - len(pending))
    lease = timedelta(seconds=clock_settings.payout_retry_after / 2)
    claimed_at = clock()
    while pending:
        if clock() - claimed_at >= lease:
            claimed_at = clock()
            renewed = {"payout_claimed_at": claimed_at, "update_time": claimed_at}
            kept = deque(claim for claim in pending if _mine(claim).update(**renewed))
            _tally(report, str(Outcome.NOT_CLAIMED), len(pending) - len(kept))
            pending = kept
            continue
        claim = pending.popleft()
        try:
            outcome: Any = str(packet_pay(claim.pk, handler=handler, now=now, claim=claim).outcome)
        except Exception:
            # One broken row must not hold every later winner hostage: it stays paying (and the run exits
            # non-zero); it is asked about later with its same number.
            logger.exception("push round %s: payout of pay_clock_day %s failed", report.clock_day, claim.pk)
            outcome = "error"
        _tally(report, outcome)


def _tally(report: PushReport, outcome: str, n: int = 1) -> None:
    if n:
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + n


def round_push(
    day: date,
    *,
    handler: Handler | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    id_range: tuple[int, int] | None = None,
    refunds: bool = True,
) -> PushReport:
    """Pay every winner of round ``day`` who is not paid (not opened, failed, or sent longer than
    ``PAYOUT_RETRY_AFTER`` ago without a final answer — those are asked about first), then every pending
    refund. Keyset batches over the primary key — never OFFSET over rows being changed, the seed's bug that
    skipped every other batch. ``id_range`` (inclusive) lets several workers share one round."""
    handler = resolve_handler(handler)
    round_settle_if_due(day, now=now)
    report = PushReport(day)
    winners = Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN)
    if id_range:
        winners = winners.filter(pk__gte=id_range[0], pk__lte=id_range[1])
    # Candidates as of the start; each claim re-checks its rows against its own clock.
    due = winners.filter(_claimable_packets(now or timezone.now(), by_user=False))
    clock = _clock(now)
    last_id, done = 0, 0
    while True:
        batch = list(due.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:KEYSET_BATCH])
        if not batch:
            break
        for start in range(0, len(batch), CLAIM_BATCH):
            _push_claimed(report, batch[start : start + CLAIM_BATCH], handler, clock, now)
        last_id, done = batch[-1], done + len(batch)
        if progress:
            progress(f"round {day}: {done} payouts attempted")
    if refunds:
        report.refunds, report.refunds_pending = refunds_push(handler=handler, now=now)
    report.owing = round_owing(day)
    report.unpaid = sum(n for n, _ in report.owing.values())
    logger.info(
        "push round %s: %s; refunds %s; still owed %s, %s refunds pending",
        day,
        report.outcomes,
        report.refunds,
        report.owing,
        report.refunds_pending,
    )
    return report
