"""The ``--day YYYY-MM-DD`` option shared by the management commands."""

from __future__ import annotations

from datetime import date

from django.core.management.base import CommandError

from .. import calendar


def add_day_option(parser, default_help: str, required: bool = False) -> None:
    parser.add_argument("--day", required=required, help=f"Round to work on, YYYY-MM-DD (default: {default_help}).")


def parse_day_option(value: str | None, default: date | None = None) -> date | None:
    if value is None:
        return default
    try:
        return calendar.parse_day(value)
    except ValueError:
        raise CommandError(f"--day must be a date YYYY-MM-DD, got {value!r}") from None
