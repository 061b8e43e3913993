"""``call_with_deadline``: the calls run on kept threads, a thread that missed its deadline is never reused,
and a forked child (a Celery prefork worker) does not wait for its parent's threads."""

import os
import threading

import pytest

from clock_app.deadline import CallTimedOut, call_with_deadline


def test_an_idle_thread_takes_the_next_call_and_never_the_callers_own():
    first = call_with_deadline(threading.get_ident, timeout=5)
    assert first != threading.get_ident()
    assert call_with_deadline(threading.get_ident, timeout=5) == first


def test_the_handlers_exception_is_raised_to_the_caller():
    def refuse():
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        call_with_deadline(refuse, timeout=5)
    assert call_with_deadline(lambda a, b: a + b, 2, 3, timeout=5) == 5  # the thread is still usable


def test_a_thread_that_missed_its_deadline_is_not_reused():
    release = threading.Event()
    stuck = []

    def hang():
        stuck.append(threading.get_ident())
        release.wait(10)

    try:
        with pytest.raises(CallTimedOut, match=r"no answer within 0\.2 s"):
            call_with_deadline(hang, timeout=0.2)
        assert call_with_deadline(threading.get_ident, timeout=5) != stuck[0]
    finally:
        release.set()
    # Once the stuck call returns, its thread ends (a channel outage must not leave a thread per timeout).
    stuck_thread = next(t for t in threading.enumerate() if t.ident == stuck[0])
    stuck_thread.join(5)
    assert not stuck_thread.is_alive()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_calls_on_threads_of_its_own():
    call_with_deadline(threading.get_ident, timeout=5)  # the parent keeps an idle thread
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            code = 0 if call_with_deadline(lambda: "ok", timeout=2) == "ok" else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
