"""The payout handler contract: what the app asks a channel to send, and how it reads the answer.

A handler is ``handler(transfer) -> Mapping`` (the seed's closure). The answer's ``result_code`` says what
happened to the transfer (DESIGN §7 names the four outcomes a channel can give):

=====================  ===================================================================================
``"SUCCESS"``          paid (and ``return_code == "SUCCESS"`` when present) — the seed's only success
``"WAIT_USER_CONFIRM"`` accepted, waiting for the user to confirm it at the channel; ``confirm`` carries what
                       the client needs (WeChat: ``{"mchId", "appId", "package"}`` for
                       ``wx.requestMerchantTransfer``). Nothing is booked yet.
``"PENDING"``          accepted, not final (processing). Nothing is booked yet.
``"HELD"``             not sent: the channel cannot pay this amount (below its minimum, above a cap);
                       ``err_code`` says why. The money stays owed.
``"UNKNOWN"``          the adapter cannot tell (timeout after sending, an answer it cannot verify)
anything else          failed: the channel confirmed it did not and will not pay this transfer
=====================  ===================================================================================

An exception, a timeout (``CLOCK["PAYOUT_TIMEOUT"]``) or an answer that cannot be read is UNKNOWN too. A
seed-style handler (``SUCCESS``/``FAIL``) keeps working unchanged: it never says the new codes.

A handler may also have a ``query`` attribute, ``handler.query(transfer) -> Mapping``, answering the same
codes plus ``"NOT_FOUND"`` (the channel has no such transfer). The app asks it before sending again a
transfer whose outcome is unknown or not final, and sends again — the same number, the same amount — only
when the channel has no such transfer.

``transfer.order_no`` is the payout's key, the same on every retry (``payout_no``, or ``<order_no>R`` for a
refund). ``transfer.renewals`` counts the transfers of this payout the channel confirmed as failed; an
adapter whose channel needs a fresh number after a confirmed failure sends :func:`channel_number`, which
derives it from the key in letters and digits (WeChat's ``out_bill_no`` alphabet): ``<key>`` first, then
``<key>N2``, ``<key>N3``…
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from ..conf import clock_settings
from ..deadline import call_with_deadline
from ..exceptions import InvalidInput, NoPayoutHandler

logger = logging.getLogger(__name__)


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
    renewals: int = 0  # transfers of this payout the channel confirmed as failed so far
    total: int = 0  # refunds: the amount of the payment being refunded (fen)

    @property
    def channel_no(self) -> str:
        return channel_number(self.order_no, self.renewals)


Handler = Callable[[Transfer], Mapping[str, Any]]


class Outcome(StrEnum):
    PAID = "paid"
    CONFIRM = "confirm"  # accepted; waits for the user's confirmation at the channel
    PENDING = "pending"  # accepted, not final
    HELD = "held"  # not sent: outside the channel's limits; still owed
    FAILED = "failed"  # the channel will not pay this transfer
    UNKNOWN = "unknown"  # raised, timed out or unreadable: asked about before anything is sent again
    NOT_FOUND = "not_found"  # (queries) the channel has no such transfer
    NOT_CLAIMED = "not_claimed"  # someone else holds the payout, or it is already paid


_CODES = {
    "SUCCESS": Outcome.PAID,
    "WAIT_USER_CONFIRM": Outcome.CONFIRM,
    "PENDING": Outcome.PENDING,
    "HELD": Outcome.HELD,
    "UNKNOWN": Outcome.UNKNOWN,
    "NOT_FOUND": Outcome.NOT_FOUND,
}


def channel_number(key: str, renewals: int) -> str:
    """The channel-side number of a payout's ``renewals``-th re-offer: ``key``, then ``key + "N2"``…"""
    return key if renewals == 0 else f"{key}N{renewals + 1}"


_RENEWED = re.compile(r"(?P<key>.+?)N(?P<n>[2-9]|[1-9]\d+)")


def parse_channel_number(number: str, *, key_suffix: str) -> tuple[str, int]:
    """``(key, renewals)`` from a channel-side number (the inverse of :func:`channel_number`); ``key_suffix``
    is the last character every key of that kind ends with (``P`` for packets, ``R`` for refunds)."""
    match = _RENEWED.fullmatch(number)
    if match and match["key"].endswith(key_suffix):
        return match["key"], int(match["n"]) - 1
    return number, 0


def transfer_outcome(answer: Any) -> Outcome:
    """What an answer says happened (see the module docstring); anything unrecognised is a failure."""
    if not isinstance(answer, Mapping):
        return Outcome.FAILED
    code = answer.get("result_code")
    if answer.get("return_code", "SUCCESS") != "SUCCESS" or not isinstance(code, str):
        return Outcome.FAILED
    return _CODES.get(code, Outcome.FAILED)


def transfer_succeeded(answer: Any) -> bool:
    """The seed's rule: success iff ``result_code == "SUCCESS"`` (and ``return_code`` too when present)."""
    return transfer_outcome(answer) is Outcome.PAID


def confirm_of(answer: Any) -> dict[str, str] | None:
    """The client's confirmation parameters of a WAIT_USER_CONFIRM answer, as plain strings."""
    confirm = answer.get("confirm") if isinstance(answer, Mapping) else None
    if not isinstance(confirm, Mapping):
        return None
    return {str(name): str(value) for name, value in confirm.items()}


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


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    text: str  # stored as pay_result / refund_result
    confirm: dict[str, str] | None = None


def call_channel(function: Callable[[Transfer], Any], transfer: Transfer) -> Answer:
    """Call a handler or its ``query`` with ``CLOCK["PAYOUT_TIMEOUT"]``, outside any transaction (every claim
    before it is a durable, committed one). Whatever it returns or raises maps to an outcome."""
    try:
        answer = call_with_deadline(function, transfer, timeout=clock_settings.payout_timeout)
    except Exception as exc:  # the outcome is unknown: the money may or may not have left
        logger.exception(
            "transfer %s of %s fen: the channel call raised, outcome unknown", transfer.order_no, transfer.amount
        )
        return Answer(Outcome.UNKNOWN, answer_text(f"{type(exc).__name__}: {exc}"))
    try:
        outcome = transfer_outcome(answer)
        confirm = confirm_of(answer) if outcome is Outcome.CONFIRM else None
    except Exception:  # a mapping whose lookups raise: we cannot tell what happened
        logger.exception("transfer %s: the channel's answer cannot be read, outcome unknown", transfer.order_no)
        return Answer(Outcome.UNKNOWN, answer_text(answer))
    return Answer(outcome, answer_text(answer), confirm)


def query_of(handler: Handler) -> Callable[[Transfer], Any] | None:
    query = getattr(handler, "query", None)
    return query if callable(query) else None


def resolve_handler(handler: Handler | None) -> Handler:
    handler = handler or clock_settings.import_payout_handler()
    if handler is None:
        raise NoPayoutHandler()
    if not callable(handler):
        raise InvalidInput("handler_invalid", "打款渠道必须是可调用对象")
    return handler
