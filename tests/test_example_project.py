"""The example project's pages: the challenge screen, the demo login, a round's statement page."""

from datetime import date

import pytest
import time_machine
from django.urls import reverse

from clock_app.models import Round
from clock_app.services.settlement import round_settle

from .conftest import local
from .factories import play_round

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def test_anonymous_sees_the_demo_login(client):
    body = client.get("/").content.decode()
    assert 'id="login"' in body and 'id="pool"' in body


def test_demo_login_resolves_the_player(client):
    client.post(reverse("demo_login"), {"uid": "42"})
    body = client.get("/").content.decode()
    assert "玩家 #42" in body and 'id="join"' in body
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        client.get(reverse("clock_app:summary"))
    from clock_app.models import Player

    assert Player.objects.filter(uid=42).exists()
    client.post(reverse("demo_logout"))
    assert client.get(reverse("clock_app:summary")).status_code == 401


def test_round_page_shows_the_commitment_then_the_revealed_seed(client):
    play_round(DAY, 5, 3)
    the_round = Round.objects.get()
    before = client.get(reverse("round_page", args=["2026-11-26"])).content.decode()
    assert the_round.seed_hash in before and the_round.split_seed not in before
    with time_machine.travel(local("2026-11-27", "08:05:00"), tick=False):
        round_settle(DAY)
    after = client.get(reverse("round_page", args=["2026-11-26"])).content.decode()
    assert the_round.split_seed in after and "python -m clock_app.statement" in after
    assert client.get(reverse("round_page", args=["2020-01-01"])).status_code == 404


def test_the_pages_assets_are_found_by_staticfiles():
    from django.contrib.staticfiles import finders

    assert finders.find("challenge.js") and finders.find("challenge.css")
