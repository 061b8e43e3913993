"""Calling code we do not control — a payout handler, a channel — with a deadline.

A handler that hangs must not hold a winner's request or the push job forever (DESIGN §7: every call to a
channel has a timeout). Python cannot kill a thread, so the call runs in a daemon thread that is abandoned
when the deadline passes: the caller gets :class:`CallTimedOut` and treats the outcome as unknown (the money
may or may not have left), and the stuck thread dies with the process.

The threads are kept and reused: starting one per call cost the push job ~0.2 ms per payout on a busy
2-core machine (``bench/push.py``), as much as a database round trip. An idle thread waits for its next call;
a thread that missed a deadline is never reused; a forked child (a Celery prefork worker) starts with none.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connections

T = TypeVar("T")


class CallTimedOut(Exception):
    """The call did not return within its deadline; its outcome is unknown."""


class _Caller:
    """A daemon thread that runs the calls handed to it, one at a time."""

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="clock-call", daemon=True).start()

    def _serve(self) -> None:
        while True:
            call = self.calls.get()
            if call is None:  # dropped after a missed deadline: end once the stuck call has returned
                return
            function, args = call
            try:
                result: tuple[bool, Any] = (True, function(*args))
            except BaseException as exc:  # handed to the caller, whatever it is
                result = (False, exc)
            finally:
                connections.close_all()  # a handler that used the database must not leak its thread's connection
            self.results.put(result)


_idle: list[_Caller] = []
_idle_lock = threading.Lock()


def _forget_callers() -> None:
    """In a forked child: none of the parent's threads exist there, so its callers would never answer (and
    the lock may have been held by one of them at the fork)."""
    global _idle_lock
    _idle.clear()
    _idle_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_callers)


def call_with_deadline(function: Callable[..., T], *args: Any, timeout: float) -> T:
    """``function(*args)``, or :class:`CallTimedOut` after ``timeout`` seconds; its exception is re-raised."""
    with _idle_lock:
        caller = _idle.pop() if _idle else None
    if caller is None:
        caller = _Caller()
    caller.calls.put((function, args))
    try:
        ok, value = caller.results.get(timeout=timeout)
    except queue.Empty:
        caller.calls.put(None)  # dropped: its thread ends when the stuck call returns, instead of idling forever
        raise CallTimedOut(f"no answer within {timeout:g} s") from None
    with _idle_lock:
        _idle.append(caller)
    if not ok:
        raise value
    return value
