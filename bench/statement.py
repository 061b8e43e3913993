"""Benchmark: export a settled round's statement for N winners with flat memory.

For each N (default 10,000 and 100,000 winners) the script builds and settles a round in its own database
(reusing ``bench/settle.py``'s builder; not measured), then measures in fresh child processes:

* ``export``: ``clock_app.exports.statement_chunks(round)`` hashed line by line (what ``clock_statement``
  and the ``statement.jsonl`` endpoint stream), checked against the stored ``statement_hash``;
* ``baseline``: the same winners' rows streamed through a server-side cursor with no formatting at all —
  the floor cost of reading them.

Flat memory means the export's peak above its starting RSS stops growing with N: it is one fetch of
20,000 rows (the server-side cursor's chunk), whatever the round's size. Run from the repository root::

    .venv/bin/python bench/statement.py                 # N = 10,000 and 100,000
    .venv/bin/python bench/statement.py --winners 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "statement.json"
MARK = "BENCH_RESULT "
DAY = date(2001, 2, 1)

_spec = importlib.util.spec_from_file_location("bench_settle", Path(__file__).with_name("settle.py"))
settle_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(settle_bench)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--winners", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", settle_bench.DEFAULT_URL))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=("export", "baseline"), help=argparse.SUPPRESS)
    return parser.parse_args()


def child(args: argparse.Namespace) -> None:
    settle_bench.setup_django(args.database_url)
    from django.db import connection

    from clock_app.exports import statement_chunks
    from clock_app.models import Round

    the_round = Round.objects.get(clock_day=DAY)
    connection.ensure_connection()
    settle_bench.reset_peak()
    before = settle_bench.proc_status_mb("VmRSS")
    started = time.perf_counter()
    lines = 0
    if args.child == "export":
        sha = hashlib.sha256()
        for chunk in statement_chunks(the_round):
            sha.update(chunk)
            lines += 1
        if sha.hexdigest() != the_round.statement_hash:
            sys.exit("the exported statement does not hash to statement_hash")
    else:
        from django.db import transaction

        with transaction.atomic(), connection.cursor() as cursor, cursor.connection.cursor(name="rows") as rows:
            rows.itersize = 20_000
            rows.execute(
                "SELECT uid, order_money, red_money FROM pay_clock_day WHERE clock_day = %s AND clock_status = 2", [DAY]
            )
            for _ in rows:
                lines += 1
    seconds = time.perf_counter() - started
    peak = settle_bench.proc_status_mb("VmHWM")
    print(MARK + json.dumps({"seconds": seconds, "peak_delta_mb": peak - before, "lines": lines}))


def run_child(args: argparse.Namespace, step: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", step, "--database-url", args.database_url],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(next(line for line in output.splitlines() if line.startswith(MARK))[len(MARK) :])


def build_and_settle(args: argparse.Namespace, winners: int) -> None:
    build = argparse.Namespace(
        day=DAY, winners=winners, losers=winners // 10, seed=settle_bench.DEFAULT_SEED, database_url=args.database_url
    )
    settle_bench.build_round(build)
    from clock_app import calendar
    from clock_app.services.settlement import round_settle

    round_settle(DAY, now=calendar.at(DAY + timedelta(days=1), calendar.time(9)))


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    settle_bench.ensure_database(args.database_url)
    settle_bench.setup_django(args.database_url)
    results = []
    for winners in args.winners:
        build_and_settle(args, winners)
        runs = {step: [run_child(args, step) for _ in range(args.repeat)] for step in ("baseline", "export")}
        row = {
            "winners": winners,
            **{f"{step}_s": statistics.median(r["seconds"] for r in runs[step]) for step in runs},
            **{f"{step}_peak_delta_mb": max(r["peak_delta_mb"] for r in runs[step]) for step in runs},
        }
        row["ratio"] = row["export_s"] / row["baseline_s"]
        results.append(row)
    print(f"\nstatement export, median of {args.repeat} run(s), {os.cpu_count()} cores")
    print(
        f"{'winners':>10} {'export s':>9} {'baseline s':>11} {'ratio':>6} {'export peak Δ MB':>17} "
        f"{'baseline peak Δ MB':>19}"
    )
    for row in results:
        print(
            f"{row['winners']:>10,} {row['export_s']:>9.2f} {row['baseline_s']:>11.2f} {row['ratio']:>6.1f} "
            f"{row['export_peak_delta_mb']:>17.1f} {row['baseline_peak_delta_mb']:>19.1f}"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
