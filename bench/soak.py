"""Soak run of the fault simulation (tests/simulation): many seeds, longer runs, every fault on.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clock_soak .venv/bin/python bench/soak.py \\
        --seeds 0-99 --days 7 --players 50

Each seed plays ``--days`` whole rounds with ``--players`` players against the fake WeChat Pay server, with
every fault of the simulation drawn from the seed, and checks every invariant after every step. Reported: seeds
run, steps, invariant checks, faults injected by kind (the simulation's and the channel's), breaks (must be 0;
each with its seed and step, replayable with ``python -m tests.simulation --seeds S --days D --players P``) and
the slowest seed. Written to ``bench/out/soak.json`` with the code revision. It uses Django's test database
machinery on the given server (database ``test_<name>``, kept between runs, flushed before every seed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "bench" / "out" / "soak.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-99", help="seeds, e.g. '0-99' or '3,17' (default 0-99)")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--players", type=int, default=50)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("the soak run needs DATABASE_URL=postgres://… (forked jobs and threads share the database)")
    import django

    django.setup()
    from benchlib import code_revision
    from django.core.management import call_command
    from django.test.utils import setup_databases, setup_test_environment

    from tests.fakes.wechatpay import FakeWeChatPay
    from tests.simulation.__main__ import seeds as parse_seeds
    from tests.simulation.world import Break, Simulation

    revision = code_revision()  # the code this process loaded (HEAD may move during a long run)
    setup_test_environment()
    setup_databases(verbosity=0, interactive=False, keepdb=True)
    totals = {"seeds": 0, "steps": 0, "checks": 0}
    faults: Counter[str] = Counter()
    breaks, slowest = [], (0.0, None)
    started = time.monotonic()
    for seed in (int(s) for s in parse_seeds(args.seeds).split(",")):
        call_command("flush", interactive=False, verbosity=0)
        began = time.monotonic()
        with FakeWeChatPay() as fake:
            try:
                report = Simulation(seed, fake, days=args.days, players=args.players).run()
            except Break as broke:
                breaks.append({"seed": seed, "step": broke.step, "label": broke.label, "problems": broke.problems})
                print(f"BREAK {broke}")
                continue
            faults.update(report.faults)
            faults.update({f"channel {kind} (fired)": n for kind, n in fake.faults_injected.items()})
        took = time.monotonic() - began
        slowest = max(slowest, (took, seed))
        totals["seeds"] += 1
        totals["steps"] += report.steps
        totals["checks"] += report.checks
        print(f"seed {seed}: {report.steps} steps, {took:.1f} s, no break", flush=True)
    result = {
        "revision": revision,
        "days": args.days,
        "players": args.players,
        **totals,
        "faults": dict(faults.most_common()),
        "breaks": breaks,
        "slowest_seed": {"seed": slowest[1], "seconds": round(slowest[0], 1)},
        "seconds": round(time.monotonic() - started, 1),
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 1 if breaks else 0


if __name__ == "__main__":
    sys.exit(main())
