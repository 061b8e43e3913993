"""Alipay's wire format: Beijing-time strings, what a signature covers, and answers cut out exactly as signed.

* A request signs every non-empty parameter except ``sign`` (``sign_type`` included), sorted by name, ``k=v``
  joined with ``&``, values unescaped; a notification the same without ``sign_type``.
* An answer is ``{"<method with . → _>_response": {…}, ["alipay_cert_sn": "…",] "sign": "…"}``; ``sign`` covers
  the exact text of the response object as it appears in the body, so that text is cut out of the body (never
  re-serialised, which would change spacing, escapes or key order).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")  # Alipay's clock: timestamps, gmt_payment, bills
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def signed_content(fields: Mapping[str, str], *, leave_out: tuple[str, ...]) -> str:
    """What a signature covers: the non-empty fields not in ``leave_out``, sorted, ``k=v`` joined with ``&``."""
    return "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in leave_out and v != "")


class Unverified(Exception):
    """An answer or notification whose signature does not check out, or that cannot be read."""


@dataclass(frozen=True)
class Reply:
    """A verified gateway answer: the ``<method>_response`` object and the body as received."""

    data: dict[str, Any]
    text: str

    @property
    def ok(self) -> bool:
        return self.data.get("code") == "10000"

    @property
    def sub_code(self) -> str:
        return str(self.data.get("sub_code") or "")

    @property
    def unsure(self) -> bool:
        """Alipay's "busy, try again with the same parameters": the call may or may not have acted."""
        return self.data.get("code") == "20000" or self.sub_code in ("SYSTEM_ERROR", "ACQ.SYSTEM_ERROR")

    def refusal(self) -> dict[str, Any]:
        return {"result_code": "FAIL", "err_code": self.sub_code or self.data.get("code"), "err_code_des": self.why}

    @property
    def why(self) -> str:
        return str(self.data.get("sub_msg") or self.data.get("msg") or "")[:200]


def alipay_time(moment: datetime) -> str:
    """Alipay's time format, Beijing time: ``2026-12-07 23:59:59``."""
    return moment.astimezone(SHANGHAI).strftime(TIME_FORMAT)


def parse_alipay_time(text: Any) -> datetime | None:
    """An aware datetime from Alipay's ``YYYY-MM-DD HH:MM:SS`` (Beijing time), or None."""
    try:
        return datetime.strptime(str(text).strip()[:19], TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        return None


def response_members(text: str) -> dict[str, tuple[Any, str]]:
    """The top-level members of a JSON object, each as ``(value, its exact text)`` — Alipay signs the text of
    one member as it appears in the body, so it must be cut out, not re-serialised. Duplicates are refused."""
    decoder, space = json.JSONDecoder(), re.compile(r"\s*")
    i = space.match(text).end()
    if text[i : i + 1] != "{":
        raise ValueError("not a JSON object")
    members: dict[str, tuple[Any, str]] = {}
    i = space.match(text, i + 1).end()
    if text[i : i + 1] == "}":
        i += 1
    else:
        while True:
            name, i = decoder.raw_decode(text, i)
            i = space.match(text, i).end()
            if not isinstance(name, str) or name in members or text[i : i + 1] != ":":
                raise ValueError("not a JSON object with distinct names")
            start = space.match(text, i + 1).end()
            value, i = decoder.raw_decode(text, start)
            members[name] = (value, text[start:i])
            i = space.match(text, i).end()
            if text[i : i + 1] == "}":
                i += 1
                break
            if text[i : i + 1] != ",":
                raise ValueError("expected , or }")
            i = space.match(text, i + 1).end()
    if text[i:].strip():
        raise ValueError("text after the object")
    return members
