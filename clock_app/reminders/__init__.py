"""The reminder handler contract: what the app asks a handler to deliver, and how it reads the answer.

A handler is ``handler(reminders) -> results``. ``reminders`` is a list of :class:`ReminderMessage` (a batch,
500 by default); ``results`` maps each message's ``id`` to what happened to it:

===============  ==========================================================================================
``"sent"``       delivered (or handed to a channel that accepted it): never sent again
``"refused"``    the user or the channel will not take it (WeChat 43101: the user did not subscribe, or used
                 up their one-time subscription; an unknown openid): recorded, never retried
``"failed"``     not delivered this time: the next run retries it (while it is still due)
===============  ==========================================================================================

A result is the status string, or a mapping ``{"status": …, "detail": "text kept on the row"}``. A message
without a result, an unknown status, an exception or a batch that overruns ``CLOCK["REMIND_TIMEOUT"]`` counts
as failed: a reminder whose delivery is unknown is sent again rather than lost — a missed reminder can cost a
player their stake, a repeated one costs nothing (and WeChat refuses a second message on a one-time
subscription anyway). The handler is called with no transaction open and no lock held.

Configure it with ``CLOCK["REMINDER_HANDLER"]``: a dotted path to the handler itself, or
``{"BACKEND": "dotted.path.Factory", "OPTIONS": {...}}``, built once as ``Factory(**OPTIONS)``. Built in:
:func:`clock_app.reminders.log.log_reminders` (the default: logs each reminder and counts it sent) and
:class:`clock_app.reminders.wechat.WeChatSubscribeHandler` (WeChat mini-program subscribe messages).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import clock_settings
from ..services.transfers import answer_text

SENT, FAILED, REFUSED = "sent", "failed", "refused"
RESULT_STATUSES = (SENT, FAILED, REFUSED)

#: The names a message template may use, by kind (see :class:`ReminderMessage`).
CONTEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "checkin": (
        "uid",
        "nickname",
        "clock_day",
        "checkin_date",
        "window_start",
        "window_end",
        "players",
        "pool_yuan",
        "stake_yuan",
    ),
    "owed": ("uid", "nickname", "clock_day", "amount_yuan", "packet_yuan", "stake_yuan", "state"),
}


@dataclass(frozen=True)
class ReminderMessage:
    """One reminder to deliver. ``context`` holds the values a message template may use (all text):

    * both kinds: ``uid``, ``nickname``, ``clock_day`` (the round, ``YYYY-MM-DD``);
    * ``checkin``: ``checkin_date`` (the morning of the window), ``window_start``, ``window_end`` (``HH:MM``),
      ``players`` (the round's payers), ``pool_yuan`` (its stakes, yuan with two decimals), ``stake_yuan``;
    * ``owed``: ``amount_yuan`` (stake + packet owed), ``packet_yuan``, ``stake_yuan``, ``state`` (what the
      winner has to do, in Chinese: 待领取 to open, 待确认收款 to confirm the transfer, 待重新领取 after a
      cancelled or failed one).
    """

    id: int
    kind: str  # "checkin" or "owed"
    uid: int
    openid: str  # the player's id at the channel (the payer's openid)
    clock_day: date
    remind_day: date
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReminderResult:
    status: str  # one of RESULT_STATUSES
    detail: str = ""


ReminderHandler = Callable[[Sequence[ReminderMessage]], Mapping[int, Any]]


def read_result(result: Any) -> ReminderResult:
    """One entry of a handler's answer as a :class:`ReminderResult`; anything unreadable is a failure."""
    if isinstance(result, ReminderResult):
        status, detail = result.status, result.detail
    elif isinstance(result, str):
        status, detail = result, ""
    elif isinstance(result, Mapping):
        status, detail = result.get("status"), result.get("detail", "")
    else:
        return ReminderResult(FAILED, answer_text(result))
    if status not in RESULT_STATUSES:
        return ReminderResult(FAILED, f"unknown status {answer_text(status)}: {answer_text(detail)}")
    return ReminderResult(status, detail if isinstance(detail, str) else answer_text(detail))


def read_results(messages: Sequence[ReminderMessage], answer: Any) -> dict[int, ReminderResult]:
    """Every message's result from a handler's answer: a missing one is a failure."""
    if not isinstance(answer, Mapping):
        return {m.id: ReminderResult(FAILED, f"the handler answered {answer_text(answer)}") for m in messages}
    results = {}
    for message in messages:
        try:
            entry = answer.get(message.id, None)
        except Exception:  # a mapping whose lookups raise
            entry = None
        results[message.id] = (
            ReminderResult(FAILED, "no result for this reminder") if entry is None else read_result(entry)
        )
    return results


_built: tuple[Mapping[str, Any], ReminderHandler] | None = None
_lock = threading.Lock()


def build_handler(config: Mapping[str, Any]) -> ReminderHandler:
    """``config`` as parsed by ``conf`` (``{"BACKEND", "OPTIONS"}``; ``OPTIONS`` None for a plain path)."""
    target = import_string(config["BACKEND"])
    handler = target if config["OPTIONS"] is None else target(**config["OPTIONS"])
    if not callable(handler):
        raise ImproperlyConfigured(f"CLOCK['REMINDER_HANDLER'] built {handler!r}, which is not callable")
    return handler


def configured_handler() -> ReminderHandler:
    """``CLOCK["REMINDER_HANDLER"]``, built once per configuration (a WeChat handler keeps its token and its
    HTTP connections between batches)."""
    global _built
    config = clock_settings.reminder_handler
    with _lock:
        if _built is None or _built[0] != config:
            _built = (config, build_handler(config))
        return _built[1]
