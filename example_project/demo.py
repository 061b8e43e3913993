"""The example project's demo login and pages: the seed mini-program's challenge screen, server-rendered,
plus a page per round's statement. Nothing here is part of the reusable app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from clock_app import calendar
from clock_app.exports import statement_dict
from clock_app.models import Player, Round
from clock_app.money import yuan

SESSION_KEY = "demo_uid"


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


def challenge(request: HttpRequest) -> HttpResponse:
    uid = session_uid(request)
    rounds = Round.objects.order_by("-clock_day")[:7]
    return render(request, "challenge.html", {"uid": uid, "rounds": rounds})


@require_POST
def demo_login(request: HttpRequest) -> HttpResponse:
    try:
        uid = int(request.POST.get("uid", ""))
    except ValueError:
        uid = 0
    if uid > 0:
        request.session.cycle_key()
        request.session[SESSION_KEY] = uid
    return HttpResponseRedirect(reverse("challenge"))


@require_POST
def demo_logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return HttpResponseRedirect(reverse("challenge"))


def round_page(request: HttpRequest, day: str) -> HttpResponse:
    try:
        round_day = calendar.parse_day(day)
    except ValueError:
        return render(request, "statement.html", {"missing": day}, status=404)
    data = statement_dict(round_day)
    if data is None:
        return render(request, "statement.html", {"missing": day}, status=404)
    totals = {
        name: yuan(value) if name not in ("payers", "winners") else value for name, value in data["totals"].items()
    }
    return render(request, "statement.html", {"statement": data, "totals": totals, "day": round_day})
