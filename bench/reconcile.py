"""Benchmark: reconcile a channel's bill of N payments with the books, in bounded memory.

    .venv/bin/python bench/reconcile.py                    # N = 100,000 and 1,000,000
    .venv/bin/python bench/reconcile.py --lines 20000      # a quick check

Builds N paid orders of one day in its own PostgreSQL database (``--database-url``, default
``postgres://postgres@127.0.0.1:5432/clock_bench_reconcile``; COPY, not measured) and a channel whose
``bill(day)`` yields the matching N payment lines one at a time — a generator, as the real channels stream
theirs from a temporary file — with one payment missing from the books (so one is applied) and one amount off
by a fen. Then, each in a fresh child process:

* ``ceiling``: the comparison's own shape in raw SQL — COPY the same N lines into a temporary table, one
  anti-join for payments the books lack, one join for amounts that differ;
* ``reconcile``: ``clock_app.services.reconcile.reconcile_day`` (staging in batches, the SQL comparison, the
  payment applied through ``order_notify``, the differences stored).

Reported: seconds, the ratio to the ceiling, and each child's peak memory above its start (``VmHWM`` after
``/proc/self/clear_refs``); flat memory means the same peak at 100,000 and 1,000,000 lines. Written to
``bench/out/reconcile.json`` with the code revision.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import code_revision, ensure_database, raw_connect
from settle import proc_status_mb, reset_peak

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "reconcile.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clock_bench_reconcile"
DAY = date(2002, 2, 2)
MARK = "BENCH_RESULT "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, action="append", help="bill lines (default: 100000 and 1000000)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--child", choices=("ceiling", "reconcile"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    django.setup()
    settings.CLOCK = {**settings.CLOCK, "PAYMENT_CHANNEL": {"BACKEND": "reconcile.BenchChannel", "OPTIONS": {}}}
    from clock_app.conf import clock_settings

    clock_settings.reset()


def order_no(i: int) -> str:
    return f"TTC{DAY:%Y%m%d}{i:010d}"


def transaction_id(i: int) -> str:
    return f"4200{i:024d}"


def paid_at(i: int) -> datetime:
    from clock_app import calendar

    return calendar.at(DAY, datetime.min.time()) + timedelta(seconds=10 + i % 86_000)


class BenchChannel:
    """A channel whose bill is N payment lines, generated on the fly."""

    name = "bench"
    lines = int(os.environ.get("BENCH_LINES", "0"))

    def __init__(self, **options: Any) -> None:
        pass

    def bill(self, day: date) -> Iterator[Any]:
        from clock_app.channels.base import BillLine

        for i in range(self.lines):
            amount = 101 if i == 7 else 100  # one amount off by a fen
            yield BillLine("payment", order_no(i), transaction_id(i), amount, "SUCCESS", paid_at(i), f"open-{i}")

    def query_payment(self, order: Any) -> None:
        return None


def build(url: str, lines: int) -> None:
    """N orders of DAY, all paid but the last (its notification was 'lost': the reconciliation applies it)."""
    setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with raw_connect(url) as conn:
        conn.execute("DELETE FROM pay_clock_reconcile_diff; DELETE FROM pay_clock_reconcile_run")
        conn.execute("DELETE FROM pay_clock_user_log; DELETE FROM pay_clock_day; DELETE FROM pay_clock_order")
        conn.execute("DELETE FROM pay_clock WHERE clock_day = %s", [DAY])
        now = datetime.now().astimezone()
        with conn.cursor().copy(
            "COPY pay_clock_order (order_no, clock_day, user_id, transaction_id, buyer_id, order_status, pay_amount,"
            " discount_money, pay_result, pay_time, refund_status, refund_reason, refund_result, refund_attempts,"
            " create_time, update_time) FROM STDIN"
        ) as copy:
            for i in range(lines):
                last = i == lines - 1
                copy.write_row(
                    (
                        order_no(i),
                        DAY,
                        i + 1,
                        "" if last else transaction_id(i),
                        f"open-{i}",
                        1 if last else 2,
                        100,
                        0,
                        "",
                        None if last else paid_at(i),
                        1,
                        "",
                        "",
                        0,
                        now,
                        now,
                    )
                )
        conn.execute("VACUUM ANALYZE pay_clock_order")


def child(args: argparse.Namespace) -> None:
    url = args.database_url
    setup_django(url)
    start_rss = proc_status_mb("VmRSS")
    reset_peak()
    began = time.perf_counter()
    if args.child == "reconcile":
        from clock_app.services.reconcile import reconcile_day

        report = reconcile_day(DAY)
        detail = {"found": report.found, "applied": report.run.applied, "lines": report.run.lines}
    else:
        with raw_connect(url) as conn, conn.transaction():
            conn.execute("CREATE TEMP TABLE bill (channel_id text, number text, amount bigint, at timestamptz)")
            with conn.cursor().copy("COPY bill FROM STDIN") as copy:
                for line in BenchChannel().bill(DAY):
                    copy.write_row((line.channel_id, line.number, line.amount, line.at))
            missing = conn.execute(
                "SELECT count(*) FROM bill b WHERE NOT EXISTS "
                "(SELECT 1 FROM pay_clock_order o WHERE o.transaction_id = b.channel_id)"
            ).fetchone()[0]
            differing = conn.execute(
                "SELECT count(*) FROM bill b JOIN pay_clock_order o ON o.transaction_id = b.channel_id "
                "WHERE o.pay_amount <> b.amount"
            ).fetchone()[0]
            conn.execute("DROP TABLE bill")
        detail = {"missing": missing, "differing": differing}
    seconds = time.perf_counter() - began
    peak = proc_status_mb("VmHWM")  # since the reset, where the kernel allows it (else the process peak)
    print(MARK + json.dumps({"seconds": seconds, "peak_delta_mb": round(peak - start_rss, 1), **detail}))


def run_child(args: argparse.Namespace, step: str, lines: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, "--database-url", args.database_url],
        env={**os.environ, "BENCH_LINES": str(lines)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith(MARK))[len(MARK) :])


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    ensure_database(args.database_url)
    results = []
    for lines in args.lines or [100_000, 1_000_000]:
        build(args.database_url, lines)
        ceiling = run_child(args, "ceiling", lines)
        reconciled = run_child(args, "reconcile", lines)
        assert reconciled["applied"] == 1 and reconciled["found"].get("amount") == 1, reconciled
        results.append(
            {
                "lines": lines,
                "ceiling": ceiling,
                "reconcile": reconciled,
                "ratio": round(reconciled["seconds"] / ceiling["seconds"], 2),
            }
        )
        print(
            f"{lines:>9,} lines: reconcile {reconciled['seconds']:.1f} s, peak +{reconciled['peak_delta_mb']} MB; "
            f"ceiling (COPY + 2 joins) {ceiling['seconds']:.1f} s, peak +{ceiling['peak_delta_mb']} MB; "
            f"ratio {reconciled['seconds'] / ceiling['seconds']:.2f}",
            flush=True,
        )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"revision": code_revision(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
