"""``manage.py clock_sweep_payments [--day D]``: apply payments whose notification never came."""

from __future__ import annotations

from django.core.management.base import CommandError

from ... import calendar
from ...models import Round
from ...services.sweep import payments_sweep
from ..base import ClockCommand, no_round
from ..days import add_day_option, parse_day_option


class Command(ClockCommand):
    help = (
        "Ask the payment channel about every order of a round still waiting for its payment notification, "
        "and apply the ones the channel reports paid exactly as their notification would have been (with the "
        "channel's payment time). Run after the round's entry closes and again before its check-in window "
        "opens. Exits non-zero if the channel could not be asked about some order."
    )

    def add_arguments(self, parser):
        add_day_option(parser, "the round whose entry closed last, yesterday's")

    def handle(self, *args, day=None, **options):
        round_day = parse_day_option(day, calendar.previous_round(calendar.today()))
        if day is not None and not Round.objects.filter(clock_day=round_day).exists():
            raise no_round(round_day)
        outcomes = payments_sweep(round_day)
        summary = ", ".join(f"{name} {n}" for name, n in sorted(outcomes.items())) or "no waiting orders"
        if outcomes["failed"]:
            raise CommandError(f"round {round_day}: {summary}")
        self.stdout.write(self.style.SUCCESS(f"round {round_day}: {summary}"))
