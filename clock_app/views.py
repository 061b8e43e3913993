"""Optional JSON endpoints over the facades (``path("clock/", include("clock_app.urls"))``).

* Every answer is the seed's envelope. Business refusals are HTTP 200 with ``status: 0`` and a ``code`` (as
  the seed's API); protocol errors have their HTTP status and an envelope too: 401 (no user), 405 (wrong
  method), 400 (malformed JSON), and those Django would answer with the host's pages — 403 (CSRF), 413 (body
  too large), 404, 500, 503 (database unavailable) — see :mod:`clock_app.http_errors`.
* The user is whoever ``CLOCK["USER_RESOLVER"]`` says (default: ``request.user.pk``) — never a uid from the
  body or the query string, so nobody can act as someone else by editing a request.
* POSTs from the browser go through Django's CSRF protection (checked inside the views, so a refusal is an
  envelope); only the payment channel's callbacks are exempt, because the channel's signature authenticates
  them, and they answer in the channel's own format whatever the body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.utils.module_loading import import_string

from . import calendar
from .channels import get_channel
from .channels.base import InvalidNotification
from .conf import clock_settings
from .exceptions import ClockError, ProfileUnavailable
from .exports import STATEMENT_PAGE, statement_chunks
from .facade import CashClock, ClockCenter, Participator, failure
from .http_errors import callback_guarded, error_response, guarded, method_not_allowed
from .models import ClockOrder, Round
from .openapi import openapi_schema
from .services.orders import order_notify, order_payment_deadline
from .services.payouts import payout_record, refund_record
from .services.transfers import Answer, answer_text, parse_channel_number, transfer_outcome

logger = logging.getLogger(__name__)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def request_user_id(request: HttpRequest) -> int | None:
    """The default ``CLOCK["USER_RESOLVER"]``: the logged-in user's primary key."""
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


def endpoint(method: str, *, user: bool = True) -> Callable[..., Callable[..., HttpResponse]]:
    """Turn ``view(request, uid, body, **kwargs) -> envelope`` into a JSON endpoint (see the module docstring)."""

    def decorate(view: Callable[..., dict[str, Any]]) -> Callable[..., HttpResponse]:
        # Never inside ATOMIC_REQUESTS' transaction: payouts commit their claim before calling the channel.
        @transaction.non_atomic_requests
        @guarded
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method != method:
                return method_not_allowed(method)
            uid = None
            if user:
                uid = import_string(clock_settings.user_resolver)(request)
                if uid is None:
                    return error_response(401, "not_authenticated", "请先登录")
            body: dict[str, Any] = {}
            # A form post (the CSRF check may have parsed it already) has no JSON to read: the endpoints take
            # their input from the resolvers, never from fields.
            if method == "POST" and request.content_type not in FORM_TYPES and request.body:
                try:
                    body = json.loads(request.body)
                except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[" * 1000 + …
                    return error_response(400, "malformed_json", "请求体不是合法的 JSON")
                if not isinstance(body, dict):
                    return error_response(400, "malformed_json", "请求体应为 JSON 对象")
            return JsonResponse(view(request, uid, body, **kwargs), json_dumps_params={"ensure_ascii": False})

        return wrapper

    return decorate


def request_profile(request: HttpRequest) -> dict[str, Any] | None:
    """The payer's ``openId``, ``mobile`` and ``nickname`` from ``CLOCK["PROFILE_RESOLVER"]`` — never from the
    request: the openid decides whom the channel pays back. None when no resolver is set or it knows nobody."""
    if not clock_settings.profile_resolver:
        return None
    profile = import_string(clock_settings.profile_resolver)(request)
    if not isinstance(profile, Mapping):
        return None
    return {key: profile.get(key) for key in ("mobile", "nickname", "openId")}


def _int_param(request: HttpRequest, name: str, default: int) -> Any:
    raw = request.GET.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return raw  # the facade answers with page_invalid / limit_invalid


def _hand_out_csrf_cookie(request: HttpRequest) -> None:
    """The home screen's calls also give a client without a CSRF cookie the one its POSTs need."""
    if "CSRF_COOKIE" not in request.META:  # set from the request's cookie by the CSRF check, when it has one
        get_token(request)


@endpoint("GET", user=False)
def init(request, uid, body):
    _hand_out_csrf_cookie(request)
    return ClockCenter().init()


@endpoint("GET")
def summary(request, uid, body):
    _hand_out_csrf_cookie(request)
    return ClockCenter().summary(uid, {})


@endpoint("POST")
def prepay(request, uid, body):
    """Order the stake for today's round; the answer carries what the channel needs to pay it, and the
    channel is told the order expires at 23:59:59 of the round's day."""
    profile = request_profile(request)
    if profile is None:
        return failure(ProfileUnavailable())
    result = CashClock().generate_clock_order(uid, profile)
    if result["status"] == 1:
        order = ClockOrder.objects.get(order_no=result["data"]["order_no"])
        try:
            deadline = order_payment_deadline(order)
            result["data"]["payment"] = get_channel().prepay(order, expires_at=deadline)
        except ClockError as error:  # entry closed, or the channel did not answer: the order waits, unpaid
            return failure(error)
    return result


@endpoint("GET")
def check(request, uid, body):
    return ClockCenter().check_user_clock(uid)


@endpoint("POST")
def clock_in(request, uid, body):
    return ClockCenter().clock(uid)


@endpoint("POST")
def open_red(request, uid, body):
    return CashClock().user_open_red(uid)


@endpoint("POST")
def remind(request, uid, body):
    return ClockCenter().user_remind(uid)


@endpoint("POST")
def toast(request, uid, body):
    return Participator().show_toast(uid)


@endpoint("GET")
def information(request, uid, body):
    return Participator().information(uid, {})


@endpoint("GET")
def money_log(request, uid, body):
    return Participator().money_float_items(uid, _int_param(request, "page", 0), _int_param(request, "limit", 10))


@endpoint("GET")
def yesterday(request, uid, body):
    return Participator().yesterday_clock(uid)


@endpoint("GET", user=False)
def talents(request, uid, body):
    return ClockCenter().top_clock()


@endpoint("GET", user=False)
def records(request, uid, body):
    return ClockCenter().record_clock(_int_param(request, "page", 0), _int_param(request, "limit", 10))


@endpoint("GET", user=False)
def statement(request, uid, body, day: str):
    return ClockCenter().round_statement(
        day, _int_param(request, "page", 0), _int_param(request, "limit", STATEMENT_PAGE)
    )


@guarded
def schema(request: HttpRequest) -> HttpResponse:
    """This API's OpenAPI 3.1 document, for wherever the app is mounted (``clock_app.openapi``)."""
    if request.method != "GET":
        return method_not_allowed("GET")
    return JsonResponse(openapi_schema(request.path.removesuffix("schema/")), json_dumps_params={"ensure_ascii": False})


@guarded
def statement_file(request: HttpRequest, day: str) -> HttpResponse:
    """A settled round's statement as the canonical JSON-lines file (streamed; what ``clock_verify`` reads)."""
    if request.method != "GET":
        return method_not_allowed("GET")
    try:
        round_day = calendar.parse_day(day)
    except ValueError:
        return error_response(400, "day_invalid", "日期格式应为 YYYY-MM-DD")
    the_round = Round.objects.filter(clock_day=round_day).first()
    if the_round is None:
        return error_response(404, "round_not_found", "该日没有打卡活动")
    if not the_round.is_settled:
        return error_response(404, "round_not_settled", "该轮尚未开奖")
    response = StreamingHttpResponse(statement_chunks(the_round), content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="clock-statement-{round_day}.jsonl"'
    return response


def channel_failure(status: int, message: str) -> HttpResponse:
    """A callback's failure in the channel's own format, with ``status`` (it retries any non-success)."""
    try:
        response = get_channel().acknowledge(False, message)
    except Exception:  # the channel cannot even be built: the envelope is all there is to say
        logger.error("payment channel unavailable to answer a callback", exc_info=True)
        return error_response(status, "server_error", message)
    response.status_code = status
    return response


def _parsed(parse: Callable[[HttpRequest], Any], request: HttpRequest) -> Any:
    """``parse(request)``; anything but a verified notification — a body no adapter expected included — is
    ``InvalidNotification``, so no body can make a callback answer 500."""
    try:
        return parse(request)
    except (InvalidNotification, RequestDataTooBig, OperationalError, InterfaceError):
        raise  # answered as such by the callback's guard: a database away is a 503, not a bad body
    except Exception as exc:
        logger.warning("callback body the channel adapter could not read: %s", type(exc).__name__)
        raise InvalidNotification("回调格式错误") from None


@callback_guarded(channel_failure)
@transaction.non_atomic_requests
def transfer_notify(request: HttpRequest) -> HttpResponse:
    """The channel's notification of a transfer's result (a packet's bill, or a refund): verified by its
    signature, recorded once (``payout_record``/``refund_record``); anything forged changes nothing."""
    channel = get_channel()
    if request.method != "POST":
        return method_not_allowed("POST")
    try:
        notice = _parsed(channel.parse_transfer_notification, request)
    except InvalidNotification as error:
        logger.warning("transfer callback rejected (%s): %s", error.message, request.body[:500])
        return channel.acknowledge(False, error.message)
    answer = Answer(transfer_outcome(notice.answer), answer_text(notice.answer))
    if notice.kind == "refund":
        refund_record(notice.number, answer)
    else:
        payout_no, renewals = parse_channel_number(notice.number, key_suffix="P")
        payout_record(payout_no, renewals, answer)
    logger.info("transfer callback %s %s: %s", notice.kind, notice.number, answer.outcome)
    return channel.acknowledge(True)


@callback_guarded(channel_failure)
@transaction.non_atomic_requests
def payment_notify(request: HttpRequest) -> HttpResponse:
    """The channel's payment callback: verified by the channel's signature, processed exactly once."""
    channel = get_channel()
    if request.method != "POST":
        return method_not_allowed("POST")
    try:
        notification = _parsed(channel.parse_notification, request)
    except InvalidNotification as error:
        logger.warning("payment callback rejected (%s): %s", error.message, request.body[:500])
        return channel.acknowledge(False, error.message)
    if notification is None:  # genuine, but about no payment (Alipay: an unpaid trade closed): nothing to do
        return channel.acknowledge(True)
    try:
        order_notify(notification)
    except ClockError as error:
        logger.warning("payment callback for %s refused: %s", notification.order_no, error.code)
        return channel.acknowledge(False, error.message)
    return channel.acknowledge(True)
