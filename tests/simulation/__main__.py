"""``python -m tests.simulation [--seeds 0-49,1234] [--days 2] [--players 8]``: run the fault simulation for
the given seeds (through pytest, which makes the PostgreSQL test database); a failing seed is printed with
the step that broke, and replays the same way with ``--seeds <it>``. Needs ``DATABASE_URL=postgres://…``."""

from __future__ import annotations

import argparse
import os
import sys

import pytest


def seeds(text: str) -> str:
    chosen: list[str] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        chosen += [str(s) for s in range(int(first), int(last or first) + 1)]
    return ",".join(chosen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.simulation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-49", help="seeds: '7', '0-49', '3,17,100-120' (default 0-49)")
    parser.add_argument("--days", type=int, default=2, help="simulated rounds per seed (default 2)")
    parser.add_argument("--players", type=int, default=8, help="players per seed (default 8)")
    args = parser.parse_args(argv)
    os.environ.update(
        CLOCK_SIM_SEEDS=seeds(args.seeds), CLOCK_SIM_DAYS=str(args.days), CLOCK_SIM_PLAYERS=str(args.players)
    )
    here = os.path.dirname(__file__)
    return pytest.main([os.path.join(here, "test_simulation.py"), "-q", "-p", "no:cacheprovider", "-x"])


if __name__ == "__main__":
    sys.exit(main())
