"""The player row (``pay_clock_user``): created on first sight, profile kept current, counters moved by F()."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from ..models import Player


def player_touch(*, uid: int, nickname: str = "", mobile: str = "", source_uid: str = "") -> None:
    """Create ``uid``'s row if missing; refresh the profile fields that were given and differ.

    Writes nothing when the row exists and is current, so the home page can call it on every visit.
    """
    if not Player.objects.filter(uid=uid).exists():
        Player.objects.bulk_create(
            [Player(uid=uid, nickname=nickname, mobile=mobile, source_uid=source_uid)], ignore_conflicts=True
        )
        return
    profile = {
        name: value for name, value in (("nickname", nickname), ("mobile", mobile), ("source_uid", source_uid)) if value
    }
    if profile:
        Player.objects.filter(uid=uid).exclude(Q(**profile)).update(**profile, update_time=timezone.now())
