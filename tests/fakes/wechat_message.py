"""A local fake of WeChat's server API for mini-program subscribe messages, for testing the app's reminder handler.

Two endpoints, as documented by WeChat (answers are HTTP 200 with ``{"errcode", "errmsg"}``, the errmsg ending in
``rid: …`` like the real ones):

* ``POST /cgi-bin/stable_token`` — JSON ``{"grant_type": "client_credential", "appid", "secret", "force_refresh"}``
  → ``{"access_token", "expires_in"}``. Normal mode hands out the current token while it is valid (``expires_in``
  is what is left of its 7200 s) and a new one once it expired; ``force_refresh: true`` replaces it at once (the
  old one stops working). Errors: 40002 (grant_type), 40013 (appid), 40125 (secret), 47001 (not JSON).
* ``POST /cgi-bin/message/subscribe/send?access_token=…`` — JSON ``{"touser", "template_id", "page", "data":
  {key: {"value": text}}, "miniprogram_state", "lang"}`` → ``errcode 0``. Errors: 41001 (no token), 40001
  (a token that was never issued or was replaced), 42001 (expired), 40003 (openid), 40037 (template id),
  47003 (data keys other than the template's, a value that is not text or is longer than its type allows:
  ``thing`` 20, ``phrase`` 5, ``name`` 10, ``character_string`` 32), 43101 (the user refused: did not
  subscribe, or used up a one-time subscription).

What the fake can be told (the user's side and the faults): ``add_template(id, keys)``, ``refuse(openid)``,
``expire_token()`` (the current token expires now: 42001), ``replace_token()`` (as another server's
``force_refresh`` would: the current one answers 40001), ``pin_stale_token()`` (normal mode keeps answering a
token that ``send`` rejects, so only ``force_refresh`` helps), ``inject(path_prefix, fault, times)`` with a fault of
``FAULTS``. What it records: ``sent`` (messages delivered), ``requests``, ``stats`` (per endpoint and errcode),
``errors`` (its own crashes; the fixture fails the test if any).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fakes.wechatpay_protocol import Answer, Server, json_answer, send

FAULTS = ("timeout", "5xx", "unreadable")
TOKEN_LIFETIME = timedelta(seconds=7200)
LIMITS = {"thing": 20, "phrase": 5, "name": 10, "character_string": 32}
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def utc_now() -> datetime:
    return datetime.now(UTC)


class FakeWeChatMessage:
    """WeChat's stable access token and subscribe-message endpoints on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, hang_seconds: float = 3.0, clock: Callable[[], datetime] = utc_now) -> None:
        self.hang_seconds = hang_seconds
        self.clock = clock
        self.appid = "wx" + secrets.token_hex(8)
        self.secret = secrets.token_hex(16)
        self.templates: dict[str, tuple[str, ...]] = {}
        self.refused: set[str] = set()
        self.sent: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.stats: Counter[str] = Counter()
        self.errors: list[str] = []
        self._token: str | None = None
        self._token_expires: datetime | None = None
        self._pinned: str | None = None
        self._faults: list[list[Any]] = []  # [path_prefix, fault, remaining]
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeWeChatMessage:
        self._server = Server(self._handle)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-wechat-message", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self) -> FakeWeChatMessage:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ the user's side, tokens and faults

    def add_template(self, template_id: str, keys: tuple[str, ...]) -> None:
        """A subscribe-message template of the mini-program, with its keywords (``thing1``, ``time2``…)."""
        self.templates[template_id] = tuple(keys)

    def refuse(self, openid: str) -> None:
        """From now on ``openid`` refuses messages (43101), as a user who did not subscribe."""
        self.refused.add(openid)

    def expire_token(self) -> None:
        with self._lock:
            self._token_expires = self.clock()

    def replace_token(self) -> None:
        """Another server forced a refresh: the current token is no longer valid (40001)."""
        with self._lock:
            self._issue()

    def pin_stale_token(self) -> None:
        """The current token is revoked for ``send`` (40001), but normal-mode ``stable_token`` keeps answering it
        until a ``force_refresh``."""
        with self._lock:
            self._pinned = self._token

    def inject(self, path_prefix: str, fault: str, times: int = 1) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append([path_prefix, fault, times])

    @property
    def token(self) -> str | None:
        return self._token

    def sent_to(self, openid: str) -> list[dict[str, Any]]:
        return [message for message in self.sent if message["touser"] == openid]

    # ------------------------------------------------------------------ HTTP

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        split = urlsplit(handler.path)
        with self._lock:
            record = {
                "method": handler.command,
                "path": split.path,
                "query": dict(parse_qsl(split.query)),
                "body": body,
            }
            self.requests.append(record)
            fault = self._take_fault(split.path)
        if fault == "timeout":
            self._stopping.wait(self.hang_seconds)
            return
        if fault == "5xx":
            send(handler, Answer(502, b"<html>502 Bad Gateway</html>", "text/html", signed=False), {})
            return
        try:
            with self._lock:
                answer = self._dispatch(handler.command, split.path, record["query"], body)
        except Exception:  # a bug in the fake: answered, and reported by the fixture
            self.errors.append(traceback.format_exc())
            answer = self._error(-1, "system error")
        if fault == "unreadable":
            answer = Answer(200, answer.body[: len(answer.body) // 2], signed=False)
        send(handler, answer, {})

    def _take_fault(self, path: str) -> str | None:
        for queued in self._faults:
            if path.startswith(queued[0]):
                queued[2] -= 1
                if queued[2] == 0:
                    self._faults.remove(queued)
                return queued[1]
        return None

    def _dispatch(self, method: str, path: str, query: Mapping[str, str], body: str) -> Answer:
        if method != "POST":
            return self._error(43002, "require POST method")
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self._error(47001, "data format error")
        if path == "/cgi-bin/stable_token":
            return self._stable_token(payload)
        if path == "/cgi-bin/message/subscribe/send":
            return self._send(query.get("access_token"), payload)
        return self._error(404, "not found")

    def _error(self, errcode: int, errmsg: str) -> Answer:
        self.stats[f"errcode {errcode}"] += 1
        return json_answer(
            {"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"}
        )

    def _issue(self) -> None:
        self._token = "ACCESS_TOKEN_" + secrets.token_urlsafe(24)
        self._token_expires = self.clock() + TOKEN_LIFETIME
        self._pinned = None

    def _stable_token(self, payload: Mapping[str, Any]) -> Answer:
        self.stats["stable_token"] += 1
        if payload.get("grant_type") != "client_credential":
            return self._error(40002, "invalid grant_type")
        if payload.get("appid") != self.appid:
            return self._error(40013, "invalid appid")
        if payload.get("secret") != self.secret:
            return self._error(40125, "invalid appsecret")
        now = self.clock()
        if payload.get("force_refresh") is True:
            self.stats["force_refresh"] += 1
            self._issue()
        elif self._pinned is not None:
            return json_answer({"access_token": self._pinned, "expires_in": 3600})
        elif self._token is None or self._token_expires is None or self._token_expires <= now:
            self._issue()
        assert self._token_expires is not None
        return json_answer(
            {"access_token": self._token, "expires_in": int((self._token_expires - now).total_seconds())}
        )

    def _send(self, access_token: str | None, payload: Mapping[str, Any]) -> Answer:
        self.stats["send"] += 1
        if not access_token:
            return self._error(41001, "access_token missing")
        if access_token != self._token or access_token == self._pinned:
            return self._error(40001, "invalid credential, access_token is invalid or not latest")
        if self._token_expires is None or self._token_expires <= self.clock():
            return self._error(42001, "access_token expired")
        touser, template_id, data = payload.get("touser"), payload.get("template_id"), payload.get("data")
        if not isinstance(touser, str) or not _OPENID.fullmatch(touser):
            return self._error(40003, "invalid openid")
        if template_id not in self.templates:
            return self._error(40037, "invalid template_id")
        problem = self._check_data(self.templates[template_id], data)
        if problem:
            return self._error(47003, f"argument invalid! {problem}")
        if payload.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
            return self._error(47003, "argument invalid! miniprogram_state")
        if touser in self.refused:
            return self._error(43101, "user refuse to accept the msg")
        self.sent.append(
            {
                "touser": touser,
                "template_id": template_id,
                "page": payload.get("page"),
                "data": {key: value["value"] for key, value in data.items()},
                "miniprogram_state": payload.get("miniprogram_state"),
                "lang": payload.get("lang"),
                "at": self.clock(),
            }
        )
        self.stats["delivered"] += 1
        return json_answer({"errcode": 0, "errmsg": "ok"})

    @staticmethod
    def _check_data(keys: tuple[str, ...], data: Any) -> str:
        if not isinstance(data, dict) or set(data) != set(keys):
            return f"data keys must be {', '.join(keys)}"
        for key, entry in data.items():
            value = entry.get("value") if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value:
                return f"data.{key}.value invalid"
            kind = key.rstrip("0123456789")
            if kind in LIMITS and len(value) > LIMITS[kind]:
                return f"data.{key}.value exceeds {LIMITS[kind]} characters"
        return ""


@pytest.fixture
def fake_wechat_message() -> Iterator[FakeWeChatMessage]:
    """A started fake, stopped after the test; the test fails if the fake itself crashed while answering."""
    with FakeWeChatMessage(hang_seconds=2.0) as fake:
        yield fake
    if fake.errors:
        pytest.fail("the fake WeChat message server crashed:\n" + "\n".join(fake.errors))
