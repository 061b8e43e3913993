"""Benchmark: settle one round of N winners on PostgreSQL, against a one-statement floor.

Target: 1,000,000 winners settled in under 60 s and under 500 MB peak memory on a 2-core machine.

Run from anywhere (the script changes to the repository root)::

    .venv/bin/python bench/settle.py                       # 1,000,000 winners, 100,000 losers, 3 runs
    .venv/bin/python bench/settle.py --winners 20000 --repeat 1

It uses its own database (``--database-url``, default ``$DATABASE_URL`` or
``postgres://postgres@127.0.0.1:5432/clock_bench``), creates it when missing and migrates it. Building the
round (COPY of N + M ``pay_clock_day`` rows, VACUUM ANALYZE) is not measured. Every measured step runs in a
fresh child process (``--child STEP``, internal), so its peak RSS belongs to that step only:

* ``baseline``: ``UPDATE pay_clock_day SET red_money = 1 WHERE clock_day = D AND clock_status = 2`` in a
  transaction that is rolled back: the floor cost of touching every winner row once;
* ``settle``: ``clock_app.services.settlement.round_settle(D, now=<after the window closed>)``;
* ``split_bonus`` and ``Winners.load``: the pure split and the winners' load, for information.

Before every measured step the round is reset to unsettled (``red_money`` all 0), ``pay_clock_day`` is
rewritten with VACUUM FULL (``--vacuum plain``: a plain VACUUM, which lets the table drift, see
:func:`reset_round`) and a CHECKPOINT is taken, so every run starts from the same state.

Peak memory is the child's ``VmHWM`` after resetting it (``/proc/self/clear_refs``) right before the call;
``ru_maxrss`` is reported too but includes the parent's RSS at exec, so it cannot go below it. Figures are
printed as a table and written to ``bench/out/settle.json``, with the git revision of the code measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from benchlib import code_revision, dbname, ensure_database, raw_connect  # bench/ is on sys.path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "settle.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clock_bench"
DEFAULT_DAY = "2001-01-01"
# A fixed seed (its commitment stored with it) makes the allocation and the statement hash a function of N and M
# only, so a change to the settlement code can be checked to leave the statement unchanged.
DEFAULT_SEED = "c10c" * 16
RESULT_MARK = "BENCH_RESULT "
TARGET_SECONDS = 60.0
TARGET_MB = 500.0
STAKE = 100  # fen
COPY_CHUNK = 50_000

STEPS = {
    "baseline": "baseline UPDATE, rolled back",
    "settle": "round_settle",
    "split": "split_bonus (info)",
    "load": "Winners.load (info)",
}


# --------------------------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--winners", type=int, default=1_000_000, help="clocked-in rows (default 1,000,000)")
    parser.add_argument("--losers", type=int, default=None, help="joined, not clocked-in rows (default N//10)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_URL,
        help=f"the bench's own database (default $DATABASE_URL or {DEFAULT_URL})",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measured step; the median is reported")
    parser.add_argument("--day", default=DEFAULT_DAY, help=f"the bench round's clock_day (default {DEFAULT_DAY})")
    parser.add_argument(
        "--seed", default=DEFAULT_SEED, help="the round's split seed, 64 hex (default: fixed; 'random': round_open's)"
    )
    parser.add_argument(
        "--vacuum",
        choices=("full", "plain"),
        default="full",
        help="how the table is reset before each measured run: VACUUM FULL (default, equal starts) or VACUUM",
    )
    parser.add_argument(
        "--history",
        action="store_true",
        help="first fill the 90 days before the round with settled history (bench/history.py; kept between runs)",
    )
    parser.add_argument("--skip-info", action="store_true", help="do not time split_bonus and Winners.load")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="K", help="also run round_settle once under cProfile, print top K"
    )
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON output (default {OUT.relative_to(ROOT)})")
    parser.add_argument("--child", choices=sorted(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.losers is None:
        args.losers = args.winners // 10
    if args.winners < 1 or args.losers < 0 or args.repeat < 1:
        parser.error("need --winners >= 1, --losers >= 0, --repeat >= 1")
    args.day = date.fromisoformat(args.day)
    return args


# --------------------------------------------------------------------------------------------- database


def setup_django(url: str) -> None:
    os.chdir(ROOT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "False")  # as in production: no query log kept in memory
    import django

    django.setup()


# --------------------------------------------------------------------------------------------- building


def build_round(args: argparse.Namespace) -> None:
    """One round of N winners and M losers, unsettled, vacuumed and analysed. Not measured."""
    from django.core.management import call_command
    from django.db import connection

    from clock_app import calendar
    from clock_app.models import Round
    from clock_app.randomness import pseudonym, seed_commitment
    from clock_app.services.rounds import round_open

    day, n, m = args.day, args.winners, args.losers
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)

    with raw_connect(args.database_url) as conn:
        others = conn.execute("SELECT EXISTS (SELECT 1 FROM pay_clock_day WHERE clock_day <> %s)", [day]).fetchone()
        if others and others[0]:
            conn.execute("DELETE FROM pay_clock_day WHERE clock_day = %s", [day])
        else:
            conn.execute("TRUNCATE pay_clock_day")
        conn.execute("DELETE FROM pay_clock WHERE clock_day = %s OR rollover_into = %s", [day, day])

    round_open(day, now=calendar.at(day, clock_time(12)))
    if args.seed != "random":
        Round.objects.filter(clock_day=day).update(split_seed=args.seed, seed_hash=seed_commitment(args.seed))
    seed = Round.objects.get(clock_day=day).split_seed
    connection.close()

    joined_at = calendar.at(day, clock_time(12))
    clocked_at = calendar.at(day + timedelta(days=1), clock_time(6))
    stamp = joined_at.isoformat()
    clock_stamp = clocked_at.isoformat()
    tag = day.strftime("%Y%m%d")
    columns = (
        "uid, nickname, mobile, source_uid, red_status, clock_day, order_no, order_money, clock_money, red_money, "
        "discount_money, clock_status, clock_time, pay_result, red_time, payout_no, pseudonym, payout_attempts, "
        "payout_claimed_at, payout_renewals, create_time, update_time"
    )
    total = n + m
    with raw_connect(args.database_url, autocommit=False) as conn:
        with conn.cursor() as cursor, cursor.copy(f"COPY pay_clock_day ({columns}) FROM STDIN") as copy:
            for start in range(0, total, COPY_CHUNK):
                lines = []
                for i in range(start, min(start + COPY_CHUNK, total)):
                    # Losers spread evenly among the winners: row i is a loser when floor(i*M/total) steps.
                    loser = (i + 1) * m // total > i * m // total
                    status, clocked = (1, "\\N") if loser else (2, clock_stamp)
                    order_no = f"B{tag}{i:010d}"
                    # The format-2 pseudonym the payment would have stored (transaction id "T" + order number).
                    name = pseudonym(seed, day, order_no, f"T{order_no}")
                    lines.append(
                        f"{i + 1}\t\t\t\t1\t{day}\t{order_no}\t{STAKE}\t0\t0\t0\t{status}\t{clocked}\t\t\\N\t"
                        f"P{tag}{i:010d}\t{name}\t0\t\\N\t0\t{stamp}\t{stamp}\n"
                    )
                copy.write("".join(lines))
        conn.execute(
            "UPDATE pay_clock SET user_num = %s, clock_money = %s WHERE clock_day = %s", [total, STAKE * total, day]
        )
        conn.commit()
    with raw_connect(args.database_url) as conn:
        conn.execute("VACUUM ANALYZE pay_clock_day")
        conn.execute("VACUUM ANALYZE pay_clock")
        winners = conn.execute(
            "SELECT count(*) FROM pay_clock_day WHERE clock_day = %s AND clock_status = 2", [day]
        ).fetchone()[0]
    if winners != n:
        sys.exit(f"built {winners} winners, expected {n}")
    print(f"built round {day}: {n:,} winners + {m:,} losers in {time.perf_counter() - started:.1f} s (not measured)")


def reset_round(url: str, day: date, vacuum: str = "full") -> None:
    """Unsettle the round, zero every packet, vacuum and checkpoint: every measured run starts equal.

    ``vacuum="full"`` (default) rewrites ``pay_clock_day`` as freshly loaded (pages filled to the fillfactor,
    indexes rebuilt). A plain VACUUM does not give equal starts: each full-table update moves the rows that do
    not fit on their page elsewhere, the table and its indexes grow, and later runs find more room for HOT
    updates than the first (on 1M winners: ~47 % HOT on a fresh table, ~94 % after a few cycles).
    """
    with raw_connect(url) as conn:
        with conn.transaction():
            conn.execute(
                "UPDATE pay_clock SET settled_at = NULL, statement_hash = '', success_user_num = 0, "
                "failure_user_num = 0, service_fee = 0, bonus_money = 0, rollover_in = 0, rollover_out = 0 "
                "WHERE clock_day = %s",
                [day],
            )
            # Same as the plain UPDATE, without rewriting rows that are already 0 (after the baseline's rollback).
            conn.execute("UPDATE pay_clock_day SET red_money = 0 WHERE clock_day = %s AND red_money <> 0", [day])
        conn.execute("VACUUM (FULL, ANALYZE) pay_clock_day" if vacuum == "full" else "VACUUM pay_clock_day")
        conn.execute("CHECKPOINT")


def check_settled(url: str, day: date, winners: int) -> str:
    """The settlement really happened: round settled, packets written and summing to the bonus."""
    with raw_connect(url) as conn:
        settled_at, success, bonus, fee, rollover_out, statement_hash = conn.execute(
            "SELECT settled_at, success_user_num, bonus_money, service_fee, rollover_out, statement_hash "
            "FROM pay_clock WHERE clock_day = %s",
            [day],
        ).fetchone()
        paid, packets = conn.execute(
            "SELECT count(*) FILTER (WHERE red_money > 0), coalesce(sum(red_money), 0) FROM pay_clock_day "
            "WHERE clock_day = %s",
            [day],
        ).fetchone()
    problems = []
    if settled_at is None:
        problems.append("round not settled")
    if success != winners:
        problems.append(f"success_user_num {success} != {winners}")
    if packets != bonus - rollover_out:
        problems.append(f"packets sum to {packets}, bonus_money - rollover_out is {bonus - rollover_out}")
    if problems:
        sys.exit("settlement check failed: " + "; ".join(problems))
    return (
        f"checked: settled, {success:,} winners, {paid:,} packets > 0 summing to bonus - rollover_out "
        f"{bonus - rollover_out:,} fen, "
        f"fee {fee:,}, rollover_out {rollover_out:,}, statement {statement_hash[:12]}…"
    )


# --------------------------------------------------------------------------------------------- children


def proc_status_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise LookupError(field)


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0). ``ru_maxrss`` alone cannot be trusted in
    a child: at exec the kernel folds the *parent's* peak RSS into it, so small steps would all report the
    parent's size."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def child(args: argparse.Namespace) -> None:
    """One measured step in this (fresh) process; prints one RESULT_MARK line of JSON."""
    setup_django(args.database_url)

    from django.db import connection, transaction
    from django.db.models import Count, Sum

    from clock_app import calendar
    from clock_app.models import ClockStatus, Participation, Round
    from clock_app.randomness import SeededRandom
    from clock_app.rules import RoundRules
    from clock_app.services.settlement import round_settle
    from clock_app.split import split_bonus
    from clock_app.statement import fee_and_bonus
    from clock_app.winners import Winners

    day = args.day
    the_round = Round.objects.get(clock_day=day)
    extra: dict = {}

    if args.child == "baseline":

        def call() -> None:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE pay_clock_day SET red_money = 1 WHERE clock_day = %s AND clock_status = %s",
                    [day, int(ClockStatus.CLOCKED_IN)],
                )
                extra["rows"] = cursor.rowcount
                transaction.set_rollback(True)

    elif args.child == "settle":
        now = calendar.red_open_at(day, the_round)  # after the check-in window closed

        def call() -> None:
            result = round_settle(day, now=now)
            extra["already_settled"] = result.already_settled
            extra["statement_hash"] = result.statement_hash

    elif args.child == "split":
        rules = RoundRules.of(the_round)
        books = Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN).aggregate(
            n=Count("id"), stakes=Sum("order_money")
        )
        winners = books["n"]
        # The bonus as settlement computes it (no rollover in the bench round).
        _, pot = fee_and_bonus(
            forfeited=the_round.clock_money - (books["stakes"] or 0), rollover_in=0, service_ratio=rules.service_ratio
        )
        extra.update(bonus=pot, winners=winners)

        def call() -> None:
            split = split_bonus(
                pot,
                winners,
                lucky_num=rules.lucky_num,
                lucky_proportion=rules.lucky_proportion,
                cap=rules.max_packet,
                rng=SeededRandom(the_round.split_seed),
            )
            extra["leftover"] = split.leftover

    else:  # load

        def call() -> None:
            extra["loaded"] = len(Winners.load(the_round))

    connection.ensure_connection()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(call)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(args.profile)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(args.profile)
        return

    rss_before = proc_status_mb("VmRSS")
    peak_was_reset = reset_peak()
    started = time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    maxrss = maxrss_mb()
    # The peak of the call itself: VmHWM since the reset, else ru_maxrss (which may include the parent's peak).
    peak = proc_status_mb("VmHWM") if peak_was_reset else maxrss
    result = {
        "seconds": seconds,
        "rss_before_mb": rss_before,
        "peak_mb": peak,
        "peak_delta_mb": peak - rss_before,
        "ru_maxrss_mb": maxrss,
        "peak_source": "VmHWM after clear_refs" if peak_was_reset else "ru_maxrss",
    }
    print(RESULT_MARK + json.dumps({**result, **extra}, default=str), flush=True)


def run_child(args: argparse.Namespace, step: str, profile: int = 0) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        step,
        "--database-url",
        args.database_url,
        "--day",
        args.day.isoformat(),
        "--winners",
        str(args.winners),
        "--losers",
        str(args.losers),
        "--profile",
        str(profile),
    ]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode or (not lines and not profile):
        sys.stdout.write(done.stdout)
        sys.exit(f"child {step} failed with exit code {done.returncode}")
    return json.loads(lines[-1][len(RESULT_MARK) :]) if lines else {}


# --------------------------------------------------------------------------------------------- reporting


def summarise(runs: list[dict]) -> dict:
    return {
        "runs": len(runs),
        "seconds": [round(r["seconds"], 3) for r in runs],
        "median_s": statistics.median(r["seconds"] for r in runs),
        # Memory: the worst run (a peak is a peak), both above the pre-call RSS and absolute.
        "peak_delta_mb": max(r["peak_delta_mb"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "rss_before_mb": max(r["rss_before_mb"] for r in runs),
        "ru_maxrss_mb": max(r["ru_maxrss_mb"] for r in runs),
        "peak_source": runs[0]["peak_source"],
    }


def report(args: argparse.Namespace, results: dict[str, list[dict]], checked: str) -> None:
    steps = {name: summarise(runs) for name, runs in results.items() if runs}
    settle, baseline = steps["settle"], steps["baseline"]
    ratio = settle["median_s"] / baseline["median_s"] if baseline["median_s"] else float("inf")
    cores = os.cpu_count()
    passed = settle["median_s"] < TARGET_SECONDS and settle["peak_mb"] < TARGET_MB

    print()
    revision = code_revision()
    print(
        f"{args.winners:,} winners + {args.losers:,} losers, {args.repeat} run(s) each, {cores} cores, "
        f"code {revision}, reset: VACUUM {args.vacuum.upper()}"
    )
    header = f"{'step':<30} {'median s':>9} {'runs (s)':<26} {'peak Δ MB':>10} {'peak MB':>8} {'ru_maxrss':>10}"
    print(header)
    print("-" * len(header))
    for name, title in STEPS.items():
        if name not in steps:
            continue
        s = steps[name]
        runs = ", ".join(f"{x:.2f}" for x in s["seconds"])
        print(
            f"{title:<30} {s['median_s']:>9.2f} {runs:<26} {s['peak_delta_mb']:>10.1f} {s['peak_mb']:>8.1f} "
            f"{s['ru_maxrss_mb']:>10.1f}"
        )
    print("-" * len(header))
    print(
        "time: median of the runs; peak MB: worst run, measured as "
        f"{settle['peak_source']} (Δ = above the RSS right before the call); ru_maxrss for reference"
    )
    print(f"settlement / baseline: {ratio:.1f} x")
    print(checked)
    print(
        f"target {args.winners:,} winners < {TARGET_SECONDS:.0f} s and < {TARGET_MB:.0f} MB peak: "
        f"{'PASS' if passed else 'FAIL'}" + ("" if args.winners == 1_000_000 else " (not the 1,000,000 target size)")
    )
    print(
        f"settle {args.winners:,} winners: {settle['median_s']:.2f} s ({ratio:.1f} x the one-statement baseline), "
        f"peak {settle['peak_mb']:.0f} MB (+{settle['peak_delta_mb']:.0f} MB over the pre-call RSS), "
        f"on {cores} cores"
    )

    with raw_connect(args.database_url) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    payload = {
        "winners": args.winners,
        "losers": args.losers,
        "repeat": args.repeat,
        "clock_day": args.day.isoformat(),
        "database": dbname(args.database_url),
        "cpu_count": cores,
        "python": platform.python_version(),
        "postgresql": server,
        "code_revision": revision,
        "vacuum": args.vacuum,
        "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "steps": steps,
        "settle_over_baseline": ratio,
        "target": {"seconds": TARGET_SECONDS, "peak_mb": TARGET_MB, "winners": 1_000_000, "pass": passed},
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
    setup_django(args.database_url)
    if args.history:
        from django.core.management import call_command
        from history import build_history

        call_command("migrate", verbosity=0, interactive=False)
        done = build_history(args.database_url, last_day=args.day - timedelta(days=1))
        what = f"built in {done['seconds']} s (not measured)" if done["built"] else "already there"
        print(f"history {done['first_day']} … {done['last_day']}: {done['days']} x {done['per_day']:,}, {what}")
    build_round(args)

    results: dict[str, list[dict]] = {name: [] for name in STEPS}
    checked = ""
    for run in range(1, args.repeat + 1):
        # Interleaved, so that a noisy neighbour hurts both sides of the ratio alike.
        for step in ("baseline", "settle"):
            reset_round(args.database_url, args.day, args.vacuum)
            result = run_child(args, step)
            if step == "baseline" and result["rows"] != args.winners:
                sys.exit(f"baseline touched {result['rows']} rows, expected {args.winners}")
            if step == "settle":
                if result["already_settled"]:
                    sys.exit("the round was already settled: the reset did not work")
                checked = check_settled(args.database_url, args.day, args.winners)
            results[step].append(result)
            print(
                f"run {run}/{args.repeat} {STEPS[step]:<30} {result['seconds']:7.2f} s  "
                f"peak {result['peak_mb']:6.1f} MB (+{result['peak_delta_mb']:.1f})",
                flush=True,
            )
    if not args.skip_info:
        reset_round(args.database_url, args.day, args.vacuum)
        for run in range(1, args.repeat + 1):
            for step in ("split", "load"):
                result = run_child(args, step)
                results[step].append(result)
                print(
                    f"run {run}/{args.repeat} {STEPS[step]:<30} {result['seconds']:7.2f} s  "
                    f"peak {result['peak_mb']:6.1f} MB (+{result['peak_delta_mb']:.1f})",
                    flush=True,
                )
    if args.profile:
        reset_round(args.database_url, args.day, args.vacuum)
        print(f"\ncProfile of one round_settle (top {args.profile}), on stderr:", flush=True)
        run_child(args, "settle", profile=args.profile)
        check_settled(args.database_url, args.day, args.winners)
    report(args, results, checked)


if __name__ == "__main__":
    main()
