"""Benchmark: the admin's CSV exports stream with flat memory.

    .venv/bin/python bench/exports.py                               # rounds of 100,000 and 1,000,000
    .venv/bin/python bench/exports.py --rows 10000 100000 --reuse

For each size N a round of N participations is built by ``bench/biground.py`` (not measured; ``--reuse`` keeps
one built before). Then, each in a fresh child process, through the admin action itself — a POSTed request,
``RoundAdmin.export_participants`` / ``export_payouts``, every chunk of the ``StreamingHttpResponse`` read and
counted, as a WSGI server would send it:

* ``participants``: every participation (N lines), mobiles masked;
* ``payouts``: every winner (about 0.8 N lines);
* ``baseline``: the participations' same columns through a server-side cursor, nothing formatted — the floor
  cost of reading the rows.

Memory: the child resets its peak RSS (``/proc/self/clear_refs``) right before reading and reports the peak
above the RSS it had then. Flat memory means that figure does not grow from 100,000 to 1,000,000 rows.
Results go to ``bench/out/exports.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import biground
from benchlib import code_revision, ensure_database  # bench/ is on sys.path
from dashboard import DEFAULT_URL, setup_django
from settle import proc_status_mb, reset_peak

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "exports.json"
MARK = "BENCH_RESULT "
FIRST_DAY = date(2001, 4, 1)
STEPS = ("baseline", "participants", "payouts")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--reuse", action="store_true", help="keep rounds already built with N rows")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    return parser.parse_args()


def child(args: argparse.Namespace) -> None:
    setup_django(args.database_url)
    from django.contrib.admin.sites import site
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test import RequestFactory

    from clock_app.models import Round

    day = date.fromisoformat(args.day)
    connection.ensure_connection()
    if args.child == "baseline":

        def chunks():
            with transaction.atomic(), connection.cursor() as cursor, cursor.connection.cursor(name="rows") as rows:
                rows.itersize = 5000
                rows.execute(
                    "SELECT clock_day, uid, nickname, mobile, order_no, order_money, create_time, clock_status, "
                    "clock_time, red_money, red_status FROM pay_clock_day WHERE clock_day = %s ORDER BY id",
                    [day],
                )
                yield from rows

    else:
        request = RequestFactory().post("/admin/clock_app/round/")
        request.user = User.objects.get(username="bench-operator")
        round_admin = site._registry[Round]
        action = getattr(round_admin, f"export_{args.child}")

        def chunks():
            response = action(request, Round.objects.filter(clock_day=day))
            yield from response.streaming_content

    before = proc_status_mb("VmRSS")
    reset_peak()
    started = time.perf_counter()
    lines = size = 0
    for chunk in chunks():
        lines += 1
        size += len(chunk) if isinstance(chunk, bytes) else 0
    seconds = time.perf_counter() - started
    peak = proc_status_mb("VmHWM")
    print(MARK + json.dumps({"seconds": seconds, "peak_delta_mb": peak - before, "lines": lines, "bytes": size}))


def run_child(args: argparse.Namespace, step: str, day: date) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--day", day.isoformat()]
    command += ["--database-url", args.database_url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode or not lines:
        sys.stdout.write(done.stdout + done.stderr)
        sys.exit(f"child {step} failed ({done.returncode})")
    return json.loads(lines[-1][len(MARK) :])


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.contrib.auth.models import User

    results = []
    for index, rows in enumerate(args.rows):
        day = FIRST_DAY + timedelta(days=index)
        if not (args.reuse and biground.exists(args.database_url, day, rows)):
            biground.build(args.database_url, day, rows)
        if not User.objects.filter(username="bench-operator").exists():
            User.objects.create_superuser("bench-operator", "bench@example.com", None)
        measured = {step: run_child(args, step, day) for step in STEPS}
        results.append({"rows": rows, **measured})
        for step in STEPS:
            r = measured[step]
            print(
                f"{rows:>10,} rows  {step:<13} {r['seconds']:7.2f} s  {r['lines']:>10,} lines  "
                f"{r['bytes'] / 1e6:8.1f} MB sent  peak +{r['peak_delta_mb']:.1f} MB",
                flush=True,
            )
    print(f"\nCSV exports through the admin action, {os.cpu_count()} cores, code {code_revision()}")
    print(f"{'rows':>10} {'participants s':>15} {'payouts s':>10} {'baseline s':>11} {'ratio':>6} {'peak Δ MB':>22}")
    for r in results:
        ratio = r["participants"]["seconds"] / r["baseline"]["seconds"]
        peaks = f"{r['participants']['peak_delta_mb']:.1f} / {r['payouts']['peak_delta_mb']:.1f} / "
        peaks += f"{r['baseline']['peak_delta_mb']:.1f}"
        print(
            f"{r['rows']:>10,} {r['participants']['seconds']:>15.2f} {r['payouts']['seconds']:>10.2f} "
            f"{r['baseline']['seconds']:>11.2f} {ratio:>6.1f} {peaks:>22}"
        )
    print("(ratio: participants export / baseline; peak Δ: participants / payouts / baseline, MB above the start)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"cpu_count": os.cpu_count(), "code_revision": code_revision(), "results": results}))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
