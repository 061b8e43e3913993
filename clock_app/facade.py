"""Seed-parity facades: ``CashClock``, ``ClockCenter``, ``Participator`` (olaf/clock's public classes).

Every method returns the seed's envelope ``{"status": 1|0, "message": str, "data": dict}``; a failure adds
``"code"``, a stable machine-readable string. The work is done by ``services`` (writes) and ``selectors``
(reads), which raise :class:`~clock_app.exceptions.ClockError`; this module is the only place that turns
those into envelopes. Anything else (a bug, a database outage) is not swallowed: it propagates.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from django.utils import timezone

from . import calendar, selectors
from .exceptions import ClockError, InvalidInput, RoundNotFound
from .exports import MAX_STATEMENT_PAGE, STATEMENT_PAGE, statement_dict
from .services.checkin import clock_in
from .services.orders import Notification, order_generate, order_notify
from .services.payouts import Handler, packet_open
from .services.players import player_remind, player_toast_shown, player_touch, require_uid

logger = logging.getLogger(__name__)

Envelope = dict[str, Any]
SUCCESS_MESSAGE = "业务操作成功"
F = TypeVar("F", bound=Callable[..., dict[str, Any]])


def success(data: Mapping[str, Any] | None = None, message: str = SUCCESS_MESSAGE) -> Envelope:
    return {"status": 1, "message": message, "data": dict(data or {})}


def failure(error: ClockError) -> Envelope:
    return {"status": 0, "message": error.message, "data": {}, "code": error.code}


def enveloped(method: F) -> F:
    """Wrap a method returning ``data`` into the seed's envelope; a ``ClockError`` becomes a failure."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Envelope:
        try:
            return success(method(*args, **kwargs))
        except ClockError as error:
            logger.info("%s refused: %s (%s)", method.__qualname__, error.code, error.message)
            return failure(error)

    return wrapper  # type: ignore[return-value]


def _extra(extra: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return extra if isinstance(extra, Mapping) else {}


class CashClock:
    """Money in and out: stake orders, payment notifications, opening red packets."""

    @enveloped
    def generate_clock_order(self, uid: int, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        extra = _extra(extra)
        order = order_generate(
            uid=uid, mobile=extra.get("mobile"), nickname=extra.get("nickname"), open_id=extra.get("openId")
        )
        return {
            "order_id": order.pk,
            "order_no": order.order_no,
            "pay_amount": order.pay_amount,
            "clock_day": order.clock_day.isoformat(),
        }

    @enveloped
    def notify_clock_order(self, order_no: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        extra = _extra(extra)
        outcome = order_notify(
            Notification(
                order_no=order_no,
                amount=extra.get("amount"),  # type: ignore[arg-type]  (validated by the service)
                buyer_id=extra.get("buyerId"),  # type: ignore[arg-type]
                transaction_id=extra.get("transactionId"),  # type: ignore[arg-type]
                notify_time=extra.get("notify_time"),
                content=str(extra.get("content") or ""),
                nickname=str(extra.get("nickname") or ""),
                mobile=str(extra.get("mobile") or ""),
            )
        )
        return {"outcome": outcome}

    @enveloped
    def user_open_red(self, uid: int, handler: Handler | None = None) -> dict[str, Any]:
        """Pay a winner of yesterday's round stake + packet through ``handler`` (default
        ``CLOCK["PAYOUT_HANDLER"]``); ``handler(transfer) -> Mapping`` is the seed's closure."""
        opened = packet_open(uid=uid, handler=handler)
        assign: dict[str, Any] = {"money": opened.money, "state": opened.state}
        if opened.confirm is not None:
            assign["confirm"] = opened.confirm
        return {"assign": assign}


def _profile(extra: Mapping[str, Any]) -> dict[str, str]:
    return {
        "nickname": str(extra.get("nickname") or ""),
        "mobile": str(extra.get("mobile") or ""),
        "source_uid": str(extra.get("openId") or ""),
    }


class ClockCenter:
    """What the challenge page shows and the check-in itself."""

    @enveloped
    def init(self) -> dict[str, Any]:
        return {"summary": selectors.home_summary(None)}

    @enveloped
    def summary(self, uid: int, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        uid, now = require_uid(uid), timezone.now()
        found, statuses = selectors.player_with_statuses(uid, now)
        player = player_touch(uid=uid, now=now, found=found, **_profile(_extra(extra)))
        return {"summary": selectors.home_summary(player, now, statuses if found is not None else None)}

    @enveloped
    def check_user_clock(self, uid: int) -> dict[str, Any]:
        return {"is_check_in": int(selectors.is_checked_in(require_uid(uid)))}

    @enveloped
    def clock(self, uid: int) -> dict[str, Any]:
        return {"money": clock_in(uid=uid)}

    @enveloped
    def user_remind(self, uid: int) -> dict[str, Any]:
        return {"is_remind": int(player_remind(uid=uid))}

    @enveloped
    def top_clock(self) -> dict[str, Any]:
        return {"talent": selectors.talents()}

    @enveloped
    def record_clock(self, page: int = 0, limit: int = 10) -> dict[str, Any]:
        return {"records": selectors.income_board(page, limit)}

    @enveloped
    def round_statement(self, day: date | str, page: int = 0, limit: int = STATEMENT_PAGE) -> dict[str, Any]:
        """A round's public statement: rules and ``seed_hash`` from its first order; once settled, the
        revealed seed, the totals and its packets under per-round pseudonyms, ``limit`` (≤ 1,000) per page
        (``next_page`` is None on the last; the whole file: ``clock_statement`` or the ``.jsonl`` endpoint)."""
        try:
            round_day = calendar.parse_day(day)
        except ValueError:
            raise InvalidInput("day_invalid", "日期格式应为 YYYY-MM-DD") from None
        selectors.page_bounds(page, limit, max_limit=MAX_STATEMENT_PAGE)
        found = statement_dict(round_day, page=page, limit=limit)
        if found is None:
            raise RoundNotFound()
        return {"statement": found}


class Participator:
    """A participant's own pages and settings."""

    @enveloped
    def information(self, uid: int, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        player = player_touch(uid=require_uid(uid), **_profile(_extra(extra)))
        return {"info": selectors.player_information(player)}

    @enveloped
    def money_float_items(self, uid: int, page: int = 0, limit: int = 10) -> dict[str, Any]:
        return selectors.ledger_page(require_uid(uid), page, limit)

    @enveloped
    def show_toast(self, uid: int) -> dict[str, Any]:
        player_toast_shown(uid=uid)
        return {"is_setting": 1}

    @enveloped
    def yesterday_clock(self, uid: int) -> dict[str, Any]:
        return {"yesterday": selectors.yesterday_status(require_uid(uid))}
