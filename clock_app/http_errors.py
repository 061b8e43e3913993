"""Every answer under ``clock_app.urls`` is the JSON envelope — refusals Django itself would answer included.

Django answers some failures before or around a view with the host's site-wide pages: a missing CSRF token
(``CsrfViewMiddleware``: an HTML 403), a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``RequestDataTooBig``: an
HTML 400 with a traceback in the log), an unknown URL (404) and any exception (500). Changing
``CSRF_FAILURE_VIEW`` or ``handler404``/``handler500`` would change them for the host's whole site, so
:func:`guarded` does it for the app's own views only, with nothing for the host to add:

* the view is marked ``csrf_exempt`` so the middleware lets it through, and the same check runs inside it
  when the host has ``CsrfViewMiddleware`` (so exactly the requests Django would refuse are refused — a host
  that authenticates a mini-program by a header and left the middleware out is not surprised); a refusal
  is ``403 csrf_failed``;
* ``request.body`` is first read inside it, so a body too large is ``413 body_too_large``;
* ``Http404`` is ``404 not_found`` (and :func:`not_found` is the catch-all route at the end of the app's URLs);
* the database being unavailable (``OperationalError``/``InterfaceError``: a restart, a killed connection) is
  ``503 unavailable``: the request changed nothing it could not roll back, and the next one may work;
* anything else is ``500 server_error``, logged with its traceback and reported through Django's
  ``got_request_exception`` signal (error reporters listen there) — never a traceback in the answer.

Stable codes: ``csrf_failed``, ``body_too_large``, ``malformed_json``, ``malformed_body``, ``not_found``,
``method_not_allowed``, ``server_error``, ``unavailable`` (and ``not_authenticated`` from the views).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import Resolver404, resolve
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def error_response(status: int, code: str, message: str) -> JsonResponse:
    """The seed's failure envelope with an HTTP status."""
    return JsonResponse(
        {"status": 0, "message": message, "data": {}, "code": code},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def method_not_allowed(method: str) -> JsonResponse:
    response = error_response(405, "method_not_allowed", f"请使用 {method} 请求")
    response["Allow"] = method
    return response


def unavailable() -> JsonResponse:
    return error_response(503, "unavailable", "服务暂时不可用，请稍后重试")


def body_too_large() -> JsonResponse:
    return error_response(413, "body_too_large", "请求体过大")


class _CsrfCheck(CsrfViewMiddleware):
    """Django's CSRF check, answering the reason of a refusal instead of the site's failure page (the same
    override Django REST framework uses; ``_reject`` is where the middleware builds that page)."""

    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def _no_response(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the CSRF check never calls the next handler")


@lru_cache(maxsize=8)
def _checks_csrf(middleware: tuple[str, ...]) -> bool:
    """Whether the host's ``MIDDLEWARE`` has Django's CSRF middleware (or a subclass of it)."""
    return any(
        isinstance(cls, type) and issubclass(cls, CsrfViewMiddleware) for cls in map(import_string, middleware)
    )


def host_checks_csrf() -> bool:
    return _checks_csrf(tuple(settings.MIDDLEWARE))


def server_error(request: HttpRequest, view_name: str) -> JsonResponse:
    """Inside an ``except``: log the exception, tell Django's error reporters, answer ``500 server_error``."""
    logger.error("%s %s failed in %s", request.method, request.path[:200], view_name, exc_info=True)
    signals.got_request_exception.send(sender=None, request=request)
    return error_response(500, "server_error", "服务器内部错误")


def guarded(view: View) -> View:
    """Wrap one of the app's JSON views so that every answer is an envelope (see the module docstring)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        check = _CsrfCheck(_no_response) if host_checks_csrf() else None
        try:
            if check is not None:
                check.process_request(request)
                reason = check.process_view(request, None, (), {})
                if reason is not None:
                    logger.warning("CSRF refused %s %s: %s", request.method, request.path[:200], reason)
                    return error_response(403, "csrf_failed", "CSRF 校验失败，请刷新页面后重试")
            return view(request, *args, **kwargs)
        except RequestDataTooBig:
            return body_too_large()
        except (MultiPartParserError, BadRequest, SuspiciousOperation) as exc:
            # A body Django cannot even parse (a multipart without its boundary …), met by the CSRF check
            # reading request.POST: the client's error, never a 500.
            logger.warning("%s %s: unparsable request (%s)", request.method, request.path[:200], exc)
            return error_response(400, "malformed_body", "请求体无法解析")
        except Http404:
            return error_response(404, "not_found", "没有这个接口或资源")
        except (OperationalError, InterfaceError):
            logger.warning("database unavailable in %s", view.__name__, exc_info=True)
            return unavailable()
        except Exception:
            return server_error(request, view.__name__)

    return csrf_exempt(wrapper)


def callback_guarded(failure: Callable[[int, str], HttpResponse]) -> Callable[[View], View]:
    """Decorate a channel's callback (``notify/``…): the same protection, answered in the channel's own format
    by ``failure(status, message)`` — no body can make a callback answer 500. No CSRF check: the channel's
    signature authenticates the request."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except RequestDataTooBig:
                logger.warning("%s: body over DATA_UPLOAD_MAX_MEMORY_SIZE refused", view.__name__)
                return failure(413, "body too large")
            except (MultiPartParserError, BadRequest, SuspiciousOperation):
                logger.warning("%s: unparsable request refused", view.__name__)
                return failure(400, "malformed body")
            except (OperationalError, InterfaceError):
                logger.warning("database unavailable in %s", view.__name__, exc_info=True)
                return failure(503, "service unavailable")
            except Exception:
                logger.error("%s failed", view.__name__, exc_info=True)
                signals.got_request_exception.send(sender=None, request=request)
                return failure(500, "server error")

        return csrf_exempt(wrapper)

    return decorate


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The app's catch-all route: ``404 not_found`` for any other path under it, naming the path with a
    trailing slash when that one exists (``APPEND_SLASH`` cannot redirect a path this route matches). The path
    itself is never echoed: any length can be asked for."""
    message = "没有这个接口"
    if not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            message = "没有这个接口：路径应以 / 结尾"
    return error_response(404, "not_found", message)
