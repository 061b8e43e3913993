"""The read side: what participants and visitors see (home summary, their pages, leaderboards).

Reads that every visitor makes — a round's totals, its check-in count, the leaderboards — come from the cache
with a short lifetime and are rebuilt from the database on a miss. Payments drop the round's cached totals
when they commit; check-ins bump the cached count instead of dropping it, so the 05:00 rush does not turn
every page view into a ``COUNT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from functools import lru_cache
from typing import Any, NamedTuple

from django.db import connection
from django.utils import timezone

from . import calendar
from .cache import cached, clocked_in_key, key, round_totals_key
from .conf import clock_settings
from .exceptions import InvalidInput
from .models import ClockStatus, LedgerEntry, MoneyType, Participation, Player, RedStatus, Round
from .money import yuan
from .prepared import hot_cursor

ROUND_TTL = 30  # seconds; payments also drop the entry when they commit
CLOCKED_IN_TTL = 10  # seconds; check-ins bump the cached count
BOARD_TTL = 600  # leaderboards: 10 minutes, as the seed
MAX_PAGE_SIZE = 100
MAX_OFFSET = 100_000  # deeper pages are refused rather than scanned
SEAT_WAITING = "虚席以待"


@dataclass(frozen=True)
class RoundView:
    """A round as every visitor sees it (cached). A round nobody has paid for yet shows zeros."""

    clock_day: date
    exists: bool
    user_num: int
    clock_money: int
    seed_hash: str
    participate_money: int
    clock_start: time
    clock_end: time
    red_open: time


def round_view(day: date) -> RoundView:
    def load() -> RoundView:
        row = Round.objects.filter(clock_day=day).first()
        source = row if row is not None else clock_settings.load()
        return RoundView(
            clock_day=day,
            exists=row is not None,
            user_num=row.user_num if row else 0,
            clock_money=row.clock_money if row else 0,
            seed_hash=row.seed_hash if row else "",
            participate_money=source.participate_money,
            clock_start=source.clock_start,
            clock_end=source.clock_end,
            red_open=source.red_open,
        )

    return cached(round_totals_key(day), ROUND_TTL, load, local=True)


def clocked_in_count(day: date) -> int:
    return cached(
        clocked_in_key(day),
        CLOCKED_IN_TTL,
        lambda: Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN).count(),
        local=True,
    )


def _status_in(uid: int | None, day: date) -> int | None:
    """``uid``'s ``clock_status`` in round ``day``, or None if they are not in it."""
    if uid is None:
        return None
    return Participation.objects.filter(uid=uid, clock_day=day).values_list("clock_status", flat=True).first()


# The player and their status in the two rounds the home summary can show, in one round trip: the summary is
# the most-read endpoint (every visit of the page, every poll of its countdowns) and needs nothing else from
# the database once the rounds' totals are cached. The other columns are loaded only if something reads them.
# Prepared where the project allows it (clock_app.prepared): planning it cost PostgreSQL more than running it.
PLAYER_COLUMNS = ("id", "uid", "nickname", "mobile", "source_uid", "is_remind", "toast_day")
PLAYER_WITH_STATUSES = (
    f"SELECT {', '.join(f'p.{column}' for column in PLAYER_COLUMNS)}, "
    "(SELECT d.clock_status FROM pay_clock_day d WHERE d.uid = p.uid AND d.clock_day = %s) AS status_yesterday, "
    "(SELECT d.clock_status FROM pay_clock_day d WHERE d.uid = p.uid AND d.clock_day = %s) AS status_today "
    "FROM pay_clock_user p WHERE p.uid = %s"
)


def player_with_statuses(uid: int, now: datetime) -> tuple[Player | None, dict[date, int | None]]:
    """``uid``'s player row (None if they have none yet) and their ``clock_status`` in yesterday's and today's
    rounds (None where they did not join), with one query."""
    today = calendar.today(now)
    yesterday = calendar.previous_round(today)
    ops = connection.ops
    with hot_cursor() as cursor:
        cursor.execute(
            PLAYER_WITH_STATUSES, [ops.adapt_datefield_value(yesterday), ops.adapt_datefield_value(today), uid]
        )
        row = cursor.fetchone()
    if row is None:
        return None, {}
    # A model instance without the queryset machinery (a RawQuerySet cost a quarter of a millisecond a
    # request); the columns not read here load on first access, as deferred fields do.
    player = Player.from_db(connection.alias, PLAYER_COLUMNS, row[: len(PLAYER_COLUMNS)])
    return player, {yesterday: row[-2], today: row[-1]}


def home_summary(
    player: Player | None, now: datetime | None = None, statuses: dict[date, int | None] | None = None
) -> dict[str, Any]:
    """The eleven fields of the seed's home summary (all integers) plus the shown round's day and seed_hash.

    Before 08:05 a participant of yesterday's round is shown that round (with the countdown to 08:05);
    everyone else, and everyone from 08:05 on, is shown today's round.

    Added for a page that tells a player what they can do now and until when (the seed's fields keep their
    meaning): ``clock_end_time`` (seconds to the end of the shown round's check-in window), ``red_open_time``
    (seconds to its red packets, for anyone: the seed's ``red_time`` counts only for yesterday's players),
    ``clock_window`` and ``red_open`` (its frozen times, ``HH:MM``), ``participate_money`` (its stake, fen),
    ``time_zone`` (the game's zone, every time above is in it) and ``local_time`` (now there, ISO 8601).

    ``statuses``: the player's ``clock_status`` by round day when the caller has read them already
    (:func:`player_with_statuses`); otherwise they are looked up.
    """
    now = now or timezone.now()
    local = calendar.local_now(now)
    today = local.date()
    yesterday = calendar.previous_round(today)
    zone = clock_settings.time_zone
    previous = round_view(yesterday)
    previous_face = _face(previous, zone)

    def status_in(day: date) -> int | None:
        if statuses is not None and player is not None:
            return statuses.get(day)
        return _status_in(player.uid if player else None, day)

    status_yesterday = status_in(yesterday)

    if status_yesterday is not None and now < previous_face.red_open_at:
        shown, face = previous, previous_face
        summary = {
            "clock_status": status_yesterday,
            "clock_user_num": clocked_in_count(yesterday),
            "red_time": calendar.seconds_until(face.red_open_at, now),
            "zero_time": 0,
            "is_start": 0,
        }
    else:
        shown = round_view(today)
        face = _face(shown, zone)
        summary = {
            "clock_status": status_in(today) or ClockStatus.NONE,
            "clock_user_num": 0,  # today's round is checked in tomorrow
            "red_time": 0,
            "zero_time": calendar.seconds_until(face.entries_close_at, now),
            "is_start": 1,
        }
    return {
        "is_remind": int(bool(player and player.is_remind)),
        **summary,
        "clock_status": int(summary["clock_status"]),
        "user_num": shown.user_num,
        "clock_money": shown.clock_money,
        "clock_time": calendar.seconds_until(face.start, now),
        "is_alert": int(player is not None and player.toast_day != today),
        "yest_money": previous.clock_money,
        "clock_day": face.clock_day,
        "seed_hash": shown.seed_hash,
        "clock_end_time": calendar.seconds_until(face.end, now),
        "red_open_time": calendar.seconds_until(face.red_open_at, now),
        "clock_window": face.clock_window,
        "red_open": face.red_open,
        "participate_money": shown.participate_money,
        "time_zone": zone.key,
        "local_time": local.isoformat(timespec="seconds"),
    }


class RoundFace(NamedTuple):
    """What the home summary shows of a round that does not change with the time of the request."""

    clock_day: str
    start: datetime
    end: datetime
    red_open_at: datetime
    entries_close_at: datetime
    clock_window: str
    red_open: str


@lru_cache(maxsize=64)
def _face(view: RoundView, zone: tzinfo) -> RoundFace:
    """``view``'s instants and labels, worked out once per round view (every summary shows one of two rounds).
    ``zone`` (``CLOCK["TIME_ZONE"]``) is part of the key: the instants are local times in it."""
    start, end = calendar.window(view.clock_day, view)
    return RoundFace(
        clock_day=view.clock_day.isoformat(),
        start=start,
        end=end,
        red_open_at=calendar.red_open_at(view.clock_day, view),
        entries_close_at=calendar.entries_close_at(view.clock_day),
        clock_window=f"{view.clock_start:%H:%M}–{view.clock_end:%H:%M}",
        red_open=f"{view.red_open:%H:%M}",
    )


def is_checked_in(uid: int, now: datetime | None = None) -> bool:
    """Whether ``uid`` has checked in for the round whose window is today (round D-1 on day D)."""
    day = calendar.checkin_round(now)
    return Participation.objects.filter(uid=uid, clock_day=day, clock_status=ClockStatus.CLOCKED_IN).exists()


def player_information(player: Player) -> dict[str, int]:
    return {
        "spend_money": player.spend_money,
        "income_money": player.income_money,
        "clock_day_num": player.clock_day_num,
    }


def page_bounds(page: Any, limit: Any, *, max_limit: int = MAX_PAGE_SIZE) -> tuple[int, int]:
    """``[start, stop)`` of a 0-based page; ``page_invalid``/``limit_invalid`` for anything else."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise InvalidInput("page_invalid", "页码无效")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= max_limit:
        raise InvalidInput("limit_invalid", f"每页条数应在 1 到 {max_limit} 之间")
    if page * limit > MAX_OFFSET:
        raise InvalidInput("page_invalid", "页码过大")
    return page * limit, page * limit + limit


def local_text(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return calendar.local_now(moment).strftime(fmt) if moment else ""


def ledger_page(uid: int, page: int = 0, limit: int = 10) -> dict[str, Any]:
    """``uid``'s money movements, newest first (seed ``moneyFloatItems``)."""
    start, stop = page_bounds(page, limit)
    entries = LedgerEntry.objects.filter(uid=uid)
    rows = entries.order_by("-id").values("clock_day", "money_type", "change_money", "create_time")[start:stop]
    return {
        "total_counts": entries.count(),
        "items": [
            {
                "clock_day": row["clock_day"].isoformat(),
                "money_type": row["money_type"],
                "change_money": row["change_money"],
                "create_time": local_text(row["create_time"]),
                "title": MoneyType(row["money_type"]).label,
            }
            for row in rows
        ],
    }


def yesterday_status(uid: int, now: datetime | None = None) -> dict[str, Any]:
    """``uid``'s part in yesterday's round, with the pseudonym that names their line in its statement."""
    day = calendar.previous_round(calendar.today(now))
    row = (
        Participation.objects.filter(uid=uid, clock_day=day)
        .values("clock_status", "red_status", "pseudonym", "order_no")
        .first()
    )
    return {
        "clock_status": int(row["clock_status"]) if row else int(ClockStatus.NONE),
        "red_status": int(row["red_status"]) if row else int(RedStatus.UNPAID),
        "clock_day": day.isoformat(),
        "pseudonym": row["pseudonym"] if row else "",
        "order_no": row["order_no"] if row else "",
    }


def mask_mobile(mobile: str) -> str:
    """``13812341234`` → ``138****1234``: at most the first 3 and the last 4 characters are shown, and always
    at least 4 are hidden (a short number shows less: ``12345678`` → ``12****78``)."""
    if not mobile:
        return ""
    shown = max(0, min(7, len(mobile) - 4))
    head = min(3, (shown + 1) // 2)
    tail = shown - head
    return mobile[:head] + "*" * (len(mobile) - shown) + (mobile[-tail:] if tail else "")


def income_board(page: int = 0, limit: int = 10) -> dict[str, Any]:
    """Players with a mobile number by income, highest first (seed ``recordClock``); cached 10 minutes."""
    start, stop = page_bounds(page, limit)

    def load() -> dict[str, Any]:
        players = Player.objects.exclude(mobile="")
        rows = players.order_by("-income_money", "id").values("nickname", "mobile", "clock_day_num", "income_money")
        return {
            "total_counts": players.count(),
            "items": [
                {
                    "nickname": row["nickname"],
                    "mobile": mask_mobile(row["mobile"]),
                    "clockDayCount": row["clock_day_num"],
                    "incomeMoney": row["income_money"],
                }
                for row in rows[start:stop]
            ],
        }

    return cached(key("board", "income", page, limit), BOARD_TTL, load)


def _talent(kind: int, row: dict[str, Any] | None, desc: str) -> dict[str, Any]:
    if row is None:
        return {"type": kind, "uid": "", "icon": "", "nickname": "", "mobile": "", "desc": SEAT_WAITING}
    return {
        "type": kind,
        "uid": row["uid"],
        "icon": "",
        "nickname": row["nickname"],
        "mobile": mask_mobile(row["mobile"]),
        "desc": desc,
    }


def talents(now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """The three "talent" cards (seed ``topClock``), cached 10 minutes per local day.

    persistent: the longest current streak (last check-in today or yesterday); lucky: the largest packet of
    the last settled round; early: the earliest check-in of the round whose window was this morning.
    """
    now = now or timezone.now()
    today = calendar.today(now)

    def load() -> dict[str, dict[str, Any]]:
        streak_alive_since, _ = calendar.day_span(calendar.previous_round(today))
        persistent = (
            Player.objects.filter(long_day_num__gt=0, yesterday_time__gte=streak_alive_since)
            .order_by("-long_day_num", "yesterday_time", "id")
            .values("uid", "nickname", "mobile", "long_day_num")
            .first()
        )
        last_settled = Round.objects.filter(settled_at__isnull=False).order_by("-clock_day").values("clock_day").first()
        lucky = None
        if last_settled:
            lucky = (
                Participation.objects.filter(clock_day=last_settled["clock_day"], red_money__gt=0)
                .order_by("-red_money", "id")
                .values("uid", "nickname", "mobile", "red_money")
                .first()
            )
        early = (
            Participation.objects.filter(clock_day=calendar.checkin_round(now), clock_status=ClockStatus.CLOCKED_IN)
            .order_by("clock_time", "id")
            .values("uid", "nickname", "mobile", "clock_time")
            .first()
        )
        return {
            "persistent": _talent(1, persistent, f"连续打卡{persistent['long_day_num']}次" if persistent else ""),
            "lucky": _talent(2, lucky, f"分到了{yuan(lucky['red_money'])}元" if lucky else ""),
            "early": _talent(3, early, f"{local_text(early['clock_time'], '%H:%M:%S')}打卡" if early else ""),
        }

    return cached(key("board", "talent", today.isoformat()), BOARD_TTL, load)
