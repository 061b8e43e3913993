"""Opening a round: the row is created race-free by its first order, with the rules and a committed seed."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from ..cache import forget_on_commit, round_totals_key
from ..conf import clock_settings
from ..models import LuckySetting, Round
from ..randomness import draw_seed, seed_commitment
from ..rules import RoundRules

logger = logging.getLogger(__name__)


def rules_in_force(now: datetime | None = None) -> RoundRules:
    """``CLOCK`` with the lucky packets of the active ``pay_clock_setting`` row, if any, applied."""
    now = now or timezone.now()
    rules = RoundRules.of(clock_settings.load())
    override = (
        LuckySetting.objects.filter(start_time__lte=now, end_time__gte=now).order_by("-start_time", "-id").first()
    )
    if override is None:
        return rules
    return replace(rules, lucky_num=override.red_num, lucky_proportion=Decimal(override.money_proportion) / 100)


def round_open(day: date, *, now: datetime | None = None) -> Round:
    """Round ``day``'s row, created with the rules in force and a fresh committed seed if it does not exist.

    ``INSERT … ON CONFLICT DO NOTHING`` then ``SELECT``: two first payers at once both get the one row, neither
    fails, and the loser's seed is simply never stored.
    """
    existing = Round.objects.filter(clock_day=day).first()
    if existing is not None:
        return existing
    seed = draw_seed()
    Round.objects.bulk_create(
        [
            Round(
                clock_day=day,
                split_seed=seed,
                seed_hash=seed_commitment(seed),
                create_time=now or timezone.now(),
                update_time=now or timezone.now(),
                **rules_in_force(now).as_fields(),
            )
        ],
        ignore_conflicts=True,
    )
    opened = Round.objects.get(clock_day=day)
    if opened.seed_hash == seed_commitment(seed):
        logger.info("round %s opened, seed_hash %s", day, opened.seed_hash)
        forget_on_commit(round_totals_key(day))
    return opened
