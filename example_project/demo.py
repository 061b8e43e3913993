"""The example project's demo login and pages: the seed mini-program's challenge screen, server-rendered,
plus a page per round's statement. Nothing here is part of the reusable app."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from clock_app import calendar
from clock_app.conf import clock_settings
from clock_app.exports import statement_dict
from clock_app.models import Player, Round
from clock_app.money import yuan
from clock_app.services.players import MAX_UID

SESSION_KEY = "demo_uid"


class LoginForm(forms.Form):
    """The demo login: a player number, 1 up to the largest uid the tables hold."""

    uid = forms.IntegerField(
        min_value=1,
        max_value=MAX_UID,
        error_messages={
            "required": "请输入玩家编号",
            "invalid": "玩家编号应为整数，例如 42",
            "min_value": "玩家编号从 1 开始",
            "max_value": "玩家编号太大了（最大 %(limit_value)s）",
        },
    )


def session_uid(request: HttpRequest) -> int | None:
    """``CLOCK["USER_RESOLVER"]`` of the example project: the simulated player chosen at the demo login (or
    a logged-in Django user)."""
    uid = request.session.get(SESSION_KEY)
    if uid:
        return int(uid)
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


def session_profile(request: HttpRequest) -> dict[str, str] | None:
    """``CLOCK["PROFILE_RESOLVER"]`` of the example project: the demo player's profile as the app knows it
    (a simulated player keeps its nickname and mobile); a new player number gets a made-up one. A real
    project returns the logged-in user's mini-program openid, mobile and nickname."""
    uid = session_uid(request)
    if uid is None:
        return None
    player = Player.objects.filter(uid=uid).values("nickname", "mobile", "source_uid").first() or {}
    return {
        "openId": player.get("source_uid") or f"demo-open-{uid}",
        "mobile": player.get("mobile") or f"139{uid:08d}",
        "nickname": player.get("nickname") or f"玩家{uid}",
    }


def challenge(request: HttpRequest, login_form: LoginForm | None = None, status: int = 200) -> HttpResponse:
    uid = session_uid(request)
    rounds = Round.objects.order_by("-clock_day")[:7]
    context = {"uid": uid, "rounds": rounds, "login_form": login_form, "time_zone": clock_settings.time_zone.key}
    return render(request, "challenge.html", context, status=status)


@require_POST
def demo_login(request: HttpRequest) -> HttpResponse:
    """Log in as a player number; anything else is shown back on the page with what is wrong (400)."""
    form = LoginForm(request.POST)
    if not form.is_valid():
        return challenge(request, form, status=400)
    request.session.cycle_key()
    request.session[SESSION_KEY] = form.cleaned_data["uid"]
    return HttpResponseRedirect(reverse("challenge"))


@require_POST
def demo_logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return HttpResponseRedirect(reverse("challenge"))


def _percent(ratio: str) -> str:
    """``"0.0500"`` → ``"5%"``, ``"0.125"`` → ``"12.5%"``."""
    return f"{(Decimal(ratio) * 100).normalize():f}%"


def _rules_for_people(rules: dict[str, Any]) -> dict[str, str]:
    """A round's frozen rules as a person reads them: money in yuan, times ``HH:MM``, ratios in percent."""
    return {
        "stake": yuan(rules["participate_money"]),
        "window": f"{rules['clock_start'][:5]}–{rules['clock_end'][:5]}",
        "red_open": rules["red_open"][:5],
        "service_ratio": _percent(rules["service_ratio"]),
        "lucky_num": str(rules["lucky_num"]),
        "lucky_proportion": _percent(rules["lucky_proportion"]),
        "max_packet": yuan(rules["max_packet"]),
    }


def round_page(request: HttpRequest, day: str) -> HttpResponse:
    """A round's statement for people: money in yuan, the rules as sentences, how to verify it. An unknown
    or malformed day is echoed cut short (any length can be asked for)."""
    shown = Truncator(day).chars(24)
    try:
        round_day = calendar.parse_day(day)
    except ValueError:
        return render(request, "statement.html", {"missing": shown}, status=404)
    data = statement_dict(round_day)
    if data is None:
        return render(request, "statement.html", {"missing": shown}, status=404)
    totals = {
        name: yuan(value) if name not in ("payers", "winners") else value for name, value in data["totals"].items()
    }
    packets = [{**p, "stake": yuan(p["stake"]), "packet": yuan(p["packet"])} for p in data["packets"]]
    context = {
        "statement": data,
        "totals": totals,
        "packets": packets,
        "rules": _rules_for_people(data["rules"]),
        "day": round_day,
        "time_zone": clock_settings.time_zone.key,
    }
    return render(request, "statement.html", context)
