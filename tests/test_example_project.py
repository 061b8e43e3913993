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


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("0", "玩家编号从 1 开始"),
        ("-5", "玩家编号从 1 开始"),
        ("abc", "玩家编号应为整数"),
        ("1.5", "玩家编号应为整数"),
        ("99999999999999999999", "玩家编号太大了"),
        ("", "请输入玩家编号"),
    ],
)
def test_the_demo_login_says_what_is_wrong(client, typed, said):
    response = client.post(reverse("demo_login"), {"uid": typed})
    assert response.status_code == 400
    body = response.content.decode()
    assert said in body and 'id="login-error"' in body
    assert "demo_uid" not in client.session
    assert client.get(reverse("clock_app:summary")).status_code == 401


def test_favicon_is_served():
    from django.contrib.staticfiles import finders
    from django.test import Client

    response = Client().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
    assert finders.find("favicon.svg")


def test_no_form_inside_a_paragraph(client):
    """A <form> cannot sit in a <p> (the parser closes the <p> first): the markup says what the page shows."""
    from html.parser import HTMLParser

    class Nesting(HTMLParser):
        def __init__(self):
            super().__init__()
            self.open, self.bad = [], []

        def handle_starttag(self, tag, attrs):
            if tag == "form" and "p" in self.open:
                self.bad.append(tag)
            if tag in ("p", "form", "div", "section"):
                self.open.append(tag)

        def handle_endtag(self, tag):
            if tag in self.open:
                del self.open[len(self.open) - 1 - self.open[::-1].index(tag)]

    for logged_in in (False, True):
        if logged_in:
            client.post(reverse("demo_login"), {"uid": "42"})
        parser = Nesting()
        parser.feed(client.get("/").content.decode())
        assert not parser.bad


def test_statement_page_of_an_open_round_reads_as_rules_in_yuan(client):
    play_round(DAY, 5, 3)
    body = client.get(reverse("round_page", args=["2026-11-26"])).content.decode()
    for raw in ("0.0500", "0.2000", "05:00:00", "08:00:00", " 100 分", "9800"):
        assert raw not in body, raw
    for shown in ("¥1.00", "05:00–08:00", "次日 08:05", "失败者本金的 5%", "2 个，共分奖金的 20%", "¥98.00"):
        assert shown in body, shown


def test_statement_page_of_a_settled_round_shows_packets_in_yuan(client):
    play_round(DAY, 5, 3)
    with time_machine.travel(local("2026-11-27", "08:05:00"), tick=False):
        round_settle(DAY)
    body = client.get(reverse("round_page", args=["2026-11-26"])).content.decode()
    assert "本金 ¥1.00 + 红包 ¥" in body and " 分" not in body.replace("以分为单位", "")
    assert "订单号:支付单号" in body  # format 2: how to find your line


@pytest.mark.parametrize("day", ["x" * 3000, "20261126", "2026-W48-4"])
def test_statement_page_never_echoes_a_long_path_whole(client, day):
    response = client.get(f"/rounds/{day}/")
    assert response.status_code == 404
    assert day not in response.content.decode() or len(day) <= 24
    assert "x" * 30 not in response.content.decode()


def test_home_summary_says_what_the_page_needs_to_tell_a_player(client):
    from clock_app.facade import ClockCenter

    from .factories import join

    join(7, DAY, "20:00:00")
    with time_machine.travel(local(DAY, "20:00:00"), tick=False):
        joined = ClockCenter().summary(7, {})["data"]["summary"]
    # After joining: the packets of this round open tomorrow at 08:05 (12 h 5 min), the window is 05:00–08:00.
    assert joined["red_open_time"] == 12 * 3600 + 5 * 60 and joined["red_time"] == 0  # the seed's field unchanged
    assert (joined["clock_window"], joined["red_open"], joined["time_zone"]) == (
        "05:00–08:00",
        "08:05",
        "Asia/Shanghai",
    )
    assert joined["participate_money"] == 100 and joined["local_time"] == "2026-11-26T20:00:00+08:00"
    with time_machine.travel(local("2026-11-27", "06:30:00"), tick=False):
        window = ClockCenter().summary(7, {})["data"]["summary"]
    assert (window["clock_time"], window["clock_end_time"], window["is_start"]) == (0, 90 * 60, 0)
