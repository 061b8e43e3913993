"""Helpers that drive players through the public services (no hand-made rows unless a test needs one)."""

from __future__ import annotations

from datetime import date, datetime

import time_machine

from clock_app.models import ClockOrder, Participation
from clock_app.services.orders import Notification, order_generate, order_notify

from .conftest import local


def profile(uid: int) -> dict[str, str]:
    return {"mobile": f"138{uid:08d}", "nickname": f"player{uid}", "openId": f"open-{uid}"}


def order_for(uid: int, at: datetime) -> ClockOrder:
    p = profile(uid)
    with time_machine.travel(at, tick=False):
        return order_generate(uid=uid, mobile=p["mobile"], nickname=p["nickname"], open_id=p["openId"])


def pay(order: ClockOrder, at: datetime, transaction_id: str | None = None, amount: int | None = None) -> str:
    with time_machine.travel(at, tick=False):
        return order_notify(
            Notification(
                order_no=order.order_no,
                amount=order.pay_amount if amount is None else amount,
                buyer_id=order.buyer_id,
                transaction_id=transaction_id or f"wx-{order.order_no}",
            )
        )


def join(uid: int, day: date | str, clock: str = "12:00:00") -> Participation:
    """``uid`` pays the stake for round ``day`` at local ``clock`` on that day."""
    at = local(day, clock)
    order = order_for(uid, at)
    pay(order, at)
    return Participation.objects.get(uid=uid, clock_day=order.clock_day)
