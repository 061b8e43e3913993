"""System checks: a bad ``settings.CLOCK`` stops ``manage.py check`` (and every command) at startup."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .conf import parse

SANDBOX = "clock_app.channels.sandbox.SandboxChannel"


@register()
def check_clock_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    _, problems = parse(getattr(settings, "CLOCK", None))
    return [
        Error(p.message, hint="See the Configuration section of clock_app's README.", id=f"clock_app.{p.id}")
        for p in problems
    ]


@register()
def check_payment_channel_builds(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A channel whose OPTIONS are missing or wrong (a key that is not PEM, an APIV3_KEY of the wrong length)
    fails at startup, not at the first payment."""
    parsed, _ = parse(getattr(settings, "CLOCK", None))
    if parsed is None:
        return []  # reported by check_clock_settings
    channel = parsed.payment_channel
    try:
        import_string(channel["BACKEND"])(**channel["OPTIONS"])
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        return [
            Error(
                f"CLOCK['PAYMENT_CHANNEL'] cannot be built: {exc}",
                hint="Set every OPTIONS key the channel needs (see 'Going live' in clock_app's README).",
                id="clock_app.E019",
            )
        ]
    return []


@register()
def check_reminder_handler_builds(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A reminder handler given as ``{"BACKEND", "OPTIONS"}`` (the WeChat one: app id, secret, templates) is
    built at startup, so a missing template or a misspelt field fails here, not at 04:50."""
    parsed, _ = parse(getattr(settings, "CLOCK", None))
    if parsed is None:
        return []  # reported by check_clock_settings
    from .reminders import build_handler

    try:
        build_handler(parsed.reminder_handler)
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        return [
            Error(
                f"CLOCK['REMINDER_HANDLER'] cannot be built: {exc}",
                hint="See 'Reminders' in clock_app's README.",
                id="clock_app.E020",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_no_sandbox_in_production(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``manage.py check --deploy``: the sandbox channel moves no money and lets clients deliver their own
    signed payment callbacks — fine for a demo, never for production."""
    parsed, _ = parse(getattr(settings, "CLOCK", None))
    if parsed is not None and parsed.payment_channel["BACKEND"] == SANDBOX:
        return [
            Warning(
                "CLOCK['PAYMENT_CHANNEL'] is the sandbox channel: it pays nobody and hands clients signed "
                "payment callbacks.",
                hint="Configure a real channel adapter (see 'Payment channels' in clock_app's README).",
                id="clock_app.W001",
            )
        ]
    return []
