"""The player row (``pay_clock_user``): created on first sight, profile kept current, counters moved by F()."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from .. import calendar
from ..exceptions import InvalidInput
from ..models import Player

PROFILE_FIELDS = ("nickname", "mobile", "source_uid")


MAX_UID = 2**63 - 1  # the largest value a BIGINT column holds


def require_uid(uid: object) -> int:
    if isinstance(uid, bool) or not isinstance(uid, int) or not 0 < uid <= MAX_UID:
        raise InvalidInput("uid_invalid", "用户ID无效")
    return uid


def _fits(value: object, length: int) -> str:
    """An optional profile value as it can be stored: text without NULs, cut to its column's length."""
    return value.replace("\x00", "")[:length] if isinstance(value, str) else ""


def player_touch(
    *,
    uid: int,
    nickname: str = "",
    mobile: str = "",
    source_uid: str = "",
    now: datetime | None = None,
    found: Player | None = None,
) -> Player:
    """``uid``'s row, created if missing (stamped ``now``); the profile fields given (non-empty) are refreshed
    if they differ.

    One ``SELECT`` when the row exists and is current, so the home page can call it on every visit; none when
    the caller already read the row (``found``, e.g. with the player's statuses in one query).
    """
    given = {
        name: value
        for name, value in (
            ("nickname", _fits(nickname, 64)),
            ("mobile", _fits(mobile, 20)),
            ("source_uid", _fits(source_uid, 64)),
        )
        if value
    }
    now = now or timezone.now()
    player = found if found is not None else Player.objects.filter(uid=uid).first()
    if player is None:
        Player.objects.bulk_create([Player(uid=uid, create_time=now, update_time=now, **given)], ignore_conflicts=True)
        return Player.objects.get(uid=uid)
    changed = {name: value for name, value in given.items() if getattr(player, name) != value}
    if changed:
        Player.objects.filter(uid=uid).update(**changed, update_time=now)
        for name, value in changed.items():
            setattr(player, name, value)
    return player


def player_remind(*, uid: int) -> bool:
    """Turn on ``uid``'s check-in reminder (seed ``userRemind``); return the setting now stored."""
    require_uid(uid)
    player_touch(uid=uid)
    Player.objects.filter(uid=uid, is_remind=False).update(is_remind=True, update_time=timezone.now())
    return True


def player_toast_shown(*, uid: int, now: datetime | None = None) -> None:
    """Record that today's pop-up was shown to ``uid`` (``summary.is_alert`` turns 0 until tomorrow)."""
    require_uid(uid)
    now = now or timezone.now()
    player_touch(uid=uid, now=now)
    Player.objects.filter(uid=uid).update(toast_day=calendar.today(now), update_time=now)
