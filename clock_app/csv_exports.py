"""The operator's CSV exports of rounds — participants, money flow, payouts — streamed.

Each export is a generator of text lines over ``.iterator(chunk_size=…)`` (a server-side cursor on
PostgreSQL), written through one reused ``csv.writer`` buffer, so memory stays flat whatever the round's size
(``bench/exports.py``: the same peak at 100,000 and at 1,000,000 rows). The admin's actions hand it to a
``StreamingHttpResponse``.

Money is integer fen (``*_fen`` columns), times are local to ``CLOCK["TIME_ZONE"]`` in ISO 8601. Mobiles are
masked as everywhere outside the database (``138****1234``), and text a player chose (the nickname) that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``…) is prefixed with ``'``. The file starts with a
UTF-8 byte-order mark so spreadsheet programs read Chinese nicknames correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

from .conf import clock_settings
from .dashboard import KEPT_STATES, PAYOUT_STATES, money_flow
from .models import ClockStatus, Participation, RedStatus, Round
from .selectors import mask_mobile
from .services.payouts import OWING_STATES

CHUNK = 5000  # rows per fetch from the database
PIECE = 500  # rows per piece of the response
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

PARTICIPANT_COLUMNS = (
    "clock_day",
    "uid",
    "nickname",
    "mobile",
    "order_no",
    "stake_fen",
    "joined_at",
    "clock_status",
    "clock_time",
    "packet_fen",
    "payout_state",
)
PAYOUT_COLUMNS = (
    "clock_day",
    "uid",
    "mobile",
    "payout_no",
    "stake_fen",
    "packet_fen",
    "amount_fen",
    "payout_state",
    "paid_fen",
    "paid_at",
    "attempts",
    "renewals",
)
FLOW_COLUMNS = (
    "clock_day",
    "settled",
    "payers",
    "stakes_fen",
    "rollover_in_fen",
    "winners",
    "winner_stakes_fen",
    "packets_fen",
    "service_fee_fen",
    "rollover_out_fen",
    "balances",
    *(f"{state}_{unit}" for state in PAYOUT_STATES for unit in ("winners", "fen")),
    *(f"{state}_{unit}" for state in KEPT_STATES.values() for unit in ("payments", "fen")),
)
CLOCK_STATUS_WORDS = {ClockStatus.NONE: "none", ClockStatus.JOINED: "joined", ClockStatus.CLOCKED_IN: "clocked_in"}
PAYOUT_STATE_WORDS = {RedStatus.PAID: "paid", **OWING_STATES}


def _lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """CSV text in pieces of :data:`PIECE` rows (the header alone first): the buffer is emptied after each
    piece, so memory holds one piece whatever the number of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    yield BOM + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % PIECE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _text(value: str) -> str:
    """A player's own text, defused for spreadsheets."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _local(moment: datetime | None) -> str:
    return moment.astimezone(clock_settings.time_zone).isoformat() if moment else ""


def _days(days: Iterable[date]) -> list[date]:
    return sorted(set(days))


def participants_csv(days: Iterable[date]) -> Iterator[str]:
    """Every participation of the rounds ``days``, in round and id order."""

    def rows() -> Iterator[Sequence[object]]:
        for day in _days(days):
            settled = Round.objects.filter(clock_day=day, settled_at__isnull=False).exists()
            query = (
                Participation.objects.filter(clock_day=day)
                .order_by("id")
                .values_list(
                    "clock_day",
                    "uid",
                    "nickname",
                    "mobile",
                    "order_no",
                    "order_money",
                    "create_time",
                    "clock_status",
                    "clock_time",
                    "red_money",
                    "red_status",
                )
            )
            for row in query.iterator(chunk_size=CHUNK):
                clock_day, uid, nickname, mobile, order_no, stake, joined, clock_status, clocked, packet, red = row
                yield (
                    clock_day.isoformat(),
                    uid,
                    _text(nickname),
                    mask_mobile(mobile),
                    order_no,
                    stake,
                    _local(joined),
                    CLOCK_STATUS_WORDS.get(clock_status, str(clock_status)),
                    _local(clocked),
                    packet,
                    PAYOUT_STATE_WORDS[red] if settled and clock_status == ClockStatus.CLOCKED_IN else "",
                )

    return _lines(PARTICIPANT_COLUMNS, rows())


def payouts_csv(days: Iterable[date]) -> Iterator[str]:
    """Every winner of the settled rounds among ``days``: what they are owed and where it stands."""

    def rows() -> Iterator[Sequence[object]]:
        settled = Round.objects.filter(clock_day__in=_days(days), settled_at__isnull=False)
        for day in settled.order_by("clock_day").values_list("clock_day", flat=True):
            query = (
                Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN)
                .order_by("id")
                .values_list(
                    "clock_day",
                    "uid",
                    "mobile",
                    "payout_no",
                    "order_money",
                    "red_money",
                    "red_status",
                    "clock_money",
                    "red_time",
                    "payout_attempts",
                    "payout_renewals",
                )
            )
            for row in query.iterator(chunk_size=CHUNK):
                clock_day, uid, mobile, payout_no, stake, packet, red, paid, paid_at, attempts, renewals = row
                yield (
                    clock_day.isoformat(),
                    uid,
                    mask_mobile(mobile),
                    payout_no,
                    stake,
                    packet,
                    stake + packet,
                    PAYOUT_STATE_WORDS[red],
                    paid,
                    _local(paid_at) if red == RedStatus.PAID else "",
                    attempts,
                    renewals,
                )

    return _lines(PAYOUT_COLUMNS, rows())


def money_flow_csv(days: Iterable[date]) -> Iterator[str]:
    """One line per round: the dashboard's money flow (DESIGN §2's terms, payouts by state, payments kept)."""

    def rows() -> Iterator[Sequence[object]]:
        for the_round in Round.objects.filter(clock_day__in=_days(days)).defer("split_seed").order_by("clock_day"):
            flow = money_flow(the_round)
            yield (
                flow.clock_day.isoformat(),
                int(flow.settled),
                flow.payers,
                flow.stakes,
                flow.rollover_in,
                flow.winners,
                flow.winner_stakes,
                flow.packets,
                flow.service_fee,
                flow.rollover_out,
                int(flow.balances) if flow.settled else "",
                *(value for state in PAYOUT_STATES for value in flow.payouts[state]),
                *(value for state in KEPT_STATES.values() for value in flow.kept[state]),
            )

    return _lines(FLOW_COLUMNS, rows())
