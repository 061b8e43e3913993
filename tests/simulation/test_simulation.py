"""The fault simulation in CI: a fixed set of seeds, plus a few random ones printed in the run's summary (so a
failure can be replayed: ``python -m tests.simulation --seeds S``)."""

import os
import random

import pytest

from tests.conftest import require
from tests.fakes.wechatpay import FakeWeChatPay

from .world import Simulation

if os.environ.get("CLOCK_SIM_SEEDS"):
    SEEDS, RANDOM = [int(s) for s in os.environ["CLOCK_SIM_SEEDS"].split(",")], []
else:
    RANDOM = random.Random().sample(range(1000, 10**9), 3)
    SEEDS = [*range(50), *RANDOM]
DAYS = int(os.environ.get("CLOCK_SIM_DAYS", "2"))
PLAYERS = int(os.environ.get("CLOCK_SIM_PLAYERS", "6"))


@pytest.mark.parametrize("seed", SEEDS)
def test_no_fault_breaks_an_invariant(seed, transactional_db, measurement):
    from django.db import connection

    require(connection.vendor == "postgresql", "the simulation needs PostgreSQL (threads, forked jobs)")
    with FakeWeChatPay() as fake:
        report = Simulation(seed, fake, days=DAYS, players=PLAYERS).run()
    assert report.checks > 10 and report.events["paid"] > 0
    if seed in RANDOM or os.environ.get("CLOCK_SIM_VERBOSE"):
        measurement(
            f"simulation seed {seed}: {report.steps} steps, {report.checks} invariant checks, no break; faults "
            f"{dict(report.faults)}; channel faults fired {dict(fake.faults_injected)}"
        )
