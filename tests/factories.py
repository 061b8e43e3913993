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


def pay(
    order: ClockOrder,
    at: datetime,
    transaction_id: str | None = None,
    amount: int | None = None,
    *,
    paid_at: datetime | None = None,
    buyer_id: str | None = None,
) -> str:
    """The channel's notification of ``order``'s payment arrives at ``at``; the user paid at ``paid_at``
    (the channel's signed time; default: no time given, so the arrival counts)."""
    with time_machine.travel(at, tick=False):
        return order_notify(
            Notification(
                order_no=order.order_no,
                amount=order.pay_amount if amount is None else amount,
                buyer_id=order.buyer_id if buyer_id is None else buyer_id,
                transaction_id=transaction_id or f"wx-{order.order_no}",
                notify_time=paid_at.isoformat() if paid_at else None,
            )
        )


def join(uid: int, day: date | str, clock: str = "12:00:00") -> Participation:
    """``uid`` pays the stake for round ``day`` at local ``clock`` on that day."""
    at = local(day, clock)
    order = order_for(uid, at)
    pay(order, at)
    return Participation.objects.get(uid=uid, clock_day=order.clock_day)


def clock(uid: int, day: date | str, at: str = "06:00:00") -> None:
    """``uid`` clocks in for round ``day`` (on the next morning, at local ``at``)."""
    from datetime import timedelta

    from clock_app.services.checkin import clock_in

    if isinstance(day, str):
        day = date.fromisoformat(day)
    with time_machine.travel(local(day + timedelta(days=1), at), tick=False):
        clock_in(uid=uid)


def play_round(day: date, payers: int, clockers: int, first_uid: int = 1) -> list[int]:
    """``payers`` users join round ``day``; the first ``clockers`` of them clock in. Returns the uids."""
    uids = list(range(first_uid, first_uid + payers))
    for uid in uids:
        join(uid, day, "10:00:00")
    for uid in uids[:clockers]:
        clock(uid, day)
    return uids


class Channel:
    """A payout handler that records every call; answers can be scripted per call."""

    def __init__(self, *answers) -> None:
        self.calls: list = []
        self._answers = list(answers)

    def __call__(self, transfer):
        self.calls.append(transfer)
        answer = self._answers.pop(0) if self._answers else {"return_code": "SUCCESS", "result_code": "SUCCESS"}
        if isinstance(answer, Exception):
            raise answer
        return answer
