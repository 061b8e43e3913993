"""Configuration of clock_app: ``settings.CLOCK`` over one ``DEFAULTS`` dict.

The raw dict is validated and parsed once into a frozen :class:`ClockSettings` (times as ``datetime.time``,
ratios as ``Decimal``, the time zone as ``ZoneInfo``) and cached until Django's ``setting_changed`` signal
says ``CLOCK`` changed (tests, ``override_settings``). The same :func:`parse` feeds the system checks in
``checks.py``, so a bad value fails ``manage.py check`` at startup with a message naming the key instead of
surfacing mid-round.

Money is integer fen everywhere; ratios are Decimal strings, never floats (``0.05`` as a float is not 5 %).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

DEFAULTS: dict[str, Any] = {
    "TIME_ZONE": "Asia/Shanghai",
    "PARTICIPATE_MONEY": 100,  # fen
    "CLOCK_START": "05:00",
    "CLOCK_END": "08:00",
    "RED_OPEN": "08:05",
    "SERVICE_RATIO": "0.05",
    "LUCKY_NUM": 2,
    "LUCKY_PROPORTION": "0.20",
    "MAX_PACKET": 9800,  # fen, the bonus part of one packet (seed: 98 yuan)
    "ORDER_PREFIX": "TTC",
    "PAYOUT_HANDLER": None,  # dotted path to ``handler(transfer) -> Mapping``
    "PAYOUT_RETRY_AFTER": 600,  # seconds before a payout of unknown outcome is retried
    "NO_WINNER_POLICY": "rollover",  # or "operator"
    "CACHE_PREFIX": "clock",
    "CACHE_ALIAS": "default",
    # The payment channel behind the HTTP layer: an adapter class and its options (see clock_app.channels).
    "PAYMENT_CHANNEL": {"BACKEND": "clock_app.channels.sandbox.SandboxChannel", "OPTIONS": {}},
    # Who is asking: ``resolver(request) -> uid | None``. Never the request body or query string.
    "USER_RESOLVER": "clock_app.views.request_user_id",
    # The payer's channel identity and profile: ``resolver(request) -> {"openId", "mobile", "nickname"} | None``.
    # The openid decides whom the channel pays back, so it never comes from the request body.
    "PROFILE_RESOLVER": None,
    "PAYOUT_TIMEOUT": 10,  # seconds a payout handler (a channel call) may take before its outcome is unknown
    # Reminders (clock_app.reminders): ``handler(reminders) -> results`` as a dotted path, or
    # ``{"BACKEND": dotted path of a factory, "OPTIONS": {...}}`` built once as ``BACKEND(**OPTIONS)``.
    "REMINDER_HANDLER": "clock_app.reminders.log.log_reminders",
    "REMIND_AT": "04:50",  # local time the check-in reminders of the morning go out (before the window opens)
    "REMIND_TIMEOUT": 60,  # seconds one batch of reminders may take in the handler
}

NO_WINNER_POLICIES = ("rollover", "operator")


@dataclass(frozen=True)
class ClockSettings:
    """The parsed, validated ``settings.CLOCK``; attribute names are the lower-cased keys."""

    time_zone: ZoneInfo
    participate_money: int
    clock_start: time
    clock_end: time
    red_open: time
    service_ratio: Decimal
    lucky_num: int
    lucky_proportion: Decimal
    max_packet: int
    order_prefix: str
    payout_handler: str | None
    payout_retry_after: int
    no_winner_policy: str
    cache_prefix: str
    cache_alias: str
    payment_channel: Mapping[str, Any]
    user_resolver: str
    profile_resolver: str | None
    payout_timeout: float
    reminder_handler: Mapping[str, Any]
    remind_at: time
    remind_timeout: float

    def import_payout_handler(self) -> Callable[..., Mapping[str, Any]] | None:
        return import_string(self.payout_handler) if self.payout_handler else None


def _money(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer number of fen, got {value!r}")
    if value < minimum:
        raise ValueError(f"must be >= {minimum} fen, got {value}")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"must be a non-negative integer, got {value!r}")
    return value


def _retry_after(value: Any) -> int:
    seconds = _count(value)
    if seconds < 10:
        raise ValueError(f"must be at least 10 seconds (a payout still being sent must not be re-sent), got {value}")
    return seconds


def _ratio(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError(f"must be a Decimal or a decimal string such as '0.05', not the float {value!r}")
    try:
        ratio = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"must be a decimal string such as '0.05', got {value!r}") from None
    if not ratio.is_finite() or not Decimal(0) <= ratio <= Decimal(1):
        raise ValueError(f"must be between 0 and 1, got {value!r}")
    if ratio.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ValueError(f"must have at most 4 decimal places, got {value!r}")
    return ratio


def _clock_time(value: Any) -> time:
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value):
        raise ValueError(f"must be a local time 'HH:MM' or 'HH:MM:SS', got {value!r}")
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"is not a valid time of day: {value!r}") from None


def _time_zone(value: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"is not a known time zone: {value!r}") from None


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z0-9]{1,8}", value):
        raise ValueError(f"must be 1-8 upper-case letters or digits, got {value!r}")
    return value


def _dotted_path(value: Any, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be a dotted import path, got {value!r}")
    try:
        target = import_string(value)
    except ImportError as exc:
        raise ValueError(f"cannot be imported ({value!r}): {exc}") from None
    if not callable(target):
        raise ValueError(f"must name a callable, {value!r} is not")
    return value


def _channel(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not isinstance(value.get("OPTIONS", {}), Mapping):
        raise ValueError("must be a dict {'BACKEND': 'dotted.path.Class', 'OPTIONS': {...}}")
    _dotted_path(value.get("BACKEND"), optional=False)
    return {"BACKEND": value["BACKEND"], "OPTIONS": dict(value.get("OPTIONS", {}))}


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        raise ValueError(f"must be a number of seconds between 0 and 300, got {value!r}")
    return float(value)


def _reminder_handler(value: Any) -> Mapping[str, Any]:
    """A dotted path (the handler itself) or ``{"BACKEND": factory path, "OPTIONS": {...}}``, kept in the
    second form: ``{"BACKEND": path, "OPTIONS": None}`` means "the path is the handler"."""
    if isinstance(value, str):
        _dotted_path(value, optional=False)
        return {"BACKEND": value, "OPTIONS": None}
    if not isinstance(value, Mapping) or not isinstance(value.get("OPTIONS", {}), Mapping):
        raise ValueError("must be a dotted path or a dict {'BACKEND': 'dotted.path', 'OPTIONS': {...}}")
    _dotted_path(value.get("BACKEND"), optional=False)
    return {"BACKEND": value["BACKEND"], "OPTIONS": dict(value.get("OPTIONS", {}))}


def _policy(value: Any) -> str:
    if value not in NO_WINNER_POLICIES:
        raise ValueError(f"must be one of {', '.join(NO_WINNER_POLICIES)}, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value


# key -> (check id, parser). Ids are stable: they appear in ``manage.py check`` output and SILENCED_SYSTEM_CHECKS.
_PARSERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "TIME_ZONE": ("E002", _time_zone),
    "PARTICIPATE_MONEY": ("E003", lambda v: _money(v, 1)),
    "CLOCK_START": ("E004", _clock_time),
    "CLOCK_END": ("E004", _clock_time),
    "RED_OPEN": ("E004", _clock_time),
    "SERVICE_RATIO": ("E006", _ratio),
    "LUCKY_NUM": ("E007", _count),
    "LUCKY_PROPORTION": ("E008", _ratio),
    "MAX_PACKET": ("E009", lambda v: _money(v, 1)),
    "ORDER_PREFIX": ("E010", _prefix),
    "PAYOUT_HANDLER": ("E011", lambda v: _dotted_path(v, optional=True)),
    "PAYOUT_RETRY_AFTER": ("E012", _retry_after),
    "NO_WINNER_POLICY": ("E013", _policy),
    "CACHE_PREFIX": ("E014", _text),
    "CACHE_ALIAS": ("E014", _text),
    "PAYMENT_CHANNEL": ("E015", _channel),
    "USER_RESOLVER": ("E016", lambda v: _dotted_path(v, optional=False)),
    "PROFILE_RESOLVER": ("E017", lambda v: _dotted_path(v, optional=True)),
    "PAYOUT_TIMEOUT": ("E018", _timeout),
    "REMINDER_HANDLER": ("E020", _reminder_handler),
    "REMIND_TIMEOUT": ("E020", _timeout),
    "REMIND_AT": ("E021", _clock_time),
}


@dataclass(frozen=True)
class ConfigProblem:
    id: str
    key: str
    message: str


def parse(raw: Mapping[str, Any] | None) -> tuple[ClockSettings | None, list[ConfigProblem]]:
    """Validate ``settings.CLOCK`` over the defaults; return the parsed settings or every problem found."""
    if raw is not None and not isinstance(raw, Mapping):
        return None, [ConfigProblem("E001", "CLOCK", "settings.CLOCK must be a dict")]
    raw = dict(raw or {})
    problems = [
        ConfigProblem("E001", key, f"CLOCK[{key!r}] is not a known setting (known: {', '.join(DEFAULTS)})")
        for key in raw
        if key not in DEFAULTS
    ]
    values: dict[str, Any] = {}
    for key, (check_id, parser) in _PARSERS.items():
        try:
            values[key.lower()] = parser(raw.get(key, DEFAULTS[key]))
        except ValueError as exc:
            problems.append(ConfigProblem(check_id, key, f"CLOCK[{key!r}] {exc}"))
    if {"clock_start", "clock_end", "red_open"} <= values.keys():
        if not values["clock_start"] < values["clock_end"]:
            problems.append(
                ConfigProblem("E005", "CLOCK_START", "CLOCK['CLOCK_START'] must be earlier than CLOCK['CLOCK_END']")
            )
        elif values["red_open"] <= values["clock_end"]:
            problems.append(
                ConfigProblem(
                    "E005",
                    "RED_OPEN",
                    "CLOCK['RED_OPEN'] must be later than CLOCK['CLOCK_END']: a round is settled after its "
                    "check-in window has closed, with a margin for check-ins still committing",
                )
            )
    if {"remind_at", "clock_end"} <= values.keys() and values["remind_at"] >= values["clock_end"]:
        problems.append(
            ConfigProblem(
                "E021",
                "REMIND_AT",
                "CLOCK['REMIND_AT'] must be earlier than CLOCK['CLOCK_END']: a check-in reminder goes out on the "
                "morning of the window, and one sent after the window closed reaches nobody in time",
            )
        )
    if problems:
        return None, problems
    return ClockSettings(**values), []


class _LazyClockSettings:
    """``clock_settings.participate_money`` etc.: parsed on first use, dropped when ``CLOCK`` changes."""

    _cached: ClockSettings | None = None

    def load(self) -> ClockSettings:
        if self._cached is None:
            parsed, problems = parse(getattr(settings, "CLOCK", None))
            if parsed is None:
                raise ImproperlyConfigured("; ".join(p.message for p in problems))
            self._cached = parsed
        return self._cached

    def reset(self) -> None:
        self._cached = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.load(), name)


clock_settings: Any = _LazyClockSettings()


@receiver(setting_changed)
def _reset_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "CLOCK":
        clock_settings.reset()
