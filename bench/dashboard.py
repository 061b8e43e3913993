"""Benchmark: render the admin's round dashboard for a round of N participations on PostgreSQL.

Target: a round of 1,000,000 participations renders in under 2 s.

    .venv/bin/python bench/dashboard.py                          # 1,000,000 participations, 5 renders
    .venv/bin/python bench/dashboard.py --participants 100000 --repeat 3
    .venv/bin/python bench/dashboard.py --reuse                  # keep a round built by an earlier run

The round is built by ``bench/biground.py`` (COPY, then a real ``round_settle``; not measured) in the bench's own
database (``--database-url``, default ``$DATABASE_URL`` or ``postgres://postgres@127.0.0.1:5432/clock_bench``).
Then, in a fresh child process each:

* ``page``: the whole admin page — ``GET /admin/clock_app/round/dashboard/<day>/`` through Django's test client
  as a superuser (authentication, every query, the template with its SVG) — once cold (first request of the
  process: templates compiled, connection opened), then ``--repeat`` times warm; the median of the warm ones
  is the figure. The child also times each part of the page's data (information).
* ``baseline``: ``SELECT count(*), sum(order_money) FROM pay_clock_day WHERE clock_day = D`` — one pass over the
  round's rows, the floor of anything that looks at every participation — warm, ``--repeat`` times.

Results go to ``bench/out/dashboard.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import biground
from benchlib import code_revision, ensure_database  # bench/ is on sys.path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "dashboard.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/clock_bench"
MARK = "BENCH_RESULT "
TARGET_SECONDS = 2.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="warm renders (and baseline queries) timed")
    parser.add_argument("--day", default="2001-03-01", help="the bench round's clock_day")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--reuse", action="store_true", help="keep the round if it is already built with N rows")
    parser.add_argument("--child", choices=("page", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.day = date.fromisoformat(args.day)
    return args


def setup_django(url: str) -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "False")
    import django

    django.setup()


def child(args: argparse.Namespace) -> None:
    setup_django(args.database_url)
    from django.db import connection

    if args.child == "baseline":

        def once() -> None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*), sum(order_money) FROM pay_clock_day WHERE clock_day = %s", [args.day])
                cursor.fetchone()

        started = time.perf_counter()
        once()
        cold = time.perf_counter() - started
        warm = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            once()
            warm.append(time.perf_counter() - started)
        print(MARK + json.dumps({"cold": cold, "warm": warm}))
        return

    from django.contrib.auth.models import User
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from clock_app import dashboard
    from clock_app.models import Round

    client = Client()
    client.force_login(User.objects.get(username="bench-operator"))
    url = reverse("admin:clock_app_round_dashboard_day", args=[args.day.isoformat()])

    def render() -> tuple[float, int]:
        started = time.perf_counter()
        response = client.get(url)
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            sys.exit(f"GET {url} answered {response.status_code}")
        return seconds, len(response.content)

    cold, size = render()
    warm = [render()[0] for _ in range(args.repeat)]
    with CaptureQueriesContext(connection) as queries:
        render()
    the_round = Round.objects.get(clock_day=args.day)
    parts = {}
    for name, call in (
        ("round_rows", lambda: dashboard.round_rows(the_round)),
        ("history", lambda: dashboard.history(args.day)),
    ):
        started = time.perf_counter()
        call()
        parts[name] = time.perf_counter() - started
    print(MARK + json.dumps({"cold": cold, "warm": warm, "bytes": size, "queries": len(queries), "parts": parts}))


def run_child(args: argparse.Namespace, step: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--database-url", args.database_url]
    command += ["--day", args.day.isoformat(), "--repeat", str(args.repeat)]
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
    if not (args.reuse and biground.exists(args.database_url, args.day, args.participants)):
        biground.build(args.database_url, args.day, args.participants)
    from django.contrib.auth.models import User

    if not User.objects.filter(username="bench-operator").exists():
        User.objects.create_superuser("bench-operator", "bench@example.com", None)

    baseline, page = run_child(args, "baseline"), run_child(args, "page")
    warm, floor = statistics.median(page["warm"]), statistics.median(baseline["warm"])
    print(f"\nround of {args.participants:,} participations, {os.cpu_count()} cores, code {code_revision()}")
    print(f"dashboard page, warm: median {warm:.3f} s of {', '.join(f'{s:.3f}' for s in page['warm'])}")
    print(f"dashboard page, cold (first request of the process): {page['cold']:.3f} s")
    print(f"page: {page['bytes']:,} bytes, {page['queries']} queries")
    print("parts: " + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in page["parts"].items()))
    print(f"baseline (one pass over the round's rows), warm: median {floor:.3f} s")
    print(f"dashboard / baseline: {warm / floor:.1f} x")
    verdict = "PASS" if max(warm, page["cold"]) < TARGET_SECONDS else "FAIL"
    print(f"target < {TARGET_SECONDS:.0f} s (warm and cold) for 1,000,000 participations: {verdict}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "participants": args.participants,
                "cpu_count": os.cpu_count(),
                "code_revision": code_revision(),
                "page": page,
                "baseline": baseline,
                "ratio": warm / floor,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
