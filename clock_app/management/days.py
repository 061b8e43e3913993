"""The ``--day YYYY-MM-DD`` option shared by the management commands."""

from __future__ import annotations

from datetime import date

from django.core.management.base import CommandError

from .. import calendar


def add_day_option(parser, default_help: str | None, required: bool = False) -> None:
    """``--day``; ``default_help`` says what the command works on without it (None when it is required)."""
    default = f" (default: {default_help})" if default_help else ""
    parser.add_argument("--day", required=required, metavar="YYYY-MM-DD", help=f"The round to work on{default}.")


def parse_day_option(value: str | None, default: date | None = None) -> date | None:
    if value is None:
        return default
    try:
        return calendar.parse_day(value)
    except ValueError:
        raise CommandError(f"--day must be a date YYYY-MM-DD, got {value!r:.40}") from None
