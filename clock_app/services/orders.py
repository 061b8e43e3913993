"""Money in: stake orders and the channel's payment notifications (seed 3.2 and 3.3).

A notification is processed exactly once, whatever the channel's retries or concurrent deliveries: the order
moves ``waiting → paid`` by a conditional ``UPDATE`` (one winner), the channel's ``transaction_id`` is unique
in the database, and everything the payment changes — the order, the round's totals (``F()``), the
participation row, the player's totals, the ledger row — commits in one transaction.

Money that cannot join a round is kept visible, never silently (DESIGN §2): a payment made after its round's
entry closed, one overlapping the user's adjacent round, a second paid order or a second payment of a paid
order, the wrong amount or buyer, an order number the app never issued — each is recorded as a paid order row
marked *refunding* (or *review*, when no user can be named) with its reason and a ledger row;
``clock_push_red`` pays the refunds back.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import calendar
from ..cache import forget_on_commit, round_totals_key
from ..conf import clock_settings
from ..exceptions import AlreadyJoined, EntryClosed, EntryNotOpen, InvalidInput, OrderNumberExhausted
from ..models import (
    ClockOrder,
    MoneyType,
    OrderStatus,
    Participation,
    PayoutError,
    Player,
    RefundReason,
    RefundStatus,
    Round,
)
from ..money import yuan
from ..randomness import pseudonym
from .ledger import ledger_write
from .players import player_touch, require_uid
from .rounds import round_open

logger = logging.getLogger(__name__)

ORDER_NO_ATTEMPTS = 5


def _require_text(value: Any, code: str, message: str, max_length: int = 64) -> str:
    """A required text field, stripped; ``<field>_required`` if missing, ``<field>_invalid`` if it cannot be
    stored (longer than its column, or with a NUL character)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(code, message)
    value = value.strip()
    if len(value) > max_length or "\x00" in value:
        raise InvalidInput(code.replace("_required", "_invalid"), f"参数过长或含非法字符（最多 {max_length} 个字符）")
    return value


def _new_order_no(day: datetime | Any) -> str:
    """``TTC`` + ``YYYYMMDD`` + 10 random digits; uniqueness is the database's (``order_no`` is UNIQUE)."""
    return f"{clock_settings.order_prefix}{day:%Y%m%d}{secrets.randbelow(10**10):010d}"


def _waiting_order(uid: int, day: Any) -> ClockOrder | None:
    return ClockOrder.objects.filter(user_id=uid, clock_day=day, order_status=OrderStatus.WAITING).first()


def order_generate(*, uid: int, mobile: str, nickname: str, open_id: str, now: datetime | None = None) -> ClockOrder:
    """The stake order for today's round: a new one, or the user's waiting one again.

    Refused (nothing written) without mobile/nickname/openId, for a participant of yesterday's round before
    yesterday's red packets open (08:05), and for a user already in today's round.
    """
    uid = require_uid(uid)
    mobile = _require_text(
        mobile, "mobile_required", "您还没有授权手机号，为了更好的通知到您，请去先授权后参与哦", max_length=20
    )
    nickname = _require_text(nickname, "nickname_required", "您还没有授权昵称信息，请去先授权后参与哦")
    open_id = _require_text(open_id, "openid_required", "您还没有授权微信平台ID信息，请去先授权后参与哦")
    now = now or timezone.now()
    day = calendar.payment_round(now)

    previous = calendar.previous_round(day)
    if Participation.objects.filter(uid=uid, clock_day=previous).exists():
        previous_round = Round.objects.get(clock_day=previous)
        if now < calendar.red_open_at(previous, previous_round):
            raise EntryNotOpen()
    if Participation.objects.filter(uid=uid, clock_day=day).exists():
        raise AlreadyJoined()

    the_round = round_open(day, now=now)
    player_touch(uid=uid, nickname=nickname, mobile=mobile, source_uid=open_id, now=now)
    waiting = _waiting_order(uid, day)
    if waiting is not None:
        return waiting
    for _ in range(ORDER_NO_ATTEMPTS):
        try:
            with transaction.atomic():
                return ClockOrder.objects.create(
                    order_no=_new_order_no(day),
                    clock_day=day,
                    user_id=uid,
                    buyer_id=open_id,
                    pay_amount=the_round.participate_money,
                    create_time=now,
                    update_time=now,
                )
        except IntegrityError:
            # Either a concurrent request created this user's waiting order (return it) or the random
            # order number collided (draw another).
            waiting = _waiting_order(uid, day)
            if waiting is not None:
                return waiting
    raise OrderNumberExhausted()


@dataclass(frozen=True)
class Notification:
    """A payment notification as the app needs it; channel adapters build it from the channel's request."""

    order_no: str
    amount: int  # fen
    buyer_id: str
    transaction_id: str
    notify_time: datetime | str | None = None  # when the user paid, as the channel says it
    content: str = ""
    nickname: str = ""
    mobile: str = ""


class NotifyOutcome:
    JOINED = "joined"
    DUPLICATE = "duplicate"
    REFUND = "refund"  # recorded, kept for refund to the payer
    REVIEW = "review"  # recorded, kept for an operator: it cannot be tied to a user or contradicts our records


MAX_AMOUNT = 10**12  # fen; anything larger is not a stake of this game, whatever the channel says

_COMPACT_TIME = re.compile(r"\d{14}")


def _paid_at(value: datetime | str | None, now: datetime) -> datetime:
    """When the user paid (DESIGN §1): the channel's time — ISO 8601 with an offset, ``YYYY-MM-DD HH:MM:SS`` or
    ``YYYYMMDDHHMMSS``, naive values local to ``CLOCK["TIME_ZONE"]`` — else, absent or unreadable, the arrival.

    Never later than the arrival: a payment cannot have happened after its notification came.
    """
    parsed: datetime | None = None
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str) and _COMPACT_TIME.fullmatch(value.strip()):
            parsed = datetime.strptime(value.strip(), "%Y%m%d%H%M%S")
        elif isinstance(value, str):
            parsed = parse_datetime(value.strip())
    except ValueError:  # well-formed but impossible, such as February 30th
        parsed = None
    if parsed is None:
        if value:
            logger.warning("payment time %r is unreadable: the notification's arrival counts", value)
        return now
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, clock_settings.time_zone)
    return min(parsed, now)


def order_notify(notification: Notification, *, now: datetime | None = None) -> str:
    """Record a verified payment exactly once; return a :class:`NotifyOutcome` value.

    The channel has the user's money once it says so, so a payment is never refused without a record: one
    that cannot join its round — paid late, overlapping the user's other round, a second payment, the wrong
    amount or buyer, an order number the app never issued — is kept as its own paid order row, marked for
    refund (or for an operator's review when no user can be named), with a ledger row. Only a notification
    without the fields needed to record it (no transaction id, no amount) raises, and then changes nothing.
    A replay answers ``duplicate`` and changes nothing.
    """
    n = notification
    order_no = _require_text(n.order_no, "order_no_required", "缺少订单号")
    if isinstance(n.amount, bool) or not isinstance(n.amount, int) or not 0 < n.amount <= MAX_AMOUNT:
        raise InvalidInput("amount_invalid", "支付回调的金额必须是正整数（分）")
    transaction_id = _require_text(n.transaction_id, "transaction_id_required", "未获取支付回调的渠道订单号信息")
    buyer_id = _require_text(n.buyer_id, "buyer_id_required", "未获取支付回调的支付用户信息")
    now = now or timezone.now()
    paid_at = _paid_at(n.notify_time, now)
    order = ClockOrder.objects.filter(order_no=order_no).first()

    recorded = _recorded_as(transaction_id)
    if recorded is not None:
        if recorded in (order_no, _kept_order_no(order_no, transaction_id)):
            return NotifyOutcome.DUPLICATE
        return _record_conflict(order, order_no, recorded, n, paid_at, now)

    if order is None:
        problem = RefundReason.UNKNOWN_ORDER
    elif n.amount != order.pay_amount:
        problem = RefundReason.WRONG_AMOUNT
    elif buyer_id != order.buyer_id:
        problem = RefundReason.WRONG_BUYER
    else:
        problem = None
    try:
        with transaction.atomic():
            if problem is not None:
                outcome = _keep_payment(order, order_no, problem, n, paid_at, now)
            elif ClockOrder.objects.filter(pk=order.pk, order_status=OrderStatus.WAITING).update(
                order_status=OrderStatus.PAID,
                transaction_id=transaction_id,
                pay_time=paid_at,
                pay_result=n.content or "",
                update_time=now,
            ):
                outcome = _join_round(order, n, paid_at, now)
            else:  # the order is already paid by another transaction: the user was charged twice
                outcome = _keep_payment(order, order_no, RefundReason.DOUBLE_CHARGE, n, paid_at, now)
    except IntegrityError:
        # A concurrent delivery of the same transaction won the race (unique transaction_id).
        if _recorded_as(transaction_id) is not None:
            return NotifyOutcome.DUPLICATE
        raise
    day = order.clock_day if order is not None else calendar.payment_round(paid_at)
    forget_on_commit(round_totals_key(day))
    logger.info("payment %s for order %s: %s", transaction_id, order_no, outcome)
    return outcome


def _recorded_as(transaction_id: str) -> str | None:
    """The order number this channel transaction is booked under, if any."""
    return ClockOrder.objects.filter(transaction_id=transaction_id).values_list("order_no", flat=True).first()


def _kept_order_no(order_no: str, transaction_id: str) -> str:
    """The row of a payment kept apart from its order: ``<order_no>-<hash of the transaction>`` (fits 64)."""
    return f"{order_no[:55]}-{hashlib.sha256(transaction_id.encode()).hexdigest()[:8]}"


def _join_round(order: ClockOrder, n: Notification, paid_at: datetime, now: datetime) -> str:
    """Inside the notify transaction: add the paid order to its round, or keep it for refund.

    What counts is when the user paid (DESIGN §1): a payment made after 23:59:59 on D never joins round D,
    however its notification was delayed, and one made in time joins even if the notification comes late.
    The player's row is locked first, so the rule "no two consecutive rounds before the first one's packets
    open" holds whatever the order in which the two rounds' notifications arrive.
    """
    the_round = round_open(order.clock_day, now=now)
    player = player_touch(uid=order.user_id, nickname=n.nickname, mobile=n.mobile, source_uid=order.buyer_id, now=now)
    Player.objects.select_for_update().filter(pk=player.pk).values_list("pk").first()
    if the_round.is_settled or paid_at >= calendar.entries_close_at(order.clock_day):
        return _mark_refund(order, RefundReason.LATE, now)
    overlap = _overlapping_round(order.user_id, the_round, paid_at)
    if overlap is not None:
        return _mark_refund(order, overlap, now)
    try:
        with transaction.atomic():
            Participation.objects.create(
                uid=order.user_id,
                nickname=player.nickname,
                mobile=player.mobile,
                source_uid=order.buyer_id,
                clock_day=order.clock_day,
                order_no=order.order_no,
                order_money=order.pay_amount,
                discount_money=order.discount_money,
                payout_no=f"{order.order_no}P",
                pseudonym=pseudonym(the_round.split_seed, order.clock_day, order.order_no, n.transaction_id.strip())
                if the_round.statement_version >= 2
                else "",
                create_time=now,
                update_time=now,
            )
    except IntegrityError:
        return _mark_refund(order, RefundReason.DUPLICATE, now)
    Round.objects.filter(pk=the_round.pk).update(
        user_num=F("user_num") + 1, clock_money=F("clock_money") + order.pay_amount, update_time=now
    )
    Player.objects.filter(pk=player.pk).update(
        clock_num=F("clock_num") + 1, spend_money=F("spend_money") + order.pay_amount, update_time=now
    )
    ledger_write(
        uid=order.user_id,
        clock_day=order.clock_day,
        money_type=MoneyType.STAKE,
        amount=order.pay_amount,
        reference=order.order_no,
        content=f"用户ID：{order.user_id} 参与 {order.clock_day:%Y-%m-%d} 打卡活动花费 {yuan(order.pay_amount)} 元",
        now=now,
    )
    return NotifyOutcome.JOINED


def _overlapping_round(uid: int, the_round: Round, paid_at: datetime) -> RefundReason | None:
    """The seed's rule, both ways: a player of round D-1 joins round D only with a payment made from D-1's
    red-open time on; and a player already in round D+1 through a payment made before round D's red-open
    time cannot join D afterwards (a delayed notification of D's order must not put them in both)."""
    day = the_round.clock_day
    previous = Round.objects.filter(clock_day=calendar.previous_round(day)).first()
    if (
        previous is not None
        and paid_at < calendar.red_open_at(previous.clock_day, previous)
        and Participation.objects.filter(uid=uid, clock_day=previous.clock_day).exists()
    ):
        return RefundReason.EARLY
    if ClockOrder.objects.filter(
        user_id=uid,
        clock_day=day + calendar.ONE_DAY,
        order_status=OrderStatus.PAID,
        refund_status=RefundStatus.NONE,
        pay_time__lt=calendar.red_open_at(day, the_round),
    ).exists():
        return RefundReason.CONSECUTIVE
    return None


_REFUND_WORDS = {
    RefundReason.LATE: "支付时已过报名截止时间",
    RefundReason.DUPLICATE: "已参与该轮活动，重复支付",
    RefundReason.DOUBLE_CHARGE: "订单重复扣款",
    RefundReason.EARLY: "上一轮开奖前不能参与下一轮",
    RefundReason.CONSECUTIVE: "已参与下一轮活动",
    RefundReason.WRONG_AMOUNT: "支付金额与订单不符",
    RefundReason.WRONG_BUYER: "支付用户与订单不符",
    RefundReason.UNKNOWN_ORDER: "订单号不存在，待人工核查",
}


def _mark_refund(order: ClockOrder, reason: RefundReason, now: datetime) -> str:
    ClockOrder.objects.filter(pk=order.pk).update(
        refund_status=RefundStatus.REFUNDING, refund_reason=reason, update_time=now
    )
    _book_refundable_payment(order.order_no, order.user_id, order.clock_day, order.pay_amount, reason, now)
    logger.warning(
        "order %s paid but cannot join round %s (%s): marked for refund", order.order_no, order.clock_day, reason
    )
    return NotifyOutcome.REFUND


def _keep_payment(
    order: ClockOrder | None, order_no: str, reason: RefundReason, n: Notification, paid_at: datetime, now: datetime
) -> str:
    """A payment that is not its order's (a second charge, the wrong amount or buyer, an unknown order number):
    kept as its own paid order row with what the channel reported, for refund to the payer — or, when no
    order names a user, for an operator's review (``refund_status`` review)."""
    kept = ClockOrder.objects.create(
        order_no=_kept_order_no(order.order_no if order else order_no, n.transaction_id),
        clock_day=order.clock_day if order else calendar.payment_round(paid_at),
        user_id=order.user_id if order else 0,
        buyer_id=n.buyer_id.strip(),
        order_status=OrderStatus.PAID,
        pay_amount=n.amount,
        transaction_id=n.transaction_id.strip(),
        pay_time=paid_at,
        pay_result=n.content or "",
        refund_status=RefundStatus.REVIEW if order is None else RefundStatus.REFUNDING,
        refund_reason=reason,
        create_time=now,
        update_time=now,
    )
    _book_refundable_payment(kept.order_no, kept.user_id, kept.clock_day, kept.pay_amount, reason, now)
    logger.warning(
        "payment %s of %s fen for order %s kept apart as %s (%s)",
        n.transaction_id,
        n.amount,
        order_no,
        kept.order_no,
        reason,
    )
    return NotifyOutcome.REVIEW if order is None else NotifyOutcome.REFUND


def _record_conflict(
    order: ClockOrder | None, order_no: str, recorded: str, n: Notification, paid_at: datetime, now: datetime
) -> str:
    """A signed payment whose transaction is already booked for another order: the money moved once (one
    transaction), so nothing is booked again — but the contradiction is recorded once for an operator."""
    message = f"transaction_conflict: {n.transaction_id} is booked for order {recorded}"
    with transaction.atomic():
        # The booked order's row lock serialises concurrent deliveries of the same contradiction.
        ClockOrder.objects.select_for_update().filter(order_no=recorded).values_list("pk").first()
        if not PayoutError.objects.filter(order_no=order_no[:64], error_msg=message).exists():
            PayoutError.objects.create(
                clock_day_id=0,
                clock_day=order.clock_day if order else calendar.payment_round(paid_at),
                red_money=n.amount,
                order_no=order_no[:64],
                uid=order.user_id if order else 0,
                error_msg=message,
                pay_result=n.content or "",
                create_time=now,
                update_time=now,
            )
    logger.error("payment %s for order %s: %s", n.transaction_id, order_no, message)
    return NotifyOutcome.REVIEW


def _book_refundable_payment(
    reference: str, uid: int, day: date, amount: int, reason: RefundReason, now: datetime
) -> None:
    ledger_write(
        uid=uid,
        clock_day=day,
        money_type=MoneyType.STAKE,
        amount=amount,
        reference=reference,
        content=f"用户ID：{uid} 支付 {yuan(amount)} 元未计入 {day:%Y-%m-%d} 打卡活动（{_REFUND_WORDS[reason]}），"
        + ("待人工核查后原路退款" if reason == RefundReason.UNKNOWN_ORDER else "将原路退款"),
        now=now,
    )


def order_release_for_refund(order_id: int, *, now: datetime | None = None) -> bool:
    """An operator's decision on a payment held for review: pay it back to the payer (``review → refunding``)."""
    return bool(
        ClockOrder.objects.filter(pk=order_id, refund_status=RefundStatus.REVIEW).update(
            refund_status=RefundStatus.REFUNDING, update_time=now or timezone.now()
        )
    )


def order_payment_deadline(order: ClockOrder, *, now: datetime | None = None) -> datetime:
    """The moment the channel must stop taking this order's payment (23:59:59 on its round's day), after
    refusing an order whose round no longer takes stakes."""
    now = now or timezone.now()
    if now >= calendar.entries_close_at(order.clock_day):
        raise EntryClosed()
    return calendar.payment_deadline(order.clock_day)
