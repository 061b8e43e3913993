"""System checks: a bad ``settings.CLOCK`` stops ``manage.py check`` (and every command) at startup."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from .conf import parse


@register()
def check_clock_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    _, problems = parse(getattr(settings, "CLOCK", None))
    return [
        Error(p.message, hint="See the Configuration section of clock_app's README.", id=f"clock_app.{p.id}")
        for p in problems
    ]
