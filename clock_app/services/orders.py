"""Money in: stake orders and the channel's payment notifications (seed 3.2 and 3.3).

A notification is processed exactly once, whatever the channel's retries or concurrent deliveries: the order
moves ``waiting → paid`` by a conditional ``UPDATE`` (one winner), the channel's ``transaction_id`` is unique
in the database, and everything the payment changes — the order, the round's totals (``F()``), the
participation row, the player's totals, the ledger row — commits in one transaction.

Money that cannot join a round is kept visible, never silently: a payment arriving once its round's check-in
window has opened, a second paid order for a round the user is already in, or a second payment of a paid
order are recorded as paid and marked *refunding* with the reason; ``clock_push_red`` pays them back.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .. import calendar
from ..cache import forget_on_commit, round_totals_key
from ..conf import clock_settings
from ..exceptions import (
    AlreadyJoined,
    AmountMismatch,
    BuyerMismatch,
    EntryNotOpen,
    InvalidInput,
    OrderNotFound,
    OrderNumberExhausted,
    TransactionConflict,
)
from ..models import (
    ClockOrder,
    MoneyType,
    OrderStatus,
    Participation,
    Player,
    RefundReason,
    RefundStatus,
    Round,
)
from ..money import yuan
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
    player_touch(uid=uid, nickname=nickname, mobile=mobile, source_uid=open_id)
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
    notify_time: datetime | str | None = None
    content: str = ""
    nickname: str = ""
    mobile: str = ""


class NotifyOutcome:
    JOINED = "joined"
    DUPLICATE = "duplicate"
    REFUND = "refund"


def _paid_at(value: datetime | str | None, now: datetime) -> datetime:
    """The channel's payment time (naive values are local to ``CLOCK["TIME_ZONE"]``); ``now`` if unreadable."""
    try:
        parsed = value if isinstance(value, datetime) else parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, such as February 30th
        parsed = None
    if parsed is None:
        return now
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, clock_settings.time_zone)
    return parsed


def order_notify(notification: Notification, *, now: datetime | None = None) -> str:
    """Record a payment exactly once; return a :class:`NotifyOutcome` value.

    Bad input (unknown order, wrong amount or buyer, missing transaction id, a transaction id recorded for
    another order) raises and changes nothing. A replay answers ``duplicate`` and changes nothing.
    """
    n = notification
    order_no = _require_text(n.order_no, "order_no_required", "缺少订单号")
    if isinstance(n.amount, bool) or not isinstance(n.amount, int):
        raise InvalidInput("amount_invalid", "支付回调的金额必须是整数（分）")
    transaction_id = _require_text(n.transaction_id, "transaction_id_required", "未获取支付回调的渠道订单号信息")
    buyer_id = _require_text(n.buyer_id, "buyer_id_required", "未获取支付回调的支付用户信息")
    order = ClockOrder.objects.filter(order_no=order_no).first()
    if order is None:
        raise OrderNotFound(f"订单号不存在，order_no: {order_no}")
    if n.amount != order.pay_amount:
        raise AmountMismatch()
    if buyer_id != order.buyer_id:
        raise BuyerMismatch()
    if _already_recorded(order, transaction_id):
        return NotifyOutcome.DUPLICATE

    now = now or timezone.now()
    paid_at = _paid_at(n.notify_time, now)
    try:
        with transaction.atomic():
            claimed = ClockOrder.objects.filter(pk=order.pk, order_status=OrderStatus.WAITING).update(
                order_status=OrderStatus.PAID,
                transaction_id=transaction_id,
                pay_time=paid_at,
                pay_result=n.content or "",
                update_time=now,
            )
            if claimed:
                outcome = _join_round(order, n, now)
            else:
                outcome = _record_second_payment(order, transaction_id, n, paid_at, now)
    except IntegrityError:
        # A concurrent delivery of the same transaction won the race (unique transaction_id).
        if _already_recorded(order, transaction_id):
            return NotifyOutcome.DUPLICATE
        raise
    forget_on_commit(round_totals_key(order.clock_day))
    logger.info("payment %s for order %s: %s", transaction_id, order_no, outcome)
    return outcome


def _already_recorded(order: ClockOrder, transaction_id: str) -> bool:
    """True if this transaction is already booked for ``order`` (or as its double charge); raises if it is
    booked for an unrelated order."""
    holder = ClockOrder.objects.filter(transaction_id=transaction_id).only("order_no").first()
    if holder is None:
        return False
    if holder.order_no == order.order_no or holder.order_no.startswith(order.order_no + "-"):
        return True
    raise TransactionConflict(transaction_id=transaction_id, order_no=holder.order_no)


def _join_round(order: ClockOrder, n: Notification, now: datetime) -> str:
    """Inside the notify transaction: add the paid order to its round, or mark it for refund."""
    the_round = round_open(order.clock_day, now=now)
    window_start, _ = calendar.window(order.clock_day, the_round)
    if the_round.is_settled or now >= window_start:
        return _mark_refund(order, RefundReason.LATE, now)
    if _in_unopened_previous_round(order, now):
        return _mark_refund(order, RefundReason.EARLY, now)
    player = player_touch(uid=order.user_id, nickname=n.nickname, mobile=n.mobile, source_uid=order.buyer_id)
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
            )
    except IntegrityError:
        return _mark_refund(order, RefundReason.DUPLICATE, now)
    Round.objects.filter(pk=the_round.pk).update(
        user_num=F("user_num") + 1, clock_money=F("clock_money") + order.pay_amount, update_time=now
    )
    Player.objects.filter(uid=order.user_id).update(
        clock_num=F("clock_num") + 1, spend_money=F("spend_money") + order.pay_amount, update_time=now
    )
    ledger_write(
        uid=order.user_id,
        clock_day=order.clock_day,
        money_type=MoneyType.STAKE,
        amount=order.pay_amount,
        reference=order.order_no,
        content=f"用户ID：{order.user_id} 参与 {order.clock_day:%Y-%m-%d} 打卡活动花费 {yuan(order.pay_amount)} 元",
    )
    return NotifyOutcome.JOINED


def _in_unopened_previous_round(order: ClockOrder, now: datetime) -> bool:
    """The rule of order time, checked again at payment: a participant of the previous round may join this one
    only from that round's red-open time (orders made either side of midnight could otherwise both join)."""
    previous = calendar.previous_round(order.clock_day)
    if not Participation.objects.filter(uid=order.user_id, clock_day=previous).exists():
        return False
    return now < calendar.red_open_at(previous, Round.objects.get(clock_day=previous))


_REFUND_WORDS = {
    RefundReason.LATE: "支付时已过报名时间",
    RefundReason.DUPLICATE: "已参与该轮活动，重复支付",
    RefundReason.DOUBLE_CHARGE: "订单重复扣款",
    RefundReason.EARLY: "上一轮开奖前不能参与下一轮",
}


def _mark_refund(order: ClockOrder, reason: RefundReason, now: datetime) -> str:
    ClockOrder.objects.filter(pk=order.pk).update(
        refund_status=RefundStatus.REFUNDING, refund_reason=reason, update_time=now
    )
    _book_refundable_payment(order.order_no, order, reason)
    logger.warning(
        "order %s paid but cannot join round %s (%s): marked for refund", order.order_no, order.clock_day, reason
    )
    return NotifyOutcome.REFUND


def _record_second_payment(
    order: ClockOrder, transaction_id: str, n: Notification, paid_at: datetime, now: datetime
) -> str:
    """The order is already paid by another transaction: the channel charged the user twice. Keep the second
    payment as its own paid order row (``<order_no>-<hash of the transaction>``) marked for refund."""
    suffix = hashlib.sha256(transaction_id.encode()).hexdigest()[:8]
    second = ClockOrder.objects.create(
        order_no=f"{order.order_no}-{suffix}",
        clock_day=order.clock_day,
        user_id=order.user_id,
        buyer_id=order.buyer_id,
        order_status=OrderStatus.PAID,
        pay_amount=n.amount,
        transaction_id=transaction_id,
        pay_time=paid_at,
        pay_result=n.content or "",
        refund_status=RefundStatus.REFUNDING,
        refund_reason=RefundReason.DOUBLE_CHARGE,
    )
    _book_refundable_payment(second.order_no, second, RefundReason.DOUBLE_CHARGE)
    logger.warning("order %s paid twice (second transaction %s): marked for refund", order.order_no, transaction_id)
    return NotifyOutcome.REFUND


def _book_refundable_payment(reference: str, order: ClockOrder, reason: RefundReason) -> None:
    ledger_write(
        uid=order.user_id,
        clock_day=order.clock_day,
        money_type=MoneyType.STAKE,
        amount=order.pay_amount,
        reference=reference,
        content=f"用户ID：{order.user_id} 支付 {yuan(order.pay_amount)} 元未计入 {order.clock_day:%Y-%m-%d} "
        f"打卡活动（{_REFUND_WORDS[reason]}），将原路退款",
    )
