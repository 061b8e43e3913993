"""Money out: red packets (stake + packet) and refunds, each paid exactly once.

The state machine of one payout (``pay_clock_day.red_status``; refunds use ``pay_clock_order.refund_*``):

    unpaid(1) ──claim──▶ paying(3) ──SUCCESS──▶ paid(2)      (+ player totals, ledger row: one transaction)
    failed(4) ──claim──▶    │      ──FAIL─────▶ failed(4)    (+ pay_clock_user_error_log row)
    paying older than       │      ──exception/timeout──▶ stays paying: outcome unknown
    PAYOUT_RETRY_AFTER ─────┘

1. **Claim**: a conditional ``UPDATE … SET red_status = paying, payout_attempts = payout_attempts + 1`` from
   a claimable state, committed at once (``atomic(durable=True)``: calling this inside someone else's
   transaction is an error, because a rollback of it would forget a transfer that happened). Exactly one
   caller wins; the attempt number it wrote is its fence.
2. **Call** the handler with no transaction open and no lock held — a slow channel never blocks the
   database. The transfer's ``order_no`` is the row's ``payout_no``, minted with the row: every retry of
   one payout carries the same idempotency key, so the channel pays it at most once.
3. **Record** with a conditional ``UPDATE … WHERE red_status = paying AND payout_attempts = <fence>``. If a
   retry took the payout over meanwhile, the stale caller's record changes nothing.

The database decides every race (no cache lock): a process killed at any point leaves either a claimable
row or a *paying* row that ``clock_push_red`` retries, with the same ``payout_no``, once it is older than
``CLOCK["PAYOUT_RETRY_AFTER"]``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from .. import calendar
from ..conf import clock_settings
from ..deadline import call_with_deadline
from ..exceptions import (
    AlreadyPaid,
    InvalidInput,
    NoPayoutHandler,
    NotParticipant,
    NotWinner,
    PayoutFailed,
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
from .ledger import ledger_write
from .players import require_uid
from .settlement import round_settle_if_due

logger = logging.getLogger(__name__)

KEYSET_BATCH = 500


@dataclass(frozen=True)
class Transfer:
    """What a payout handler is asked to send. ``order_no`` is the idempotency key at the channel."""

    order_no: str
    uid: int
    openid: str
    amount: int  # fen
    clock_day: date
    kind: str = "packet"  # "packet" (stake + red packet) or "refund"
    transaction_id: str = ""  # refunds: the channel transaction that brought the money in


Handler = Callable[[Transfer], Mapping[str, Any]]


class Outcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the handler raised or timed out: left paying, retried later with the same key
    NOT_CLAIMED = "not_claimed"  # someone else holds it, or it is already paid


def resolve_handler(handler: Handler | None) -> Handler:
    handler = handler or clock_settings.import_payout_handler()
    if handler is None:
        raise NoPayoutHandler()
    if not callable(handler):
        raise InvalidInput("handler_invalid", "打款渠道必须是可调用对象")
    return handler


def transfer_succeeded(answer: Any) -> bool:
    """Success iff ``result_code == "SUCCESS"`` (and ``return_code == "SUCCESS"`` when present)."""
    if not isinstance(answer, Mapping) or answer.get("result_code") != "SUCCESS":
        return False
    return answer.get("return_code", "SUCCESS") == "SUCCESS"


def answer_text(answer: Any) -> str:
    """What a channel answered, as text that any database column takes: JSON when it can be, else ``repr``
    (a mapping with bytes keys or objects must not turn a paid transfer into an error), without NULs."""
    try:
        text = json.dumps(answer, ensure_ascii=False, default=str)
    except Exception:  # bytes keys, an object whose str() raises, a cycle…
        try:
            text = repr(answer)
        except Exception:  # a repr that raises: say so rather than fail the record
            text = f"<unprintable {type(answer).__name__}>"
    return text.replace("\x00", "")[:4000]


def _call(handler: Handler, transfer: Transfer) -> tuple[Outcome, str]:
    """Call the channel (outside any transaction: every claim before it is a durable, committed one) with
    ``CLOCK["PAYOUT_TIMEOUT"]``. Whatever the handler returns or raises maps to an outcome: a confirmed
    success, a refusal, or unknown (raised, timed out, or an answer that cannot even be read)."""
    try:
        answer = call_with_deadline(handler, transfer, timeout=clock_settings.payout_timeout)
    except Exception as exc:  # the outcome is unknown: the money may or may not have left
        logger.exception("transfer %s of %s fen: handler raised, outcome unknown", transfer.order_no, transfer.amount)
        return Outcome.UNKNOWN, answer_text(f"{type(exc).__name__}: {exc}")
    try:
        outcome = Outcome.PAID if transfer_succeeded(answer) else Outcome.FAILED
    except Exception:  # a mapping whose lookups raise: we cannot tell what happened
        logger.exception("transfer %s: the handler's answer cannot be read, outcome unknown", transfer.order_no)
        outcome = Outcome.UNKNOWN
    return outcome, answer_text(answer)


# --- red packets -------------------------------------------------------------------------------------------


def _claimable_packets(now: datetime, *, retry: bool) -> Q:
    if not retry:
        return Q(red_status=RedStatus.UNPAID)
    stale = now - timedelta(seconds=clock_settings.payout_retry_after)
    return Q(red_status__in=[RedStatus.UNPAID, RedStatus.FAILED]) | Q(
        red_status=RedStatus.PAYING, payout_claimed_at__lte=stale
    )


def _clock(now: datetime | None) -> Callable[[], datetime]:
    """The time of each step: the caller's fixed ``now`` (simulations, tests), else the wall clock at that step
    — a claim made ten minutes into a long push job must not look ten minutes old."""
    return (lambda: now) if now is not None else timezone.now


SETTLED_ROUND = Exists(Round.objects.filter(clock_day=OuterRef("clock_day"), settled_at__isnull=False))


def packet_pay(participation_id: int, *, handler: Handler, now: datetime | None = None, retry: bool = True) -> Outcome:
    """Pay one winner stake + packet, exactly once (see the module docstring). Only a settled round's
    packets can be claimed: before settlement a winner's packet is not known."""
    clock = _clock(now)
    now = clock()
    with transaction.atomic(durable=True):
        claimed = Participation.objects.filter(
            _claimable_packets(now, retry=retry),
            SETTLED_ROUND,
            pk=participation_id,
            clock_status=ClockStatus.CLOCKED_IN,
        ).update(
            red_status=RedStatus.PAYING,
            payout_attempts=F("payout_attempts") + 1,
            payout_claimed_at=now,
            update_time=now,
        )
        if not claimed:
            return Outcome.NOT_CLAIMED
        row = Participation.objects.get(pk=participation_id)  # our claim's row lock makes this consistent
    amount = row.order_money + row.red_money
    transfer = Transfer(row.payout_no, row.uid, row.source_uid, amount, row.clock_day)
    outcome, answer = _call(handler, transfer)
    now = clock()
    if outcome is Outcome.PAID:
        # A confirmed transfer is recorded whoever holds the claim now (unless the row is already paid): if a
        # retry took over meanwhile, the channel paid this payout_no once and the retry's answer, success
        # or "duplicate", changes nothing more.
        unpaid = Participation.objects.filter(pk=row.pk, red_status__in=[RedStatus.PAYING, RedStatus.FAILED])
        with transaction.atomic(durable=True):
            if unpaid.update(
                red_status=RedStatus.PAID, clock_money=amount, red_time=now, pay_result=answer, update_time=now
            ):
                Player.objects.filter(uid=row.uid).update(
                    income_money=F("income_money") + amount,
                    clock_max_money=Greatest(F("clock_max_money"), amount),
                    update_time=now,
                )
                ledger_write(
                    uid=row.uid,
                    clock_day=row.clock_day,
                    money_type=MoneyType.RED_PACKET,
                    amount=amount,
                    reference=row.payout_no,
                    content=f"用户ID: {row.uid} 参与 {row.clock_day:%Y-%m-%d} 打卡活动红包发放：{yuan(amount)} 元"
                    f"（本金 {yuan(row.order_money)} + 红包 {yuan(row.red_money)}）",
                )
                PayoutError.objects.filter(order_no=row.payout_no, status=ErrorStatus.OPEN).update(
                    status=ErrorStatus.REPAIRED, update_time=now
                )
    elif outcome is Outcome.UNKNOWN:
        # Nothing is decided; the row stays paying. Say why for the operator (only while the claim is ours).
        Participation.objects.filter(
            pk=row.pk, red_status=RedStatus.PAYING, payout_attempts=row.payout_attempts
        ).update(pay_result=answer, update_time=now)
    elif outcome is Outcome.FAILED:
        # A refusal counts only for our own claim: if a retry took over, its answer decides.
        mine = Participation.objects.filter(pk=row.pk, red_status=RedStatus.PAYING, payout_attempts=row.payout_attempts)
        with transaction.atomic(durable=True):
            if mine.update(red_status=RedStatus.FAILED, pay_result=answer, update_time=now):
                PayoutError.objects.create(
                    clock_day_id=row.pk,
                    clock_day=row.clock_day,
                    red_money=amount,
                    order_no=row.payout_no,
                    uid=row.uid,
                    error_msg="channel refused the transfer",
                    pay_result=answer,
                )
        logger.warning("payout %s of %s fen refused by the channel: %s", row.payout_no, amount, answer)
    return outcome


def packet_open(*, uid: int, handler: Handler | None = None, now: datetime | None = None) -> int:
    """A winner of yesterday's round opens their red packet (seed 3.7); returns stake + packet in fen.

    From ``red_open`` (08:05) on the morning after the check-in. If the round is not settled yet it is
    settled first (under its row lock, once), rather than telling the user to come back.
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
    outcome = packet_pay(part.pk, handler=handler, now=now, retry=False)
    if outcome is Outcome.PAID:
        return Participation.objects.values_list("clock_money", flat=True).get(pk=part.pk)
    if outcome is Outcome.FAILED:
        raise PayoutFailed()
    if outcome is Outcome.UNKNOWN:
        raise PayoutInProgress()
    status = Participation.objects.values_list("red_status", flat=True).get(pk=part.pk)
    raise {RedStatus.PAID: AlreadyPaid, RedStatus.FAILED: PayoutFailed}.get(status, PayoutInProgress)()


# --- refunds -----------------------------------------------------------------------------------------------


def refund_key(order: ClockOrder) -> str:
    """The refund's idempotency key at the channel (and its ledger reference)."""
    return f"{order.order_no}R"


def refund_pay(order_id: int, *, handler: Handler, now: datetime | None = None) -> Outcome:
    """Pay back one payment that could not join a round (``refund_status`` refunding), exactly once."""
    clock = _clock(now)
    now = clock()
    stale = now - timedelta(seconds=clock_settings.payout_retry_after)
    with transaction.atomic(durable=True):
        claimed = ClockOrder.objects.filter(
            Q(refund_claimed_at__isnull=True) | Q(refund_claimed_at__lte=stale),
            pk=order_id,
            refund_status=RefundStatus.REFUNDING,
        ).update(refund_attempts=F("refund_attempts") + 1, refund_claimed_at=now, update_time=now)
        if not claimed:
            return Outcome.NOT_CLAIMED
        order = ClockOrder.objects.get(pk=order_id)
    key = refund_key(order)
    transfer = Transfer(
        key, order.user_id, order.buyer_id, order.pay_amount, order.clock_day, "refund", order.transaction_id
    )
    outcome, answer = _call(handler, transfer)
    now = clock()
    pending = ClockOrder.objects.filter(pk=order.pk, refund_status=RefundStatus.REFUNDING)
    if outcome is Outcome.PAID:  # recorded whoever holds the claim now, as for packets
        with transaction.atomic(durable=True):
            if pending.update(
                refund_status=RefundStatus.REFUNDED, refund_time=now, refund_result=answer, update_time=now
            ):
                ledger_write(
                    uid=order.user_id,
                    clock_day=order.clock_day,
                    money_type=MoneyType.REFUND,
                    amount=order.pay_amount,
                    reference=key,
                    content=f"订单 {order.order_no} 退款 {yuan(order.pay_amount)} 元（{order.refund_reason}）",
                )
                PayoutError.objects.filter(order_no=key, status=ErrorStatus.OPEN).update(
                    status=ErrorStatus.REPAIRED, update_time=now
                )
    elif outcome is Outcome.FAILED:
        with transaction.atomic(durable=True):
            # Released at once: the next push tries again (the channel adapter derives a new number if it needs).
            if pending.filter(refund_attempts=order.refund_attempts).update(
                refund_claimed_at=None, refund_result=answer, update_time=now
            ):
                PayoutError.objects.create(
                    clock_day_id=0,
                    clock_day=order.clock_day,
                    red_money=order.pay_amount,
                    order_no=key,
                    uid=order.user_id,
                    error_msg="channel refused the refund",
                    pay_result=answer,
                )
    return outcome


def refunds_push(*, handler: Handler | None = None, now: datetime | None = None) -> tuple[dict[str, int], int]:
    """Try every pending refund once; return the outcomes and how many refunds are still pending."""
    handler = resolve_handler(handler)
    outcomes: dict[str, int] = {}
    pending = ClockOrder.objects.filter(refund_status=RefundStatus.REFUNDING)
    for pk in list(pending.order_by("pk").values_list("pk", flat=True)):
        try:
            outcome = refund_pay(pk, handler=handler, now=now)
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
    unpaid: int = 0  # winners of the round still not paid after the run
    refunds_pending: int = 0

    @property
    def complete(self) -> bool:
        return not self.unpaid and not self.refunds_pending


def round_push(
    day: date,
    *,
    handler: Handler | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    id_range: tuple[int, int] | None = None,
    refunds: bool = True,
) -> PushReport:
    """Pay every winner of round ``day`` who is not paid (not opened, failed, or paying for longer than
    ``PAYOUT_RETRY_AFTER``), then every pending refund. Keyset batches over the primary key — never OFFSET
    over rows being changed, the seed's bug that skipped every other batch. ``id_range`` (inclusive) lets
    several workers share one round."""
    handler = resolve_handler(handler)
    round_settle_if_due(day, now=now)
    report = PushReport(day)
    winners = Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN)
    if id_range:
        winners = winners.filter(pk__gte=id_range[0], pk__lte=id_range[1])
    # Candidates as of the start; each claim re-checks its own row against its own clock.
    due = winners.filter(_claimable_packets(now or timezone.now(), retry=True))
    last_id, done = 0, 0
    while True:
        batch = list(due.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:KEYSET_BATCH])
        if not batch:
            break
        for pk in batch:
            try:
                outcome = packet_pay(pk, handler=handler, now=now)
            except Exception:
                # One broken row must not hold every later winner hostage: it stays unpaid or paying (and the
                # run exits non-zero); a claimed row is retried with its same payout_no.
                logger.exception("push round %s: payout of pay_clock_day %s failed", day, pk)
                outcome = "error"
            report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
        last_id, done = batch[-1], done + len(batch)
        if progress:
            progress(f"round {day}: {done} payouts attempted")
    if refunds:
        report.refunds, report.refunds_pending = refunds_push(handler=handler, now=now)
    report.unpaid = winners.exclude(red_status=RedStatus.PAID).count()
    logger.info(
        "push round %s: %s; refunds %s; %s unpaid, %s refunds pending",
        day,
        report.outcomes,
        report.refunds,
        report.unpaid,
        report.refunds_pending,
    )
    return report
