"""Run callables at the same instant from real threads, each on its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connections


def run_together(calls: Sequence[Callable[[], Any]], workers: int | None = None) -> list[Any]:
    """Start every call behind one barrier; return each call's result or the exception it raised."""
    workers = workers or len(calls)
    barrier = threading.Barrier(min(workers, len(calls)))

    def wrapped(call: Callable[[], Any], first_wave: bool) -> Any:
        try:
            if first_wave:
                barrier.wait(timeout=30)
            return call()
        except Exception as exc:  # returned, so the test can assert on it
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(wrapped, call, i < workers) for i, call in enumerate(calls)]
        return [f.result() for f in futures]
