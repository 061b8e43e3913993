"""Benchmark: the 05:00 rush — N participants clocking in over HTTP at once, against same-run baselines.

Run from anywhere (the script changes to the repository root)::

    .venv/bin/python bench/rush.py                          # 20,000 players, 4 sync workers, wrk -t2 -c32 -d15s
    .venv/bin/python bench/rush.py -d 5                     # a short run
    .venv/bin/python bench/rush.py --worker-class gthread --threads 4

The machine is shared and noisy, so the figures that mean something are the ratios against the baselines
measured in the same run, on the same server, with the same wrk script:

a. ``GET /bare/``: a JsonResponse through the full middleware stack — the framework's own cost;
b. ``POST /bare-update/``: the one conditional ``UPDATE pay_clock_day`` a check-in must make, raw cursor,
   autocommit — the floor cost of the row that has to change;
c. ``POST /api/clock/clock/``: the real check-in, every request a different player (``X-Bench-Uid``);
d. ``GET /api/clock/summary/``: the home summary of random participants, cache warm.

Every request carries a CSRF cookie, as a browser's does from its first answer on: a request without one
makes the summary mint a CSRF token (Django's, two 32-character random strings), which a page pays once per
visit, not on every poll; ``--first-visits`` measures that case.

Setup (not measured): its own database (``--database-url``, default ``postgres://postgres@127.0.0.1:5432/
clock_rush``, created when missing; its public schema dropped and migrated afresh, so that a migration edited in
place is measured as it is now) and Redis db (``--redis-url``, default ``redis://127.0.0.1:6379/2``, flushed).
The round is opened with ``round_open`` for local day D = today - 1 (Asia/Shanghai), as if paid at noon on D;
the server uses the real clock, so the round's window is then widened to ``[00:00:00, 23:59:59)`` so that
today's real local time is inside it (the run refuses to start when it could not finish before 23:59:59 local).
N participants and their player rows are written with COPY. Before b and c the participants are reset
(``clock_status`` 1, streaks zeroed), the tables vacuumed (``VACUUM (FULL, ANALYZE)`` by default, so both start
from the same freshly written pages) and Redis db 2 flushed.

The server is gunicorn (``example_project.wsgi`` with ``DJANGO_SETTINGS_MODULE=bench.rush_settings``) on a free
port of 127.0.0.1; the load is wrk with ``bench/rush.lua``. Besides req/s and latency the run reports, per phase,
the CPU each part of the system used per request (gunicorn, the bench database's PostgreSQL backends, other
PostgreSQL processes, Redis, wrk, everything else on the machine), what the busy PostgreSQL backends were
waiting on (``pg_stat_activity`` sampled every 50 ms), the rows updated and how many of them were HOT, and
the SQL one request issues (captured in-process). Figures go to ``bench/out/rush.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from benchlib import code_revision, dbname, ensure_database, raw_connect  # bench/ is on sys.path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
OUT = OUT_DIR / "rush.json"
LUA = ROOT / "bench" / "rush.lua"
VENV_BIN = ROOT / ".venv" / "bin"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clock_rush"
DEFAULT_REDIS = "redis://127.0.0.1:6379/2"
RESULT_MARK = "RUSH_RESULT "
STAKE = 100  # fen
# The CSRF cookie every request carries, as a browser's after its first answer (any 32 letters and digits is a
# well-formed secret); without it the summary mints one per request (--first-visits).
CSRF_COOKIE = "benchbenchbenchbenchbenchbench00"
# The widened check-in window: the real local time of the whole run must fall inside it.
WINDOW_START = clock_time(0, 0, 0)
WINDOW_END = clock_time(23, 59, 59)
CLOCK_TABLES = (
    "pay_clock_day",
    "pay_clock_user",
    "pay_clock",
    "pay_clock_order",
    "pay_clock_user_log",
    "pay_clock_user_error_log",
    "pay_clock_setting",
)

PHASES = {
    "bare": ("a. bare JsonResponse", "GET", "/bare/", "seq"),
    "update": ("b. bare conditional UPDATE", "POST", "/bare-update/", "seq"),
    "clock": ("c. clock-in", "POST", "/api/clock/clock/", "seq"),
    "summary": ("d. home summary (warm)", "GET", "/api/clock/summary/", "random"),
}


# --------------------------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--users", type=int, default=60_000, help="participants of the round (default 60000)")
    parser.add_argument("-w", "--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker (default 4)")
    parser.add_argument("-c", "--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("-t", "--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("-d", "--duration", type=int, default=15, help="seconds per measured phase (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before a/d (default 2)")
    parser.add_argument("--timeout", type=int, default=10, help="wrk request timeout, seconds (default 10)")
    parser.add_argument(
        "--quiet-cores",
        type=float,
        default=0.25,
        help="a phase is disturbed when other processes used more cores than this meanwhile; with --repeat the "
        "ratios are the median over the cycles with no disturbed phase (default 0.25)",
    )
    parser.add_argument(
        "--uid-order",
        choices=("scattered", "seq"),
        default="scattered",
        help="order of the distinct uids of a/b/c: scattered over the table (default, as players arrive) or in "
        "row order (consecutive requests update rows of the same page)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="cycles of the four phases; ratios: median (default 1)")
    parser.add_argument(
        "--vacuum",
        choices=("full", "plain"),
        default="full",
        help="reset of the tables before b and c: VACUUM (FULL, ANALYZE) (default) or VACUUM ANALYZE",
    )
    parser.add_argument(
        "--keep-schema",
        action="store_true",
        help="only empty the clock tables (default: drop the bench database's public schema and migrate afresh)",
    )
    parser.add_argument(
        "--stats-wait",
        type=float,
        default=11.0,
        help="seconds to wait after a phase for PostgreSQL's idle backends to flush their table statistics "
        "(PG >= 15 flushes within 10 s; 0: skip the HOT figures)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RUSH_DATABASE_URL") or DEFAULT_URL,
        help=f"the bench's own database (default $RUSH_DATABASE_URL or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("RUSH_REDIS_URL") or DEFAULT_REDIS,
        help=f"the bench's own Redis db, flushed (default $RUSH_REDIS_URL or {DEFAULT_REDIS})",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PY_SPY",
        help="path of a py-spy binary: profile all workers during c and d (slows them: not for the figures)",
    )
    parser.add_argument(
        "--py-spy-gil",
        action="store_true",
        help="with --py-spy: sample only the thread holding the GIL (Python on CPU, not waiting on sockets)",
    )
    parser.add_argument(
        "--health-checks",
        action="store_true",
        help="serve with CONN_HEALTH_CHECKS on (a round trip per request; the example project's default is off)",
    )
    parser.add_argument(
        "--history",
        action="store_true",
        help="also fill the tables with 90 days x 20,000 settled participations, their orders and ledger rows "
        "(bench/history.py) before measuring: the same ceilings on a database with a season behind it",
    )
    parser.add_argument(
        "--first-visits",
        action="store_true",
        help="send no CSRF cookie: every summary is a first visit and Django mints a CSRF token for it (default: "
        "every request carries the cookie a browser keeps after its first answer)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output (default bench/out/rush.json)")
    args = parser.parse_args(argv)
    if min(args.users, args.workers, args.connections, args.wrk_threads, args.duration, args.repeat, args.threads) < 1:
        parser.error("every count and duration must be >= 1")
    if args.connections < args.wrk_threads:
        parser.error("wrk needs at least one connection per thread")
    args.stride = uid_stride(args.users) if args.uid_order == "scattered" else 1
    return args


def uid_stride(n: int) -> int:
    """A step coprime with ``n`` near ``0.618 n``: ``i -> i * step mod n`` visits every uid once, scattered."""
    step = max(1, int(n * 0.618))
    while math.gcd(step, n) != 1:
        step += 1
    return step


# --------------------------------------------------------------------------------------------- database


def redis_flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def setup_django(args: argparse.Namespace) -> None:
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.rush_settings"
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["REDIS_URL"] = args.redis_url
    import django

    django.setup()


# --------------------------------------------------------------------------------------------- the round


def round_day_for_now(args: argparse.Namespace) -> tuple[date, datetime, float]:
    """Round D = local yesterday, whose (widened) window holds the real local time; refuse near midnight."""
    from clock_app import calendar

    now = calendar.local_now()
    estimate = 90 + args.repeat * (4 * (args.duration + args.warmup + args.stats_wait + 8))
    window_end = datetime.combine(now.date(), WINDOW_END, tzinfo=now.tzinfo)
    if now + timedelta(seconds=estimate) >= window_end:
        sys.exit(
            f"local time is {now:%H:%M:%S} ({now.tzinfo}); a run takes up to ~{estimate:.0f} s and must end before "
            f"{WINDOW_END} local, when the bench round's check-in window closes: run it after local midnight"
        )
    return now.date() - timedelta(days=1), now, estimate


def build_round(args: argparse.Namespace, day: date) -> None:
    """Migrate, empty the clock tables, open round ``day``, widen its window, COPY N participants and players."""
    from django.core.management import call_command
    from django.db import connection

    from clock_app import calendar
    from clock_app.services.rounds import round_open

    n = args.users
    started = time.perf_counter()
    with raw_connect(args.database_url) as conn:
        if args.keep_schema:
            tables = [t for t in CLOCK_TABLES if conn.execute("SELECT to_regclass(%s)", [t]).fetchone()[0]]
            if tables:
                conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
        else:
            # The schema the migrations make today (a migration edited in place is not re-applied to an old one).
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    call_command("migrate", verbosity=0, interactive=False)
    redis_flush(args.redis_url)

    paid_at = calendar.at(day, clock_time(12))  # the fixed simulated "now" of the payments
    round_open(day, now=paid_at)
    connection.close()

    stamp = paid_at.isoformat()
    tag = day.strftime("%Y%m%d")
    day_columns = (
        "uid, nickname, mobile, source_uid, red_status, clock_day, order_no, order_money, clock_money, red_money, "
        "discount_money, clock_status, clock_time, pay_result, red_time, payout_no, payout_attempts, "
        "payout_claimed_at, create_time, update_time, pseudonym, payout_renewals"
    )
    user_columns = (
        "uid, nickname, mobile, source_uid, is_remind, spend_money, income_money, clock_max_money, clock_num, "
        "clock_day_num, long_day_num, yesterday_time, toast_day, create_time, update_time"
    )
    with raw_connect(args.database_url, autocommit=False) as conn:
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY pay_clock_day ({day_columns}) FROM STDIN") as copy:
                copy.write(
                    "".join(
                        f"{uid}\t\t\t\t1\t{day}\tR{tag}{uid:010d}\t{STAKE}\t0\t0\t0\t1\t\\N\t\t\\N\t"
                        f"RP{tag}{uid:010d}\t0\t\\N\t{stamp}\t{stamp}\t{uid:064x}\t0\n"
                        for uid in range(1, n + 1)
                    )
                )
            with cursor.copy(f"COPY pay_clock_user ({user_columns}) FROM STDIN") as copy:
                copy.write(
                    "".join(
                        f"{uid}\t\t\t\tf\t{STAKE}\t0\t0\t1\t0\t0\t\\N\t\\N\t{stamp}\t{stamp}\n"
                        for uid in range(1, n + 1)
                    )
                )
        # The server runs on the real clock: widen the window so that the real local time is inside it.
        conn.execute(
            "UPDATE pay_clock SET user_num = %s, clock_money = %s, clock_start = %s, clock_end = %s, red_open = %s "
            "WHERE clock_day = %s",
            [n, STAKE * n, WINDOW_START, WINDOW_END, WINDOW_END, day],
        )
        conn.commit()
    with raw_connect(args.database_url) as conn:
        for table in ("pay_clock_day", "pay_clock_user", "pay_clock"):
            conn.execute(f"VACUUM ANALYZE {table}")
        loaded = conn.execute("SELECT count(*) FROM pay_clock_day WHERE clock_day = %s", [day]).fetchone()[0]
        fillfactor = conn.execute(
            "SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class WHERE relname = 'pay_clock_day'"
        ).fetchone()[0]
    if loaded != n:
        sys.exit(f"loaded {loaded} participants, expected {n}")
    print(
        f"built round {day} ({n:,} participants, pay_clock_day {fillfactor or 'default fillfactor'}), window "
        f"{WINDOW_START}-{WINDOW_END} local on {day + timedelta(days=1)}, in {time.perf_counter() - started:.1f} s"
    )


def reset_round(args: argparse.Namespace, day: date) -> None:
    """Nobody clocked in, streaks zeroed, tables vacuumed, a checkpoint taken, Redis db flushed."""
    with raw_connect(args.database_url) as conn:
        with conn.transaction():
            conn.execute(
                "UPDATE pay_clock_day SET clock_status = 1, clock_time = NULL, update_time = create_time "
                "WHERE clock_day = %s AND (clock_status <> 1 OR clock_time IS NOT NULL)",
                [day],
            )
            conn.execute(
                "UPDATE pay_clock_user SET clock_day_num = 0, long_day_num = 0, yesterday_time = NULL, "
                "update_time = create_time "
                "WHERE clock_day_num <> 0 OR long_day_num <> 0 OR yesterday_time IS NOT NULL"
            )
        vacuum = "VACUUM (FULL, ANALYZE)" if args.vacuum == "full" else "VACUUM ANALYZE"
        conn.execute(f"{vacuum} pay_clock_day")
        conn.execute(f"{vacuum} pay_clock_user")
        conn.execute("CHECKPOINT")
    redis_flush(args.redis_url)


def clocked_in_rows(args: argparse.Namespace, day: date) -> dict[str, int]:
    with raw_connect(args.database_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FILTER (WHERE clock_status = 2), count(*) FILTER (WHERE clock_status = 1) "
            "FROM pay_clock_day WHERE clock_day = %s",
            [day],
        ).fetchone()
        players = conn.execute("SELECT count(*) FROM pay_clock_user WHERE clock_day_num = 1").fetchone()[0]
    return {"clock_status_2": rows[0], "clock_status_1": rows[1], "players_clock_day_num_1": players}


# --------------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: argparse.Namespace, day: date, port: int, log: Path) -> subprocess.Popen:
    gunicorn = VENV_BIN / "gunicorn"
    if not gunicorn.exists():
        sys.exit(f"{gunicorn} is missing: {VENV_BIN / 'pip'} install gunicorn")
    command = [
        str(gunicorn),
        "example_project.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
    ]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.rush_settings",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "RUSH_DAY": day.isoformat(),
        "CONN_HEALTH_CHECKS": "1" if args.health_checks else "0",
    }
    # A session of its own: stop_server() ends exactly this process group, the master and its workers.
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def wait_until_up(server: subprocess.Popen, base: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with code {server.returncode} (see its log in bench/out/)")
        with contextlib.suppress(OSError), urllib.request.urlopen(base + "/bare/", timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    sys.exit(f"gunicorn did not answer on {base} within {seconds:.0f} s")


def stop_server(server: subprocess.Popen | None) -> None:
    if server is None or server.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(proc_stat(int(entry))[1]) == master:
                    pids.append(int(entry))
    return sorted(pids)


def get_json(url: str, uid: int) -> dict:
    request = urllib.request.Request(url, headers={"X-Bench-Uid": str(uid)})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


# --------------------------------------------------------------------------------------------- observation


def proc_stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ..., utime (11), stime (12), ...]."""
    with open(f"/proc/{pid}/stat") as handle:
        text = handle.read()
    return text[text.rindex(")") + 2 :].split()


def cpu_snapshot(master: int, database: str) -> dict:
    """CPU seconds used so far, by process, classified; and the machine's busy/total jiffies."""
    ticks = os.sysconf("SC_CLK_TCK")
    processes: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            fields = proc_stat(pid)
            with open(f"/proc/{pid}/comm") as handle:
                comm = handle.read().strip()
            cpu = (int(fields[11]) + int(fields[12])) / ticks
            if pid == master or int(fields[1]) == master:
                group = "gunicorn"
            elif comm == "postgres":
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    title = handle.read().replace(b"\0", b" ").decode(errors="replace")
                group = "pg bench db" if f" {database} " in title else "pg other"
            elif comm == "redis-server":
                group = "redis"
            else:
                group = "other"
        except (OSError, IndexError, ValueError):
            continue
        processes[pid] = (group, cpu)
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return {"processes": processes, "busy": (sum(values) - idle) / ticks, "total": sum(values) / ticks}


CPU_GROUPS = ("gunicorn", "pg bench db", "pg other", "redis", "wrk", "other")
SERVER_GROUPS = ("gunicorn", "pg bench db", "redis")


def cpu_delta(before: dict, after: dict, wrk_cpu: float) -> dict[str, float]:
    """CPU seconds each group used between the snapshots (a process is compared with itself only)."""
    used = dict.fromkeys(CPU_GROUPS, 0.0)
    for pid, (group, cpu) in after["processes"].items():
        was = before["processes"].get(pid)
        used[group] += cpu - (was[1] if was and was[0] == group else 0.0)
    machine_busy = after["busy"] - before["busy"]
    # "other" from the process table misses processes that ended in between; the machine total does not.
    known = sum(v for k, v in used.items() if k != "other") + wrk_cpu
    used["wrk"] = wrk_cpu
    used["other"] = max(0.0, machine_busy - known)
    used["machine busy"] = machine_busy
    used["machine capacity"] = after["total"] - before["total"]
    return used


class WaitSampler:
    """Samples what the bench database's active backends wait on, every ``interval`` seconds, in a thread."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        self.url, self.interval = url, interval
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with raw_connect(self.url) as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = current_database() AND backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()"
                ).fetchall()
                self.samples += 1
                for state, kind, event in rows:
                    if state == "active":
                        self.counts["active: " + (f"{kind}:{event}" if kind else "on CPU")] += 1
                    elif state == "idle in transaction":
                        self.counts["idle in transaction"] += 1
                self._stop.wait(self.interval)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def summary(self) -> dict:
        samples = self.samples or 1
        busy = sum(v for k, v in self.counts.items() if k.startswith("active"))
        return {
            "samples": self.samples,
            "mean_busy_backends": busy / samples,
            "by_state": {k: round(v / samples, 3) for k, v in self.counts.most_common()},
        }


def drain(url: str, timeout: float = 15.0) -> None:
    """Wait until the requests still in flight when wrk stopped are done (the server finishes them after wrk
    has closed its connections): no backend of the bench database busy on three polls in a row. Otherwise a
    late bare UPDATE could land after the next reset and leave a row clocked in without its player counted."""
    deadline = time.monotonic() + timeout
    calm = 0
    with raw_connect(url) as conn:
        while calm < 3 and time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'"
            ).fetchone()[0]
            calm = 0 if busy else calm + 1
            time.sleep(0.1)
    time.sleep(0.2)


def pg_counters(url: str) -> dict:
    with raw_connect(url) as conn:
        database = conn.execute(
            "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, blks_read, "
            "blks_hit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        tables = conn.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd, seq_scan, idx_scan FROM pg_stat_user_tables "
            "WHERE relname IN ('pay_clock_day', 'pay_clock_user', 'pay_clock')"
        ).fetchall()
    names = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated")
    result = dict(zip((*names, "blks_read", "blks_hit"), database, strict=True))
    for relname, upd, hot, seq, idx in tables:
        result.update({f"{relname}.upd": upd, f"{relname}.hot_upd": hot, f"{relname}.seq_scan": seq})
        result[f"{relname}.idx_scan"] = idx or 0
    return result


def prepare_threshold() -> int | None:
    """The server's psycopg prepare_threshold (bench.rush_settings, from DATABASE_PREPARE_THRESHOLD)."""
    from django.conf import settings

    return settings.DATABASES["default"].get("OPTIONS", {}).get("prepare_threshold")


# --------------------------------------------------------------------------------------------- load


def run_wrk(args: argparse.Namespace, base: str, phase: str, seconds: int) -> tuple[dict, str, float]:
    """One wrk run of ``phase``; its RUSH_RESULT, its printed text and the CPU seconds wrk itself used."""
    _, method, path, uids = PHASES[phase]
    command = [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        f"--timeout={args.timeout}s",
        "--latency",
        "-s",
        str(LUA),
        base,
        "--",
        method,
        path,
        uids,
        str(args.users),
        str(args.wrk_threads),
        str(args.stride),
        "" if args.first_visits else CSRF_COOKIE,
    ]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode or not lines:
        sys.stdout.write(done.stdout + done.stderr)
        raise RuntimeError(f"wrk failed on {phase} with exit code {done.returncode}")
    text = "\n".join(line for line in done.stdout.splitlines() if not line.startswith(RESULT_MARK))
    return json.loads(lines[-1][len(RESULT_MARK) :]), text, wrk_cpu


def measure(args: argparse.Namespace, base: str, phase: str, master: int, py_spy: str | None) -> dict:
    database = dbname(args.database_url)
    spy = None
    if py_spy:
        profile = OUT_DIR / f"rush-{phase}.pyspy.txt"
        spy = subprocess.Popen(
            [
                *(py_spy, "record", "--pid", str(master), "--subprocesses", "--rate", "100", "--format", "raw"),
                *("--duration", str(args.duration), "--nonblocking", "--output", str(profile)),
                *(("--gil",) if args.py_spy_gil else ()),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    pg_before = pg_counters(args.database_url)
    cpu_before = cpu_snapshot(master, database)
    with WaitSampler(args.database_url) as sampler:
        result, text, wrk_cpu = run_wrk(args, base, phase, args.duration)
    cpu_after = cpu_snapshot(master, database)
    drain(args.database_url)
    if spy is not None:
        spy.wait(timeout=60)
    if args.stats_wait > 0:
        time.sleep(args.stats_wait)
    pg_after = pg_counters(args.database_url)

    seconds = result["duration_us"] / 1e6
    requests = result["requests"]
    errors = result["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    cpu = cpu_delta(cpu_before, cpu_after, wrk_cpu)
    pg = {}
    if args.stats_wait > 0:
        pg = {k: pg_after[k] - pg_before.get(k, 0) for k in pg_after}
        pg["xact_commit"] -= sampler.samples  # the sampler's own queries, one transaction each
    return {
        "phase": phase,
        "title": PHASES[phase][0],
        "method": PHASES[phase][1],
        "path": PHASES[phase][2],
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds if seconds else 0.0,
        "latency_ms": {k: v / 1000 for k, v in result["latency_us"].items()},
        "errors": {**errors, "non_2xx": errors["status"], "socket": socket_errors},
        "counts": result["counts"],
        "samples": result["samples"],
        "cpu_seconds": cpu,
        "cpu_ms_per_request": {k: 1000 * v / requests for k, v in cpu.items() if requests and "machine" not in k},
        # What serving one request cost the bench's own server processes, whoever else used the machine.
        "server_cpu_ms_per_request": 1000 * sum(cpu[g] for g in SERVER_GROUPS) / requests if requests else 0.0,
        # Cores used meanwhile by processes that are not the bench's (other databases, tests, builds...).
        "others_cores": (cpu["pg other"] + cpu["other"]) / seconds if seconds else 0.0,
        "pg_waits": sampler.summary(),
        "pg": pg,
        "wrk_text": text,
    }


def warm(args: argparse.Namespace, base: str, phase: str) -> None:
    if args.warmup > 0:
        run_wrk(args, base, phase, args.warmup)


# --------------------------------------------------------------------------------------------- queries


def capture_queries(args: argparse.Namespace, day: date) -> dict[str, list[str]]:
    """The SQL one request of each endpoint issues (in-process test client, same settings and database).

    Not captured: the ``SELECT 1`` of ``CONN_HEALTH_CHECKS``, issued on the first database use of every
    request on a reused connection (the test client does not run the request_started handler)."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.RUSH_ROUND_DAY = day
    uid = args.users  # reset first: the phases may have clocked them in
    with raw_connect(args.database_url) as conn:
        conn.execute(
            "UPDATE pay_clock_day SET clock_status = 1, clock_time = NULL WHERE uid = %s AND clock_day = %s",
            [uid, day],
        )
    client = Client(HTTP_X_BENCH_UID=str(uid))
    captured: dict[str, list[str]] = {}
    for name, method, path in (
        ("bare-update", "POST", "/bare-update/"),
        ("bare-update (reset)", None, None),
        ("clock-in", "POST", "/api/clock/clock/"),
        ("clock-in again (already_clocked_in)", "POST", "/api/clock/clock/"),
        ("summary", "GET", "/api/clock/summary/"),
    ):
        if method is None:
            with raw_connect(args.database_url) as conn:
                conn.execute(
                    "UPDATE pay_clock_day SET clock_status = 1, clock_time = NULL WHERE uid = %s AND clock_day = %s",
                    [uid, day],
                )
            continue
        with CaptureQueriesContext(connection) as queries:
            answer = client.generic(method, path)  # a POST with an empty body, as wrk sends it
        body = answer.content.decode()[:120]
        captured[name] = [f"HTTP {answer.status_code} {body}"] + [q["sql"] for q in queries.captured_queries]
    connection.close()
    return captured


# --------------------------------------------------------------------------------------------- py-spy


FRAME_LINE = re.compile(r":\d+\)$")
FRAME_FILE = re.compile(r"\((.*)\)$")
# Where the app's own work starts in each profiled phase's stacks.
PY_SPY_ANCHORS = {
    "clock": "clock_in (clock_app/services/checkin.py)",
    "summary": "ClockCenter.summary (clock_app/facade.py)",
}


def py_spy_summary(path: Path, anchor: str, top: int = 10) -> dict:
    """From py-spy's collapsed stacks (all workers): the share of samples under ``anchor``, what it calls
    (inclusive, as a share of its samples), the innermost frames there, and the library of every leaf."""
    if not path.exists():
        return {}
    total = under = 0
    children: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [FRAME_LINE.sub(")", frame) for frame in stack.split(";")]  # a function, not its lines
        n = int(count)
        total += n
        found = FRAME_FILE.search(frames[-1])
        libraries[(found.group(1) if found else frames[-1]).split("/")[0]] += n
        if anchor in frames:
            at = frames.index(anchor)
            under += n
            children[frames[at + 1] if at + 1 < len(frames) else "<self>"] += n
            leaves[frames[-1]] += n
    if not total:
        return {}
    return {
        "samples": total,
        "anchor": anchor,
        "anchor_share": under / total,
        "anchor_children": [(f, round(c / (under or 1), 3)) for f, c in children.most_common(top)],
        "anchor_leaves": [(f, round(c / (under or 1), 3)) for f, c in leaves.most_common(top)],
        "leaf_libraries": [(f, round(c / total, 3)) for f, c in libraries.most_common(top)],
    }


# --------------------------------------------------------------------------------------------- reporting


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def print_phase_table(cycle: dict[str, dict]) -> None:
    header = (
        f"{'phase':<30} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'requests':>9} "
        f"{'non-2xx':>8} {'socket':>7}  outcomes"
    )
    print(header)
    print("-" * len(header))
    for phase in PHASES:
        if phase not in cycle:
            continue
        r = cycle[phase]
        lat = r["latency_ms"]
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(r["counts"].items(), key=lambda kv: -kv[1]))
        print(
            f"{r['title']:<30} {r['rps']:>8.0f} {lat['p50']:>8.1f} {lat['p99']:>8.1f} {lat['max']:>8.1f} "
            f"{r['requests']:>9,} {r['errors']['non_2xx']:>8} {r['errors']['socket']:>7}  {outcomes}"
        )


def print_cpu_table(cycle: dict[str, dict]) -> None:
    groups = [g for g in CPU_GROUPS]
    header = (
        f"{'CPU ms per request':<30} "
        + " ".join(f"{g:>11}" for g in groups)
        + f" {'= server':>9} {'machine busy':>13} {'others, cores':>14}"
    )
    print(header)
    print("-" * len(header))
    for phase in PHASES:
        if phase not in cycle:
            continue
        r = cycle[phase]
        cpu = r["cpu_seconds"]
        busy = 100 * cpu["machine busy"] / cpu["machine capacity"] if cpu["machine capacity"] else 0.0
        cells = " ".join(f"{r['cpu_ms_per_request'][g]:>11.2f}" for g in groups)
        print(
            f"{r['title']:<30} {cells} {r['server_cpu_ms_per_request']:>9.2f} {busy:>12.0f}% {r['others_cores']:>14.2f}"
        )
    print(
        f"(server = {' + '.join(SERVER_GROUPS)}; machine busy: all {os.cpu_count()} cores, everyone's processes; "
        "others: cores used meanwhile by pg other + other)"
    )


def print_pg_table(cycle: dict[str, dict]) -> None:
    """Per request: transactions, rows updated and the HOT share by table (pay_clock_day = d, pay_clock_user =
    u); then the bench database's backends as sampled: mean number active, and the mean number per state."""
    print(
        f"{'PostgreSQL, per request':<30} {'commits':>8} {'upd d':>6} {'HOT d':>6} {'upd u':>6} {'HOT u':>6}  "
        "mean backends active: by state/wait"
    )
    for phase in PHASES:
        if phase not in cycle:
            continue
        r = cycle[phase]
        pg, n = r["pg"], r["requests"] or 1
        cells = []
        if pg:
            cells.append(f"{pg['xact_commit'] / n:>8.2f}")
            for table in ("pay_clock_day", "pay_clock_user"):
                upd, hot = pg.get(f"{table}.upd", 0), pg.get(f"{table}.hot_upd", 0)
                cells.append(f"{upd / n:>6.2f}")
                cells.append(f"{100 * hot / upd:>5.0f}%" if upd else f"{'-':>6}")
        else:
            cells = [f"{'-':>8}"] + [f"{'-':>6}"] * 4
        waits = r["pg_waits"]
        top = ", ".join(f"{k.removeprefix('active: ')} {v:.2f}" for k, v in list(waits["by_state"].items())[:4])
        print(f"{r['title']:<30} {' '.join(cells)}  {waits['mean_busy_backends']:.2f}: {top}")


def cycle_ratios(cycle: dict[str, dict]) -> dict[str, float]:
    rps = {phase: r["rps"] for phase, r in cycle.items()}
    cpu = {phase: r["server_cpu_ms_per_request"] for phase, r in cycle.items()}
    out = {}
    if "clock" in cpu:
        out["clock_cpu_x_update"] = ratio(cpu["clock"], cpu.get("update", 0))
        out["clock_cpu_x_bare"] = ratio(cpu["clock"], cpu.get("bare", 0))
    if "summary" in cpu:
        out["summary_cpu_x_bare"] = ratio(cpu["summary"], cpu.get("bare", 0))
    if "clock" in rps:
        out["clock_vs_bare"] = ratio(rps["clock"], rps.get("bare", 0))
        out["clock_vs_update"] = ratio(rps["clock"], rps.get("update", 0))
    if "summary" in rps:
        out["summary_vs_bare"] = ratio(rps["summary"], rps.get("bare", 0))
    if "update" in rps:
        out["update_vs_bare"] = ratio(rps["update"], rps.get("bare", 0))
    return out


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not Path("/usr/bin/wrk").exists() and subprocess.run(["which", "wrk"], capture_output=True).returncode:
        sys.exit("wrk is missing (Debian: apt-get install wrk)")
    ensure_database(args.database_url)
    setup_django(args)
    day, local_now, estimate = round_day_for_now(args)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    print(
        f"local time {local_now:%Y-%m-%d %H:%M:%S %Z}; bench round D = {day}, clocked in on {day + timedelta(1)} "
        f"(run estimate ~{estimate:.0f} s)"
    )
    build_round(args, day)
    if args.history:
        from history import build_history

        built = build_history(args.database_url, last_day=day - timedelta(days=1))
        print(f"history: {built['days']} days x {built['per_day']:,} participations ({built['seconds']:.0f} s)")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = OUT_DIR / "rush-gunicorn.log"
    server = None
    # A SIGTERM (or SIGHUP) ends the run through the finally below, which stops gunicorn, like Ctrl-C does.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, lambda signum, frame: sys.exit(128 + signum))
    cycles: list[dict[str, dict]] = []
    checks: list[dict] = []
    queries: dict[str, list[str]] = {}
    py_spy: dict[str, dict] = {}
    try:
        server = start_server(args, day, port, log)
        wait_until_up(server, base)
        master = server.pid
        workers = worker_pids(master)
        print(
            f"gunicorn {args.worker_class} x {args.workers} workers"
            + (f" x {args.threads} threads" if args.worker_class == "gthread" else "")
            + f" on {base} (pids {', '.join(map(str, workers))}); wrk -t{args.wrk_threads} -c{args.connections} "
            f"-d{args.duration}s; N = {args.users:,}; os.cpu_count() = {os.cpu_count()}"
        )
        # Open every worker's database and Redis connections before anything is measured.
        warm(args, base, "bare")
        warm(args, base, "summary")

        for number in range(1, args.repeat + 1):
            cycle: dict[str, dict] = {}
            spy = args.py_spy if number == 1 else None
            print(f"\ncycle {number}/{args.repeat}")

            warm(args, base, "bare")
            cycle["bare"] = measure(args, base, "bare", master, None)
            print(f"  a. bare: {cycle['bare']['rps']:.0f} req/s")

            reset_round(args, day)
            cycle["update"] = measure(args, base, "update", master, None)
            print(f"  b. bare UPDATE: {cycle['update']['rps']:.0f} req/s {cycle['update']['counts']}")

            reset_round(args, day)
            cycle["clock"] = measure(args, base, "clock", master, spy)
            check = clocked_in_rows(args, day)
            checks.append(check)
            print(f"  c. clock-in: {cycle['clock']['rps']:.0f} req/s {cycle['clock']['counts']}; database: {check}")
            if cycle["clock"]["counts"].get("ok", 0) == 0:
                raise RuntimeError(f"no check-in succeeded: {cycle['clock']['counts']} {cycle['clock']['samples']}")

            warm(args, base, "summary")
            shown = get_json(base + "/api/clock/summary/", 1)["data"]["summary"]
            if shown["clock_day"] != day.isoformat():
                raise RuntimeError(f"the summary shows round {shown['clock_day']}, not the participants' {day}")
            cycle["summary"] = measure(args, base, "summary", master, spy)
            print(f"  d. summary: {cycle['summary']['rps']:.0f} req/s {cycle['summary']['counts']}")
            cycles.append(cycle)
            if spy:
                for phase, anchor in PY_SPY_ANCHORS.items():
                    py_spy[phase] = py_spy_summary(OUT_DIR / f"rush-{phase}.pyspy.txt", anchor)
    finally:
        stop_server(server)
    queries = capture_queries(args, day)

    # ----------------------------------------------------------------------------------------- report
    ratios_by_cycle = [cycle_ratios(cycle) for cycle in cycles]
    # A cycle is quiet when no phase of it shared the machine with more than --quiet-cores of others' load.
    quiet = [max(r["others_cores"] for r in cycle.values()) <= args.quiet_cores for cycle in cycles]
    chosen = [r for r, q in zip(ratios_by_cycle, quiet, strict=True) if q] or ratios_by_cycle
    ratios = {k: statistics.median(r[k] for r in chosen) for k in ratios_by_cycle[0]}
    print()
    print(
        f"05:00 rush: N = {args.users:,} participants; gunicorn {args.worker_class}, {args.workers} workers"
        + (f" x {args.threads} threads" if args.worker_class == "gthread" else "")
        + f"; wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s; os.cpu_count() = {os.cpu_count()}; "
        f"code {code_revision()}; reset: VACUUM {'(FULL, ANALYZE)' if args.vacuum == 'full' else 'ANALYZE'}; "
        f"uids {args.uid_order}; CONN_HEALTH_CHECKS {'on' if args.health_checks else 'off'}; "
        f"CSRF cookie {'no (first visits)' if args.first_visits else 'yes'}; prepare_threshold {prepare_threshold()}"
    )
    for number, cycle in enumerate(cycles, 1):
        if args.repeat > 1:
            print(f"\ncycle {number}")
        print()
        print_phase_table(cycle)
        print()
        print_cpu_table(cycle)
        print()
        print_pg_table(cycle)
    print()
    if any(quiet):
        label = f"median over the {sum(quiet)} quiet cycle(s) of {len(cycles)}" if args.repeat > 1 else "same run"
    else:
        label = f"median over all {len(cycles)} cycle(s), NONE quiet" if args.repeat > 1 else "same run, NOT quiet"
    if args.repeat > 1:
        for number, (found, calm) in enumerate(zip(ratios_by_cycle, quiet, strict=True), 1):
            print(
                f"cycle {number} ({'quiet' if calm else 'disturbed'}) ratios: "
                + ", ".join(f"{k} {v:.3f}" for k, v in found.items())
            )
    if not all(quiet):
        print(
            f"WARNING: other processes used more than {args.quiet_cores} cores during some phases (column 'others' "
            "of the CPU table): their req/s is depressed and the req/s ratios are unreliable; rerun, or use "
            "--repeat 3 (ratios then come from the quiet cycles)"
        )
    print(f"ratios of req/s ({label}):")
    print(f"  clock-in / bare JsonResponse : {ratios['clock_vs_bare']:.3f}")
    print(f"  clock-in / bare UPDATE       : {ratios['clock_vs_update']:.3f}")
    print(f"  summary  / bare JsonResponse : {ratios['summary_vs_bare']:.3f}")
    print(f"  bare UPDATE / bare JsonResponse: {ratios['update_vs_bare']:.3f}")
    print(f"server CPU per request, as a multiple ({label}; less sensitive to other load on the machine):")
    print(f"  clock-in / bare UPDATE       : {ratios['clock_cpu_x_update']:.2f} x")
    print(f"  clock-in / bare JsonResponse : {ratios['clock_cpu_x_bare']:.2f} x")
    print(f"  summary  / bare JsonResponse : {ratios['summary_cpu_x_bare']:.2f} x")
    for number, cycle in enumerate(cycles, 1):
        for phase in ("update", "clock"):
            r = cycle[phase]
            if r["requests"] > args.users:
                print(
                    f"NOTE cycle {number}, {r['title']}: {r['requests']:,} requests > N = {args.users:,}, so the uids "
                    f"wrapped around and {r['requests'] - args.users:,} requests found their row already changed "
                    "(rows_0 / already_clocked_in: cheaper, no WAL flush); use a larger -n for a clean baseline"
                )
    for cycle, check in zip(cycles, checks, strict=True):
        ok = cycle["clock"]["counts"].get("ok", 0)
        print(
            f"clock-in check: {check['clock_status_2']:,} rows clocked in, {check['players_clock_day_num_1']:,} "
            f"player streaks; wrk counted {ok:,} successes (the rest were in flight when wrk stopped)"
        )
        if check["clock_status_2"] != check["players_clock_day_num_1"]:
            print("WARNING: clocked-in rows and counted players differ: a check-in was not atomic, or a late request")
    print("\nSQL of one request (in-process, CONN_HEALTH_CHECKS' SELECT 1 not shown):")
    for name, lines in queries.items():
        print(f"  {name}: {len(lines) - 1} queries; {lines[0]}")
        for sql in lines[1:]:
            print(f"    {sql[:150]}")
    if py_spy:
        kind = "GIL holder only: Python on CPU" if args.py_spy_gil else "non-idle threads: on CPU or waiting on I/O"
        print(f"\npy-spy, all workers ({kind}); figures under profiling are slower, do not compare them:")
        for phase, found in py_spy.items():
            if not found:
                print(f"  {phase}: no samples")
                continue
            print(f"  {phase}: {found['samples']:,} samples, {found['anchor_share']:.0%} under {found['anchor']}")
            print("    calls from there (inclusive, share of those samples):")
            for frame, share in found["anchor_children"]:
                print(f"      {share:6.1%}  {frame}")
            print("    innermost frames there:")
            for frame, share in found["anchor_leaves"]:
                print(f"      {share:6.1%}  {frame}")
            libraries = ", ".join(f"{name} {share:.0%}" for name, share in found["leaf_libraries"][:6])
            print(f"    innermost frame's library, all samples: {libraries}")

    with raw_connect(args.database_url) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()[0]
        sync_commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
    payload = {
        "users": args.users,
        "history": "90 days x 20,000 settled participations" if args.history else None,
        "round_day": day.isoformat(),
        "local_time_at_start": local_now.isoformat(),
        "cpu_count": os.cpu_count(),
        "gunicorn": {"workers": args.workers, "worker_class": args.worker_class, "threads": args.threads},
        "wrk": {"threads": args.wrk_threads, "connections": args.connections, "duration_s": args.duration},
        "warmup_s": args.warmup,
        "repeat": args.repeat,
        "vacuum": args.vacuum,
        "uid_order": args.uid_order,
        "uid_stride": args.stride,
        "conn_health_checks": args.health_checks,
        "csrf_cookie": not args.first_visits,
        "prepare_threshold": prepare_threshold(),
        "database": dbname(args.database_url),
        "redis": args.redis_url,
        "postgresql": server_version,
        "synchronous_commit": sync_commit,
        "code": code_revision(),
        "cycles": cycles,
        "ratios_by_cycle": ratios_by_cycle,
        "quiet_cycles": quiet,
        "quiet_cores": args.quiet_cores,
        "ratios": ratios,
        "clock_checks": checks,
        "queries_per_request": queries,
        "py_spy": py_spy,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
