"""Running a job (a management command) in a real child process that may die half-way.

The child is forked from the simulation's process, so it starts in microseconds with Django loaded, the same
settings (the fake channel's URL and keys, the cache in force) and the same simulated clock (time-machine's
patch is inherited). It never touches the parent's database connections: it drops them unclosed (closing
would end the parent's sessions) and opens its own.

A fault is placed deterministically — at the ``at``-th SQL statement of the job — so a seed replays the same
run step for step:

* ``"kill"``: the child sends itself SIGKILL there (a worker killed by the OOM killer or a deploy);
* ``"terminate"``: it ends its own database session there (``pg_terminate_backend``, as a PostgreSQL restart
  or an operator would); the job then meets a dead connection and must fail cleanly, leaving rows that a
  rerun converges from.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
from dataclasses import dataclass

from django.core.management import call_command
from django.db import connections


@dataclass(frozen=True)
class JobResult:
    command: str
    exit: str  # "ok", "failed" (non-zero exit), "killed", "error"
    fault: str = ""
    fault_reached: bool = False


def run_job(command: str, *args: str, fault: str = "", at: int = 0) -> JobResult:
    """Run ``manage.py command *args`` in a forked child; the child's fate, as its parent sees it."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(command, args, fault, at, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        reached = pipe.read() == b"1"
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return JobResult(command, "killed", fault, True)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    exit_name = {0: "ok", 1: "failed"}.get(code, "error")
    return JobResult(command, exit_name, fault, reached)


def _child(command: str, args: tuple[str, ...], fault: str, at: int, report: int) -> None:
    code = 2
    try:
        for connection in connections.all():
            connection.connection = None  # the parent's sockets: left alone, never closed from here
            connection.in_atomic_block = False
            connection.savepoint_ids = []
            connection.needs_rollback = False
        if fault:
            _arm(fault, at, report)
        try:
            call_command(command, *args, stdout=io.StringIO(), stderr=io.StringIO())
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except Exception:  # CommandError, a dead database connection …: a failed run, as cron would see it
            code = 1
    finally:
        os._exit(code)


def _arm(fault: str, at: int, report: int) -> None:
    """Install the fault on every database connection the child opens: at the ``at``-th statement."""
    from django.db.backends.signals import connection_created

    seen = {"statements": 0}

    def wrapper(execute, sql, params, many, context):
        seen["statements"] += 1
        if seen["statements"] == at:
            os.write(report, b"1")
            if fault == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if fault == "terminate":
                raw = context["connection"].connection
                with raw.cursor() as cursor, contextlib.suppress(Exception):
                    cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return execute(sql, params, many, context)

    def install(sender, connection, **kwargs):
        connection.execute_wrappers.append(wrapper)

    connection_created.connect(install, weak=False)
