"""Benchmark: push (pay) a settled round of N winners with a no-op handler, against two bare UPDATEs per payout.

Target (issue 15): ``round_push`` reaches at least 0.5x the payouts/s of the ceiling — a loop of two bare
conditional ``UPDATE``s per payout (claim, record) on the same rows, autocommit, raw psycopg — measured in the
same run; with Celery fan-out it scales with the workers (1, 2, 4); after 90 days of history in the tables the
ratios stay within 10 % of the ratios without history.

Run from anywhere (the script changes to the repository root); needs PostgreSQL, and Redis (or RabbitMQ) as
the Celery broker for the fan-out steps::

    .venv/bin/python bench/push.py                          # 100,000 winners, 2 runs of every step
    .venv/bin/python bench/push.py --winners 5000 --repeat 1 --workers 1
    .venv/bin/python bench/push.py --history                # the same after 90 x 20,000 settled participations

It uses its own database (``--database-url``, default ``$DATABASE_URL`` or
``postgres://postgres@127.0.0.1:5432/clock_push_bench``), creates it when missing and migrates it. Building
the round is not measured: N winners and N // 10 losers are loaded with ``COPY`` (and their players), the
round is settled with ``round_settle`` (every winner gets ``red_money`` > 0, ``red_status`` unpaid) and the
players' totals are kept in ``bench_push_players`` for the reset. Every measured step runs in a fresh child
process, interleaved, each from the same state (payout columns, ledger packet rows, payout errors and player
totals reset, ``VACUUM FULL`` of ``pay_clock_day``, ``VACUUM`` of the others, ``CHECKPOINT``):

* ``ceiling``: for each winner (ids read before the clock starts) ``UPDATE … SET red_status = paying … WHERE
  id = %s AND red_status = unpaid`` then ``UPDATE … SET red_status = paid, clock_money = order_money +
  red_money … WHERE id = %s AND red_status = paying``, autocommit, raw psycopg (prepared statements);
* ``round_push``: ``clock_app.services.payouts.round_push(D, handler=bench.push_handler.succeed)`` in-process;
* ``celery K``: a real ``celery worker --pool prefork -c K`` (started and ready before the clock starts);
  timed from ``push_round_task.apply_async`` until every winner of the round is paid.

After every step the parent checks that every winner is paid exactly once (``red_status`` paid, one claim
each, ``clock_money`` = stake + packet) and, for the app's steps, that the ledger holds exactly one packet row
per winner with that amount. Figures (payouts/s, ratios to the ceiling of the same repeat, medians) are
printed and written to ``bench/out/push.json`` with the code revision measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from hashlib import sha256
from pathlib import Path

from benchlib import code_revision, dbname, ensure_database, raw_connect  # bench/ is on sys.path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "push.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clock_push_bench"
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
DEFAULT_DAY = "2001-06-01"
SEED = "b0b0" * 16
HANDLER = "bench.push_handler.succeed"
RESULT_MARK = "BENCH_RESULT "
TARGET_RATIO = 0.5
STAKE = 100  # fen
COPY_CHUNK = 50_000
UNPAID, PAID, PAYING = 1, 2, 3
PACKET = 2  # MoneyType.RED_PACKET


# --------------------------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--winners", type=int, default=100_000, help="winners to pay (default 100,000)")
    parser.add_argument("--losers", type=int, default=None, help="joined, not clocked-in rows (default N//10)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_URL,
        help=f"the bench's own database (default $DATABASE_URL or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER,
        help=f"Celery broker and result backend of the fan-out steps (default {DEFAULT_BROKER})",
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs of each step, interleaved (default 2)")
    parser.add_argument(
        "--workers",
        default="1,2,4",
        help="Celery worker processes to measure, comma-separated (default 1,2,4; 0 or '' for none)",
    )
    parser.add_argument("--chunk", type=int, default=5000, help="push_round_task's chunk_size (default 5000)")
    parser.add_argument("--day", default=DEFAULT_DAY, help=f"the bench round's clock_day (default {DEFAULT_DAY})")
    parser.add_argument(
        "--history",
        action="store_true",
        help="first load bench/history.py's 90 days x 20,000 settled participations before the bench day",
    )
    parser.add_argument("--history-days", type=int, default=90)
    parser.add_argument("--history-per-day", type=int, default=20_000)
    parser.add_argument(
        "--profile", type=int, default=0, metavar="K", help="also run round_push once under cProfile, print top K"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default bench/out/push[-history].json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.losers is None:
        args.losers = args.winners // 10
    if args.winners < 1 or args.losers < 0 or args.repeat < 1:
        parser.error("need --winners >= 1, --losers >= 0, --repeat >= 1")
    args.workers = [int(k) for k in str(args.workers).split(",") if k.strip() and int(k) > 0]
    args.day = date.fromisoformat(args.day)
    if args.out is None:
        args.out = OUT.with_name("push-history.json") if args.history else OUT
    return args


def steps_of(args: argparse.Namespace) -> list[str]:
    return ["ceiling", "push", *(f"celery{k}" for k in args.workers)]


def title(step: str) -> str:
    if step.startswith("celery"):
        return f"celery, {step[6:]} worker process(es)"
    return {"ceiling": "ceiling: 2 bare UPDATEs/payout", "push": "round_push in-process"}[step]


# --------------------------------------------------------------------------------------------- environment


def worker_env(args: argparse.Namespace) -> dict[str, str]:
    """What the Django children and the Celery worker run with: the bench database, no query log, the no-op
    handler, a real (non-eager) Celery on the bench's broker."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DATABASE_URL": args.database_url,
        "DEBUG": os.environ.get("DEBUG", "False"),
        "CLOCK_PAYOUT_HANDLER": HANDLER,
        "CELERY_BROKER_URL": args.broker_url,
        "CELERY_RESULT_BACKEND": args.broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    }


def setup_django(args: argparse.Namespace) -> None:
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.update(worker_env(args))
    import django

    django.setup()


# --------------------------------------------------------------------------------------------- building


def build_round(args: argparse.Namespace) -> None:
    """A settled round of N winners (packets > 0, unpaid) and M losers, with their players. Not measured."""
    from django.core.management import call_command
    from django.db import connection

    from clock_app import calendar
    from clock_app.models import Round
    from clock_app.randomness import seed_commitment
    from clock_app.services.rounds import round_open
    from clock_app.services.settlement import round_settle

    day, n, m = args.day, args.winners, args.losers
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    with raw_connect(args.database_url) as conn:
        conn.execute("DELETE FROM pay_clock_day WHERE clock_day = %s", [day])
        conn.execute("DELETE FROM pay_clock_user_log WHERE clock_day = %s", [day])
        conn.execute("DELETE FROM pay_clock_user_error_log WHERE clock_day = %s", [day])
        conn.execute("DELETE FROM pay_clock WHERE clock_day = %s OR rollover_into = %s", [day, day])
        conn.execute("DROP TABLE IF EXISTS bench_push_players")

    round_open(day, now=calendar.at(day, clock_time(12)))
    Round.objects.filter(clock_day=day).update(split_seed=SEED, seed_hash=seed_commitment(SEED))
    connection.close()

    stamp = calendar.at(day, clock_time(12)).isoformat()
    clocked = calendar.at(day + timedelta(days=1), clock_time(6)).isoformat()
    tag = day.strftime("%Y%m%d")
    columns = (
        "uid, nickname, mobile, source_uid, red_status, clock_day, order_no, order_money, clock_money, red_money, "
        "discount_money, clock_status, clock_time, pay_result, red_time, payout_no, payout_attempts, "
        "payout_claimed_at, payout_renewals, pseudonym, create_time, update_time"
    )
    total = n + m
    with raw_connect(args.database_url, autocommit=False) as conn:
        with conn.cursor() as cursor, cursor.copy(f"COPY pay_clock_day ({columns}) FROM STDIN") as copy:
            for start in range(0, total, COPY_CHUNK):
                lines = []
                for i in range(start, min(start + COPY_CHUNK, total)):
                    loser = (i + 1) * m // total > i * m // total  # losers spread evenly among the winners
                    status, at = (1, "\\N") if loser else (2, clocked)
                    name = sha256(b"%d" % i).hexdigest()
                    lines.append(
                        f"{i + 1}\tplayer{i + 1}\t\topen-{i + 1}\t1\t{day}\tB{tag}{i:010d}\t{STAKE}\t0\t0\t0\t"
                        f"{status}\t{at}\t\t\\N\tP{tag}{i:010d}\t0\t\\N\t0\t{name}\t{stamp}\t{stamp}\n"
                    )
                copy.write("".join(lines))
        # Their players (kept when the history made them already), with the totals the reset restores.
        conn.execute("CREATE TEMPORARY TABLE bench_new_players (uid bigint) ON COMMIT DROP")
        with conn.cursor() as cursor, cursor.copy("COPY bench_new_players (uid) FROM STDIN") as copy:
            copy.write("".join(f"{i}\n" for i in range(1, total + 1)))
        conn.execute(
            "INSERT INTO pay_clock_user (uid, nickname, mobile, source_uid, is_remind, spend_money, income_money, "
            "clock_max_money, clock_num, clock_day_num, long_day_num, create_time, update_time) "
            "SELECT uid, 'player' || uid, '', 'open-' || uid, false, %s, 0, 0, 1, 0, 0, %s, %s "
            "FROM bench_new_players ON CONFLICT (uid) DO NOTHING",
            [STAKE, stamp, stamp],
        )
        conn.execute(
            "UPDATE pay_clock SET user_num = %s, clock_money = %s WHERE clock_day = %s", [total, STAKE * total, day]
        )
        conn.execute(
            "CREATE TABLE bench_push_players AS SELECT uid, income_money, clock_max_money FROM pay_clock_user "
            "WHERE uid BETWEEN 1 AND %s",
            [total],
        )
        conn.commit()
    with raw_connect(args.database_url) as conn:
        conn.execute("ALTER TABLE bench_push_players ADD PRIMARY KEY (uid)")
        for table in ("pay_clock_day", "pay_clock", "pay_clock_user", "bench_push_players"):
            conn.execute(f"VACUUM ANALYZE {table}")
    the_round = Round.objects.get(clock_day=day)
    round_settle(day, now=calendar.red_open_at(day, the_round))
    connection.close()
    with raw_connect(args.database_url) as conn:
        winners, packets = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE red_money > 0 AND red_status = %s) FROM pay_clock_day "
            "WHERE clock_day = %s AND clock_status = 2",
            [UNPAID, day],
        ).fetchone()
    if winners != n or packets != n:
        sys.exit(f"built {winners} winners ({packets} with an unpaid packet > 0), expected {n}")
    print(
        f"built round {day}: {n:,} winners + {m:,} losers, settled, in {time.perf_counter() - started:.1f} s "
        "(not measured)",
        flush=True,
    )


def reset_round(url: str, day: date) -> None:
    """Every winner unpaid again, the round's packet ledger rows and payout errors gone, the players' totals
    as built; ``pay_clock_day`` rewritten (VACUUM FULL: equal starts, see bench/settle.py), the rest vacuumed."""
    with raw_connect(url) as conn:
        with conn.transaction():
            conn.execute(
                "UPDATE pay_clock_day SET red_status = %s, clock_money = 0, red_time = NULL, pay_result = '', "
                "payout_attempts = 0, payout_claimed_at = NULL, payout_renewals = 0 "
                "WHERE clock_day = %s AND clock_status = 2",
                [UNPAID, day],
            )
            conn.execute("DELETE FROM pay_clock_user_log WHERE clock_day = %s AND money_type = %s", [day, PACKET])
            conn.execute("DELETE FROM pay_clock_user_error_log WHERE clock_day = %s", [day])
            conn.execute(
                "UPDATE pay_clock_user p SET income_money = b.income_money, clock_max_money = b.clock_max_money "
                "FROM bench_push_players b WHERE p.uid = b.uid "
                "AND (p.income_money, p.clock_max_money) <> (b.income_money, b.clock_max_money)"
            )
        conn.execute("VACUUM (FULL, ANALYZE) pay_clock_day")
        for table in ("pay_clock_user_log", "pay_clock_user", "pay_clock_user_error_log"):
            conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute("CHECKPOINT")


def check_paid(url: str, day: date, winners: int, *, ledger: bool) -> str:
    """Every winner paid exactly once (one claim, stake + packet) and, for the app, one ledger row each."""
    with raw_connect(url) as conn:
        paid, once, right = conn.execute(
            "SELECT count(*) FILTER (WHERE red_status = %s), count(*) FILTER (WHERE payout_attempts = 1), "
            "count(*) FILTER (WHERE clock_money = order_money + red_money AND red_money > 0) "
            "FROM pay_clock_day WHERE clock_day = %s AND clock_status = 2",
            [PAID, day],
        ).fetchone()
        rows, refs, matched = conn.execute(
            "SELECT count(*), count(DISTINCT l.reference), count(p.id) FROM pay_clock_user_log l "
            "LEFT JOIN pay_clock_day p ON p.payout_no = l.reference AND p.clock_money = l.change_money "
            "AND p.uid = l.uid WHERE l.clock_day = %s AND l.money_type = %s",
            [day, PACKET],
        ).fetchone()
        errors = conn.execute("SELECT count(*) FROM pay_clock_user_error_log WHERE clock_day = %s", [day]).fetchone()
    problems = []
    if (paid, once, right) != (winners, winners, winners):
        problems.append(f"{paid} paid, {once} claimed once, {right} with stake + packet, of {winners}")
    expected = (winners, winners, winners) if ledger else (0, 0, 0)
    if (rows, refs, matched) != expected:
        problems.append(f"ledger: {rows} packet rows, {refs} distinct, {matched} matching a payout; want {expected}")
    if errors[0]:
        problems.append(f"{errors[0]} payout errors")
    if problems:
        sys.exit("check failed: " + "; ".join(problems))
    return f"{winners:,} paid once" + (", one ledger row each" if ledger else "")


# --------------------------------------------------------------------------------------------- history


def build_history(args: argparse.Namespace) -> dict:
    """``--history``: bench/history.py's 90 days x 20,000 settled, paid participations (orders, stake and
    packet ledger rows, players) ending the day before the bench round. Idempotent: kept between runs."""
    from history import build_history as build  # bench/history.py, shared with bench/settle.py

    last_day = args.day - timedelta(days=1)
    return build(args.database_url, days=args.history_days, per_day=args.history_per_day, last_day=last_day)


def history_size(url: str, day: date) -> dict[str, int]:
    with raw_connect(url) as conn:
        days, rows = conn.execute(
            "SELECT count(DISTINCT clock_day), count(*) FROM pay_clock_day WHERE clock_day <> %s", [day]
        ).fetchone()
        ledger = conn.execute("SELECT count(*) FROM pay_clock_user_log WHERE clock_day <> %s", [day]).fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM pay_clock_order WHERE clock_day <> %s", [day]).fetchone()[0]
    return {"days": days, "participations": rows, "ledger_rows": ledger, "orders": orders}


# --------------------------------------------------------------------------------------------- children


def winner_ids(url: str, day: date) -> list[int]:
    with raw_connect(url) as conn:
        rows = conn.execute(
            "SELECT id FROM pay_clock_day WHERE clock_day = %s AND clock_status = 2 ORDER BY id", [day]
        ).fetchall()
    return [row[0] for row in rows]


def child_ceiling(args: argparse.Namespace) -> dict:
    ids = winner_ids(args.database_url, args.day)
    claim = (
        "UPDATE pay_clock_day SET red_status = %s, payout_attempts = payout_attempts + 1, payout_claimed_at = now(), "
        "update_time = now() WHERE id = %s AND red_status = %s"
    )
    record = (
        "UPDATE pay_clock_day SET red_status = %s, clock_money = order_money + red_money, red_time = now(), "
        "update_time = now() WHERE id = %s AND red_status = %s"
    )
    paid = 0
    with raw_connect(args.database_url) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        for pk in ids:
            cursor.execute(claim, [PAYING, pk, UNPAID])
            if cursor.rowcount == 1:
                cursor.execute(record, [PAID, pk, PAYING])
                paid += cursor.rowcount
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "paid": paid}


def child_push(args: argparse.Namespace) -> dict:
    setup_django(args)
    from django.db import connection
    from push_handler import succeed

    from clock_app.services.payouts import round_push

    connection.ensure_connection()
    if args.profile:
        import cProfile
        import pstats

        queries = {"n": 0}

        def count(execute, sql, params, many, context):
            queries["n"] += 1
            return execute(sql, params, many, context)

        profiler = cProfile.Profile()
        with connection.execute_wrapper(count):
            report = profiler.runcall(round_push, args.day, handler=succeed)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(args.profile)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(args.profile)
        paid = report.outcomes.get("paid", 0)
        print(
            f"queries through Django: {queries['n']:,} for {paid:,} payouts = {queries['n'] / max(paid, 1):.2f} each",
            file=sys.stderr,
        )
        return {"seconds": 0.0, "paid": paid, "queries": queries["n"]}
    marks: list[float] = []  # the clock after each keyset batch, for the rate along the round
    started = time.perf_counter()
    report = round_push(args.day, handler=succeed, progress=lambda _: marks.append(time.perf_counter()))
    seconds = time.perf_counter() - started
    # Payouts/s in each tenth of the round (ids in uid order: with --history the first uids have a past).
    tenths = [marks[min(len(marks) - 1, (len(marks) * k) // 10 - 1)] for k in range(1, 11)] if marks else []
    per_tenth = [(len(marks) / 10 * 500) / (b - a) for a, b in zip([started, *tenths], tenths, strict=False) if b > a]
    return {
        "seconds": seconds,
        "paid": report.outcomes.get("paid", 0),
        "outcomes": dict(report.outcomes),
        "payouts_per_s_by_tenth": [round(x) for x in per_tenth],
    }


def child_celery(args: argparse.Namespace, processes: int) -> dict:
    """Start a worker with ``processes`` prefork processes, wait until it answers, then time the round."""
    setup_django(args)
    from django.db import connection

    from clock_app.tasks import push_round_task
    from example_project.celery import app

    app.conf.task_always_eager = False
    app.control.purge()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "example_project",
            "worker",
            "--pool=prefork",
            f"--concurrency={processes}",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=bench-push-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=worker_env(args),
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                sys.exit("the Celery worker did not start")
        time.sleep(1.0)  # let every pool process finish importing before the clock starts
        left = "SELECT 1 FROM pay_clock_day WHERE clock_day = %s AND clock_status = 2 AND red_status <> %s LIMIT 1"
        connection.ensure_connection()
        started = time.perf_counter()
        push_round_task.apply_async((args.day.isoformat(), args.chunk))
        limit = time.monotonic() + 3600
        with connection.cursor() as cursor:
            while True:
                cursor.execute(left, [args.day, PAID])
                if cursor.fetchone() is None:
                    break
                if time.monotonic() > limit or worker.poll() is not None:
                    sys.exit("the round was not paid (worker gone or over an hour)")
                time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: the last chunks' refunds task finishes first
        try:
            worker.wait(timeout=120)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    return {"seconds": seconds, "paid": args.winners, "processes": processes}


def child(args: argparse.Namespace) -> None:
    if args.child == "ceiling":
        result = child_ceiling(args)
    elif args.child == "push":
        result = child_push(args)
    else:
        result = child_celery(args, int(args.child.removeprefix("celery")))
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)


def run_child(args: argparse.Namespace, step: str, profile: int = 0) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        step,
        "--database-url",
        args.database_url,
        "--broker-url",
        args.broker_url,
        "--day",
        args.day.isoformat(),
        "--winners",
        str(args.winners),
        "--chunk",
        str(args.chunk),
        "--profile",
        str(profile),
    ]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode or not lines:
        sys.stdout.write(done.stdout)
        sys.exit(f"child {step} failed with exit code {done.returncode}")
    return json.loads(lines[-1][len(RESULT_MARK) :])


# --------------------------------------------------------------------------------------------- reporting


def report(args: argparse.Namespace, results: dict[str, list[dict]], history: dict | None) -> None:
    steps = steps_of(args)
    revision = code_revision()
    summary: dict[str, dict] = {}
    for step in steps:
        runs = results[step]
        rates = [args.winners / r["seconds"] for r in runs]
        # Each run's ratio against the ceiling of the same repeat (the neighbour's noise hits both alike).
        ratios = [c["seconds"] / r["seconds"] for r, c in zip(runs, results["ceiling"], strict=True)]
        summary[step] = {
            "seconds": [round(r["seconds"], 3) for r in runs],
            "payouts_per_s": [round(x, 1) for x in rates],
            "median_payouts_per_s": statistics.median(rates),
            "ratios": [round(x, 3) for x in ratios],
            "median_ratio": statistics.median(ratios),
        }
    print()
    print(
        f"{args.winners:,} winners, {args.repeat} run(s) each, {os.cpu_count()} cores, code {revision}"
        + (f", history {history}" if history else ", no history")
    )
    header = f"{'step':<36} {'median payouts/s':>16} {'ratio to ceiling':>17}  runs (payouts/s)"
    print(header)
    print("-" * len(header))
    for step in steps:
        s = summary[step]
        runs = ", ".join(f"{x:.0f}" for x in s["payouts_per_s"])
        print(f"{title(step):<36} {s['median_payouts_per_s']:>16.0f} {s['median_ratio']:>16.2f}x  {runs}")
    print("-" * len(header))
    push_ratio = summary["push"]["median_ratio"]
    print(
        f"round_push / ceiling: {push_ratio:.2f}x (target >= {TARGET_RATIO}x): "
        f"{'PASS' if push_ratio >= TARGET_RATIO else 'FAIL'}"
    )
    with raw_connect(args.database_url) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    payload = {
        "winners": args.winners,
        "losers": args.losers,
        "repeat": args.repeat,
        "clock_day": args.day.isoformat(),
        "database": dbname(args.database_url),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": server,
        "code_revision": revision,
        "history": history,
        "chunk_size": args.chunk,
        "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "steps": summary,
        "push_over_ceiling": push_ratio,
        "target": {"push_over_ceiling": TARGET_RATIO, "pass": push_ratio >= TARGET_RATIO},
        "raw": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


# --------------------------------------------------------------------------------------------- main


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return

    ensure_database(args.database_url)
    setup_django(args)
    history = None
    if not args.history:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        others = history_size(args.database_url, args.day)
        if others["participations"]:
            print(f"note: the database holds other days' rows ({others}): this is not a run without history")
            history = others
    if args.history:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        started = time.perf_counter()
        build_history(args)
        history = history_size(args.database_url, args.day)
        print(f"history: {history} ({time.perf_counter() - started:.0f} s, not measured)", flush=True)
    build_round(args)

    results: dict[str, list[dict]] = {step: [] for step in steps_of(args)}
    for run in range(1, args.repeat + 1):
        for step in steps_of(args):  # interleaved: a noisy neighbour hurts every step alike
            reset_round(args.database_url, args.day)
            result = run_child(args, step)
            checked = check_paid(args.database_url, args.day, args.winners, ledger=step != "ceiling")
            results[step].append(result)
            if "payouts_per_s_by_tenth" in result:
                print(f"  round_push payouts/s by tenth of the round: {result['payouts_per_s_by_tenth']}")
            print(
                f"run {run}/{args.repeat} {title(step):<36} {result['seconds']:8.2f} s "
                f"{args.winners / result['seconds']:8.0f} payouts/s  ({checked})",
                flush=True,
            )
    if args.profile:
        reset_round(args.database_url, args.day)
        print(f"\ncProfile of one round_push (top {args.profile}), on stderr:", flush=True)
        run_child(args, "push", profile=args.profile)
        check_paid(args.database_url, args.day, args.winners, ledger=True)
    report(args, results, history)


if __name__ == "__main__":
    main()
