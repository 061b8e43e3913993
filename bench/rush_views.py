"""Bench-only pieces of the 05:00-rush benchmark (``bench/rush.py``). NEVER use any of this in a real project.

* :func:`header_uid` is the bench's ``CLOCK["USER_RESOLVER"]``: it trusts an ``X-Bench-Uid`` request header, so
  anyone could act as anyone. It exists only so that wrk can play 20,000 different players without logins.
* :class:`NoCsrfMiddleware` switches CSRF checks off for every request (placed before ``CsrfViewMiddleware``),
  so wrk's POSTs are not refused. Bench only.
* :func:`bare` and :func:`bare_update` are the baselines the real endpoints are compared with: the bare
  framework cost (middleware, routing, a JsonResponse) and the floor cost of the one row a check-in must change.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

UID_META = "HTTP_X_BENCH_UID"  # the X-Bench-Uid header


def header_uid(request: HttpRequest) -> int | None:
    """BENCH ONLY: the uid named by the ``X-Bench-Uid`` header (None when missing or not a positive integer)."""
    raw = request.META.get(UID_META)  # not request.headers: that builds a dict of every header, per request
    if raw is None:
        return None
    try:
        uid = int(raw)
    except ValueError:
        return None
    return uid if uid > 0 else None


class NoCsrfMiddleware:
    """BENCH ONLY: mark every request as exempt from CSRF checks (must come before ``CsrfViewMiddleware``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)


def _refuse(method: str) -> JsonResponse:
    response = JsonResponse({"status": 0, "code": "method_not_allowed"}, status=405)
    response["Allow"] = method
    return response


def bare(request: HttpRequest) -> HttpResponse:
    """Baseline 1 (GET or POST): the framework alone — middleware, URL resolution, a JsonResponse."""
    if request.method not in ("GET", "POST"):
        return _refuse("GET, POST")
    return JsonResponse({"status": 1})


BARE_UPDATE_SQL = (
    "UPDATE pay_clock_day SET clock_status = 2, clock_time = now() "
    "WHERE uid = %s AND clock_day = %s AND clock_status = 1"
)


def bare_update(request: HttpRequest) -> HttpResponse:
    """Baseline 2 (POST): the one conditional UPDATE a check-in must make, on a raw cursor in autocommit."""
    if request.method != "POST":
        return _refuse("POST")
    uid = header_uid(request)
    if uid is None:
        return JsonResponse({"status": 0, "code": "not_authenticated"}, status=401)
    with connection.cursor() as cursor:
        cursor.execute(BARE_UPDATE_SQL, [uid, settings.RUSH_ROUND_DAY])
        rows = cursor.rowcount
    return JsonResponse({"status": 1, "rows": rows})
