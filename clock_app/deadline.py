"""Calling code we do not control — a payout handler, a channel — with a deadline.

A handler that hangs must not hold a winner's request or the push job forever (DESIGN §7: every call to a
channel has a timeout). Python cannot kill a thread, so the call runs in a daemon thread that is abandoned
when the deadline passes: the caller gets :class:`CallTimedOut` and treats the outcome as unknown (the money
may or may not have left), and the stuck thread dies with the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connections

T = TypeVar("T")


class CallTimedOut(Exception):
    """The call did not return within its deadline; its outcome is unknown."""


def call_with_deadline(function: Callable[..., T], *args: Any, timeout: float) -> T:
    """``function(*args)``, or :class:`CallTimedOut` after ``timeout`` seconds; its exception is re-raised."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # handed to the caller, whatever it is
            outcome["error"] = exc
        finally:
            connections.close_all()  # a handler that used the database must not leak its thread's connection

    worker = threading.Thread(target=run, name=f"clock-call-{getattr(function, '__name__', 'handler')}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise CallTimedOut(f"no answer within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
