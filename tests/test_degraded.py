"""Redis down, hanging or flushed stops nothing (DESIGN §6, issue 13): every facade, endpoint, command and
task works from the database; a cache error is a miss, logged at a bounded rate, never an exception."""

import logging
import socket
import threading
from datetime import date, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Count, Sum
from django.test import Client, override_settings

from clock_app.models import ClockOrder, LedgerEntry, Participation, Player, Round

from .conftest import local

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
NEXT = DAY + timedelta(days=1)


def redis_at(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
            },
        }
    }


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


class BlackHole:
    """A TCP server that accepts connections and never answers: a hanging Redis."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


def play_a_round_over_http() -> dict:
    """Pay, check in, read the summary, settle, open, push, audit — through the HTTP API and the commands;
    returns what the database ends with, without the random parts (seeds, order numbers, who got which
    packet)."""
    players = {}
    for uid in range(1, 7):
        client = Client()
        client.post("/demo/login/", {"uid": uid})
        players[uid] = client
        with time_machine.travel(local(DAY, f"12:0{uid}:00"), tick=False):
            made = client.post("/api/clock/prepay/", content_type="application/json").json()
            assert made["status"] == 1, made
            notification = made["data"]["payment"]["notification"]
            acked = client.post("/api/clock/notify/", notification, content_type="application/json")
            assert acked.status_code == 200, acked.content
            assert client.get("/api/clock/summary/").json()["status"] == 1
    for uid in range(1, 5):
        with time_machine.travel(local(NEXT, f"06:0{uid}:00"), tick=False):
            assert players[uid].post("/api/clock/clock/", content_type="application/json").json()["status"] == 1
            assert players[uid].get("/api/clock/summary/").json()["status"] == 1
    out = StringIO()
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        call_command("clock_init_red", stdout=out)
        for uid in (1, 2):
            assert players[uid].post("/api/clock/red/", content_type="application/json").json()["status"] == 1
        assert Client().get("/api/clock/init/").json()["status"] == 1
        assert Client().get("/api/clock/talents/").json()["status"] == 1
        assert Client().get("/api/clock/records/").json()["status"] == 1
    with time_machine.travel(local(DAY + timedelta(days=2), "00:30:00"), tick=False):
        call_command("clock_push_red", stdout=out)
        call_command("clock_audit", stdout=out)
    the_round = Round.objects.get()
    return {
        "round": (
            the_round.user_num,
            the_round.clock_money,
            the_round.success_user_num,
            the_round.service_fee,
            the_round.bonus_money,
        ),
        "participations": sorted(Participation.objects.values_list("uid", "clock_status", "red_status", "order_money")),
        "packets": Participation.objects.aggregate(n=Count("id"), s=Sum("red_money"), paid=Sum("clock_money")),
        "ledger": sorted(
            LedgerEntry.objects.values("money_type")
            .annotate(n=Count("id"), s=Sum("change_money"))
            .values_list("money_type", "n", "s")
        ),
        "players": sorted(Player.objects.values_list("uid", "spend_money", "clock_num", "clock_day_num")),
        "orders": ClockOrder.objects.count(),
    }


def test_a_whole_round_with_redis_unreachable_ends_as_with_redis_up(django_db_blocker, caplog):
    expected = play_a_round_over_http()  # the locmem cache: up
    for model in (LedgerEntry, Participation, ClockOrder, Player, Round):
        model.objects.all().delete()
    caplog.set_level(logging.WARNING, logger="clock_app.cache")
    with override_settings(CACHES=redis_at(closed_port())):
        assert play_a_round_over_http() == expected
    warnings = [r for r in caplog.records if r.name == "clock_app.cache"]
    assert 1 <= len(warnings) <= 3  # logged, at a bounded rate (not once per request)
    assert "served from the database" in warnings[0].getMessage()


def test_a_hanging_redis_costs_a_request_a_fraction_of_a_second():
    hole = BlackHole()
    try:
        with override_settings(CACHES=redis_at(hole.port)):
            done = {}

            def ask():
                done["answer"] = Client().get("/api/clock/init/").json()

            worker = threading.Thread(target=ask, daemon=True)
            worker.start()
            worker.join(10)  # a generous bound: the point is that it ends, from the database
            assert not worker.is_alive(), "a hanging Redis hung the request"
            assert done["answer"]["status"] == 1
    finally:
        hole.close()


def test_a_committed_payment_is_never_a_500_because_the_cache_failed_afterwards():
    with override_settings(CACHES=redis_at(closed_port())):
        client = Client()
        client.post("/demo/login/", {"uid": 5})
        with time_machine.travel(local(DAY, "12:00:00"), tick=False):
            made = client.post("/api/clock/prepay/", content_type="application/json").json()
            answer = client.post(
                "/api/clock/notify/", made["data"]["payment"]["notification"], content_type="application/json"
            )
    assert answer.status_code == 200 and Participation.objects.filter(uid=5).exists()
