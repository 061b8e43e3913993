"""Reminders as WeChat mini-program subscribe messages (订阅消息).

The player subscribes in the mini-program (``wx.requestSubscribeMessage`` with the template ids below) when they
turn the reminder on; the server then sends one message per subscription::

    CLOCK["REMINDER_HANDLER"] = {
        "BACKEND": "clock_app.reminders.wechat.WeChatSubscribeHandler",
        "OPTIONS": {
            "APPID": "wx…",                       # the mini-program's AppID and AppSecret
            "SECRET": "…",
            "TEMPLATES": {                        # one template per kind; DATA maps its keywords to text
                "checkin": {
                    "TEMPLATE_ID": "…",
                    "PAGE": "pages/index/index",
                    "DATA": {"thing1": "早起打卡提醒", "time2": "{checkin_date} {window_start}",
                             "amount3": "{pool_yuan}元"},
                },
                "owed": {"TEMPLATE_ID": "…", "PAGE": "pages/index/index",
                         "DATA": {"amount1": "{amount_yuan}元", "phrase2": "{state}"}},
            },
            # optional: "MINIPROGRAM_STATE": "formal", "LANG": "zh_CN",
            #           "BASE_URL": "https://api.weixin.qq.com", "TIMEOUT": 5
        },
    }

``DATA`` values are ``str.format`` templates over the reminder's context (``clock_app.reminders.CONTEXT_FIELDS``:
a name not in it fails the system check ``clock_app.E020``). Values of WeChat's length-limited keyword types
(``thing`` 20 characters, ``phrase`` 5, ``name`` 10, ``character_string`` 32) are cut to fit: a long nickname
must not turn a reminder into a 47003.

The access token comes from ``POST /cgi-bin/stable_token`` (normal mode) and is cached — in the process and in
the Django cache, shared by every worker — until five minutes before it expires. Each reminder is one
``POST /cgi-bin/message/subscribe/send``. Answers:

* ``errcode 0`` → sent;
* 43101 (the user did not subscribe, or used up a one-time subscription) and 40003 (not an openid of this
  mini-program) → refused: final, never retried;
* 40001 / 42001 (the token is invalid or expired) → the token is fetched again (with ``force_refresh`` only if
  normal mode hands back the rejected token) and the message sent again — once per batch; a second token error
  in the same batch fails that reminder;
* anything else — 47003 (a template's data), 45009 (rate limit), a timeout, a 5xx, an answer that is not
  JSON — → failed, retried by the next run. A timeout may have delivered the message: then the retry is
  refused by WeChat as a used-up one-time subscription (43101) and recorded as refused.

Every HTTP call has ``TIMEOUT`` seconds; the handler stops sending before ``CLOCK["REMIND_TIMEOUT"]`` runs out
(the rest of the batch fails, to be retried), so the app never abandons it mid-batch.
"""

from __future__ import annotations

import logging
import re
import string
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests
from django.core.exceptions import ImproperlyConfigured

from ..cache import clock_cache, key
from ..conf import clock_settings
from . import CONTEXT_FIELDS, FAILED, REFUSED, SENT, ReminderMessage, ReminderResult

logger = logging.getLogger(__name__)

REFUSED_CODES = {43101: "the user did not subscribe", 40003: "not an openid of this mini-program"}
TOKEN_CODES = (40001, 42001)
TOKEN_MARGIN = 300  # seconds before expiry a cached token is dropped
LIMITS = {"thing": 20, "phrase": 5, "name": 10, "character_string": 32}
STATES = ("developer", "trial", "formal")


class TokenUnavailable(Exception):
    """``stable_token`` gave no token (bad credentials, a network error): the whole batch fails."""


def _templates(templates: Any) -> dict[str, dict[str, Any]]:
    """Check the TEMPLATES option: both kinds, a template id, DATA whose placeholders the context has."""
    if not isinstance(templates, Mapping) or set(templates) != set(CONTEXT_FIELDS):
        raise ImproperlyConfigured(f"WeChat reminders: TEMPLATES needs exactly the kinds {', '.join(CONTEXT_FIELDS)}")
    checked = {}
    for kind, template in templates.items():
        if not isinstance(template, Mapping) or not template.get("TEMPLATE_ID"):
            raise ImproperlyConfigured(f"WeChat reminders: TEMPLATES[{kind!r}] needs a TEMPLATE_ID")
        data = template.get("DATA")
        if not isinstance(data, Mapping) or not data:
            raise ImproperlyConfigured(f"WeChat reminders: TEMPLATES[{kind!r}]['DATA'] maps keywords to text")
        for keyword, text in data.items():
            if not isinstance(text, str):
                raise ImproperlyConfigured(f"WeChat reminders: TEMPLATES[{kind!r}]['DATA'][{keyword!r}] is not text")
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            except ValueError as exc:
                raise ImproperlyConfigured(f"WeChat reminders: {kind} {keyword}: {exc}") from None
            unknown = names - set(CONTEXT_FIELDS[kind])
            if unknown:
                raise ImproperlyConfigured(
                    f"WeChat reminders: TEMPLATES[{kind!r}]['DATA'][{keyword!r}] uses {', '.join(sorted(unknown))}; "
                    f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} reminder has {', '.join(CONTEXT_FIELDS[kind])}"
                )
        checked[kind] = {
            "template_id": str(template["TEMPLATE_ID"]),
            "page": str(template.get("PAGE", "")),
            "data": dict(data),
        }
    return checked


def _fit(keyword: str, value: str) -> str:
    limit = LIMITS.get(keyword.rstrip("0123456789"))
    return value[:limit] if limit else value


class WeChatSubscribeHandler:
    """``handler(reminders) -> results`` over WeChat's subscribe-message API (see the module docstring)."""

    def __init__(
        self,
        APPID: str,
        SECRET: str,
        TEMPLATES: Mapping[str, Mapping[str, Any]],
        MINIPROGRAM_STATE: str = "formal",
        LANG: str = "zh_CN",
        BASE_URL: str = "https://api.weixin.qq.com",
        TIMEOUT: float = 5,
    ) -> None:
        for name, value in (("APPID", APPID), ("SECRET", SECRET)):
            if not isinstance(value, str) or not value:
                raise ImproperlyConfigured(f"WeChat reminders: {name} is required")
        if MINIPROGRAM_STATE not in STATES:
            raise ImproperlyConfigured(f"WeChat reminders: MINIPROGRAM_STATE must be one of {', '.join(STATES)}")
        if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", str(BASE_URL)):
            raise ImproperlyConfigured("WeChat reminders: BASE_URL must be an absolute http(s) URL")
        if isinstance(TIMEOUT, bool) or not isinstance(TIMEOUT, int | float) or not 0 < TIMEOUT <= 60:
            raise ImproperlyConfigured("WeChat reminders: TIMEOUT must be a number of seconds between 0 and 60")
        self.appid, self.secret = APPID, SECRET
        self.templates = _templates(TEMPLATES)
        self.state, self.lang = MINIPROGRAM_STATE, LANG
        self.base_url = str(BASE_URL).rstrip("/")
        self.timeout = float(TIMEOUT)
        self._token: tuple[str, float] | None = None  # (token, when to drop it as a time.time())
        self._lock = threading.Lock()

    # --- the access token ----------------------------------------------------------------------------------

    def _cache_key(self) -> str:
        return key("wechat-access-token", self.appid)

    def access_token(self, session: requests.Session, *, rejected: str | None = None) -> str:
        """A valid token: the process's, the shared cache's, or a new one from ``stable_token``. ``rejected`` is a
        token WeChat just refused: it is dropped everywhere, and if normal mode hands it back, a forced refresh
        replaces it."""
        with self._lock:
            if rejected is None:
                if self._token and self._token[1] > time.time():
                    return self._token[0]
                cached = self._cache_get()
                if cached:
                    self._token = cached
                    return cached[0]
            else:
                self._token = None
                self._cache_delete()
            token, expires_in = self._fetch(session, force=False)
            if token == rejected:
                token, expires_in = self._fetch(session, force=True)
            lifetime = max(1, expires_in - TOKEN_MARGIN)
            self._token = (token, time.time() + lifetime)
            self._cache_set(self._token, lifetime)
            return token

    def _fetch(self, session: requests.Session, *, force: bool) -> tuple[str, int]:
        body = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret, "force_refresh": force}
        try:
            answer = session.post(f"{self.base_url}/cgi-bin/stable_token", json=body, timeout=self.timeout).json()
        except (requests.RequestException, ValueError) as exc:
            raise TokenUnavailable(f"stable_token: {type(exc).__name__}: {exc}") from None
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise TokenUnavailable(f"stable_token: {answer.get('errcode')} {answer.get('errmsg')}")
        if force:
            logger.warning("WeChat access token of %s refreshed by force", self.appid)
        return token, expires_in

    def _cache_get(self) -> tuple[str, float] | None:
        try:
            value = clock_cache().get(self._cache_key())
        except Exception:  # a cache that is down is a miss (DESIGN §6)
            logger.warning("cache unavailable: the WeChat access token is fetched again", exc_info=True)
            return None
        if isinstance(value, tuple) and len(value) == 2 and value[1] > time.time():
            return value
        return None

    def _cache_set(self, value: tuple[str, float], lifetime: int) -> None:
        try:
            clock_cache().set(self._cache_key(), value, lifetime)
        except Exception:
            logger.warning("cache unavailable: the WeChat access token is kept in this process only", exc_info=True)

    def _cache_delete(self) -> None:
        try:
            clock_cache().delete(self._cache_key())
        except Exception:
            logger.warning("cache unavailable while dropping a rejected WeChat access token", exc_info=True)

    # --- sending -------------------------------------------------------------------------------------------

    def payload(self, reminder: ReminderMessage) -> dict[str, Any]:
        template = self.templates[reminder.kind]
        context = dict(reminder.context)
        return {
            "touser": reminder.openid,
            "template_id": template["template_id"],
            "page": template["page"],
            "data": {
                keyword: {"value": _fit(keyword, text.format_map(context))}
                for keyword, text in template["data"].items()
            },
            "miniprogram_state": self.state,
            "lang": self.lang,
        }

    def _post(self, session: requests.Session, token: str, payload: Mapping[str, Any]) -> tuple[int | None, str]:
        """``(errcode, text)``; errcode None when WeChat's answer is missing or unreadable."""
        try:
            response = session.post(
                f"{self.base_url}/cgi-bin/message/subscribe/send",
                params={"access_token": token},
                json=payload,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            return None, f"no answer ({type(exc).__name__}): delivery unknown"
        try:
            answer = response.json()
        except ValueError:
            answer = None
        errcode = answer.get("errcode") if isinstance(answer, dict) else None
        if not isinstance(errcode, int):
            return None, f"HTTP {response.status_code}: unreadable answer"
        return errcode, f"{errcode} {answer.get('errmsg', '')}".strip()

    def __call__(self, reminders: Sequence[ReminderMessage]) -> dict[int, ReminderResult]:
        # Stop before the app's deadline for the batch: a request started then may take TIMEOUT more seconds.
        budget_ends = time.monotonic() + max(self.timeout, clock_settings.remind_timeout - self.timeout - 1)
        results: dict[int, ReminderResult] = {}
        with requests.Session() as session:
            try:
                token = self.access_token(session)
            except TokenUnavailable as exc:
                logger.error("WeChat reminders: no access token: %s", exc)
                return {reminder.id: ReminderResult(FAILED, str(exc)) for reminder in reminders}
            refreshed = False
            for reminder in reminders:
                if time.monotonic() > budget_ends:
                    results[reminder.id] = ReminderResult(FAILED, "not sent: the batch ran out of time")
                    continue
                payload = self.payload(reminder)
                errcode, text = self._post(session, token, payload)
                if errcode in TOKEN_CODES and not refreshed:
                    refreshed = True
                    try:
                        token = self.access_token(session, rejected=token)
                    except TokenUnavailable as exc:
                        results[reminder.id] = ReminderResult(FAILED, f"{text}; {exc}")
                        continue
                    errcode, text = self._post(session, token, payload)
                results[reminder.id] = self._result(errcode, text)
        return results

    @staticmethod
    def _result(errcode: int | None, text: str) -> ReminderResult:
        if errcode == 0:
            return ReminderResult(SENT, text)
        if errcode in REFUSED_CODES:
            return ReminderResult(REFUSED, f"{text} ({REFUSED_CODES[errcode]})")
        return ReminderResult(FAILED, text)
