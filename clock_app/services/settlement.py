"""Settling a round (``clock_init_red``, 08:05): forfeited stakes, fee, rollover, and every winner's packet.

Design
------
* **Exclusive and idempotent.** The whole settlement is one transaction holding the round's row lock
  (``SELECT … FOR UPDATE``). A second run — concurrent or later — waits for the lock, sees ``settled_at``
  and returns without changing anything. The lock dies with its connection, so a settlement killed with
  SIGKILL leaves nothing half-written and can be run again at once.
* **Reproducible.** The split is a pure function of the seed committed when the round opened, the frozen
  rules and the winners in pseudonym order (:mod:`clock_app.statement`), so a run interrupted half-way and
  run again produces the same allocation and the same statement hash. A round opened before seeds were
  committed gets its seed drawn and committed in its own transaction first (``seed_committed = False``).
* **Set-based writes.** On PostgreSQL the non-zero packets go in with one binary ``COPY`` into a temporary
  table (``ON COMMIT DROP``) and one ``UPDATE … FROM`` it — what the database itself needs to store them, the
  ceiling ``bench/settle.py`` measures the settlement against; elsewhere batches of ``BATCH`` rows with
  ``executemany``, in primary-key order. ``red_money`` is in no index and half of every page is free, so these
  are HOT updates (see migration 0002 for the measurements).
* **Flat memory, no object per winner.** Winners come from the database as one binary ``COPY`` of fixed
  records cut into integer arrays (:mod:`clock_app.winners`), the split marks its cut points in a
  ``bytearray`` (:mod:`clock_app.split`), the statement is hashed a chunk of lines at a time
  (:func:`clock_app.statement.line_chunks`); a million winners peak under 200 MB (``bench/settle.py``).
* **Overlaps.** The winners' query is sent before the split and read after it, so the database sorts while
  Python splits; the statement is hashed in a helper thread while the ``UPDATE`` runs. Neither changes a
  number or a byte (``tests/services/test_settlement_pinned.py`` pins the hash on a fixed seed).
* **Progress.** ``progress(done, total)`` is called once the packets are written (one statement: there is no
  half-way to report).
"""

from __future__ import annotations

import logging
import sys
from array import array
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain, compress

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from .. import calendar, pgcopy, statement
from ..cache import clocked_in_key, forget_on_commit, round_totals_key
from ..exceptions import ClockError, RoundNotClosed, RoundNotFound
from ..models import ClockStatus, Participation, Round
from ..randomness import draw_seed, seed_commitment
from ..rules import RoundRules
from ..winners import Winners

logger = logging.getLogger(__name__)

BATCH = 20_000  # rows per executemany (not PostgreSQL)
COPY_WRITE = 1 << 20  # bytes per write to the COPY
Progress = Callable[[int, int], None]


class RoundBooksMismatch(ClockError):
    """The round's totals disagree with its participation rows; settling would spread the error."""

    code = "round_books_mismatch"
    message = "活动数据不一致，暂停开奖"


@dataclass(frozen=True)
class SettlementResult:
    clock_day: date
    already_settled: bool
    totals: statement.Totals | None  # None when the round had been settled before this call
    statement_hash: str


def round_settle(day: date, *, now: datetime | None = None, progress: Progress | None = None) -> SettlementResult:
    """Settle round ``day`` once; a settled round is returned as it is."""
    now = now or timezone.now()
    _commit_seed_if_missing(day)
    with transaction.atomic(durable=True):
        the_round = Round.objects.select_for_update().filter(clock_day=day).first()
        if the_round is None:
            raise RoundNotFound()
        if the_round.is_settled:
            return SettlementResult(day, True, None, the_round.statement_hash)
        if now < calendar.red_open_at(day, the_round):
            raise RoundNotClosed()

        won = Q(clock_status=ClockStatus.CLOCKED_IN)
        books = Participation.objects.filter(clock_day=day).aggregate(
            n=Count("id"),
            stakes=Sum("order_money"),
            winners=Count("id", filter=won),
            winner_stakes=Sum("order_money", filter=won),
        )
        if books["n"] != the_round.user_num or (books["stakes"] or 0) != the_round.clock_money:
            logger.error(
                "round %s: pay_clock says %s payers / %s fen, pay_clock_day has %s / %s",
                day,
                the_round.user_num,
                the_round.clock_money,
                books["n"],
                books["stakes"],
            )
            raise RoundBooksMismatch()

        rollover_in = _claim_rollover(day)
        rules = RoundRules.of(the_round)
        # The database sorts the winners while the split (it needs only their count and stakes) runs here.
        finish_loading = Winners.loading(the_round)
        try:
            totals, packets = statement.settle_numbers(
                payers=the_round.user_num,
                stakes=the_round.clock_money,
                winner_stakes=books["winner_stakes"] or 0,
                winners=books["winners"],
                rollover_in=rollover_in,
                rules=rules,
                seed=the_round.split_seed,
            )
        finally:
            winners = finish_loading()  # also drains the connection if the split failed
        if len(winners) != books["winners"] or winners.stake_total != (books["winner_stakes"] or 0):
            raise RoundBooksMismatch(f"round {day}: {books['winners']} winners counted, {len(winners)} loaded")
        head = statement.header(
            clock_day=day.isoformat(),
            rules=rules,
            seed_hash=the_round.seed_hash,
            seed=the_round.split_seed,
            committed=the_round.seed_committed,
            totals=totals,
            version=the_round.statement_version,
        )
        # The statement is hashed (pure Python) in a helper thread while this one waits on the database's
        # UPDATE; the database is only ever used from this thread. (The split in a thread during the winners'
        # load lost: the load's COPY wakes this thread once a row, and the two fought for the GIL.)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clock-settle") as helper:
            hashing = []

            def start_hashing() -> None:
                lines = winners.line_chunks(packets)
                hashing.append(helper.submit(statement.digest, chain([statement.canonical(head)], lines)))

            _write_packets(day, winners, packets, progress, start_hashing)
            if not hashing:
                start_hashing()
            statement_hash = hashing[0].result()
        Round.objects.filter(pk=the_round.pk).update(
            success_user_num=totals.winners,
            failure_user_num=totals.payers - totals.winners,
            service_fee=totals.service_fee,
            bonus_money=totals.bonus,
            rollover_in=totals.rollover_in,
            rollover_out=totals.rollover_out,
            statement_hash=statement_hash,
            settled_at=now,
            update_time=now,
        )
        forget_on_commit(round_totals_key(day), clocked_in_key(day))
    logger.info(
        "round %s settled: %s winners of %s, fee %s, bonus %s, rollover in %s out %s",
        day,
        totals.winners,
        totals.payers,
        totals.service_fee,
        totals.bonus,
        totals.rollover_in,
        totals.rollover_out,
    )
    return SettlementResult(day, False, totals, statement_hash)


def rounds_settle_due(*, now: datetime | None = None) -> list[SettlementResult]:
    """Settle every round whose own frozen red-open time has passed (the beat runs this every few minutes,
    so a round is settled at *its* ``red_open`` even after ``CLOCK["RED_OPEN"]`` moved, and one missed by a
    beat that was down is settled on the next run)."""
    now = now or timezone.now()
    due = Round.objects.filter(settled_at__isnull=True, clock_day__lt=calendar.today(now)).order_by("clock_day")
    return [round_settle(r.clock_day, now=now) for r in due if now >= calendar.red_open_at(r.clock_day, r)]


def round_settle_if_due(day: date, *, now: datetime | None = None) -> None:
    """Settle round ``day`` if it exists and is not settled yet: packets are opened and pushed only from a
    settled round, and whoever gets there first after ``RED_OPEN`` settles it (once, under the lock)."""
    if Round.objects.filter(clock_day=day, settled_at__isnull=True).exists():
        round_settle(day, now=now)


def _commit_seed_if_missing(day: date) -> None:
    """Rounds opened before seeds were committed: draw one now and commit it before anything depends on it,
    so a crashed settlement re-runs with the same seed."""
    seed = draw_seed()
    drawn = Round.objects.filter(clock_day=day, split_seed="", settled_at__isnull=True).update(
        split_seed=seed, seed_hash=seed_commitment(seed), seed_committed=False, update_time=timezone.now()
    )
    if drawn:
        logger.warning("round %s had no committed seed: drew one at settlement (committed: false)", day)


def _claim_rollover(day: date) -> int:
    """Take the unclaimed rollover of earlier settled rounds into round ``day`` (conditional UPDATE: each
    rollover is claimed by exactly one round)."""
    Round.objects.filter(
        clock_day__lt=day, settled_at__isnull=False, rollover_out__gt=0, rollover_into__isnull=True
    ).update(rollover_into=day)
    return Round.objects.filter(rollover_into=day).aggregate(s=Sum("rollover_out"))["s"] or 0


def _write_packets(
    day: date,
    winners: Winners,
    packets: list[int],
    progress: Progress | None,
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """Store every non-zero packet in its winner's row. PostgreSQL: one ``COPY`` into a temporary table and one
    ``UPDATE … FROM`` it — the shape of the benchmark's ceiling. Elsewhere: batches of ``executemany`` in
    primary-key order (the round's rows lie together on disk in that order). ``meanwhile`` is called right
    before the long database wait (it starts the statement's hash in the background)."""
    total = len(packets)
    ids = array("q", compress(winners.ids, packets))
    amounts = array("q", filter(None, packets))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _copy_red_money(cursor, ids, amounts, day, meanwhile)
        else:
            if meanwhile:
                meanwhile()
            order = sorted(range(len(ids)), key=ids.__getitem__)
            for start in range(0, len(order), BATCH):
                _update_red_money(cursor, [(ids[i], amounts[i]) for i in order[start : start + BATCH]], day)
    if progress:
        progress(total, total)


# Each row of the binary COPY (clock_app.pgcopy): two fields of 8 bytes, the id and the packet, big-endian.
_COPY_ROW = b"\x00\x02" + b"\x00\x00\x00\x08" + bytes(8) + b"\x00\x00\x00\x08" + bytes(8)


def _copy_red_money(cursor, ids: array, amounts: array, day: date, meanwhile: Callable[[], None] | None) -> None:
    """The packets as one binary COPY into a temporary table (dropped at commit), then one UPDATE … FROM it.
    The COPY rows are assembled with strided slice copies: 26 bytes a row, no Python object per row."""
    rows = bytearray(_COPY_ROW) * len(ids)
    for column, offset in ((ids, 6), (amounts, 18)):  # both the caller's throwaway copies: swapped in place
        if sys.byteorder == "little":
            column.byteswap()
        raw = column.tobytes()
        for k in range(8):
            rows[offset + k :: len(_COPY_ROW)] = raw[k::8]
        del raw
    cursor.execute("CREATE TEMPORARY TABLE clock_settle_packets (id bigint, red_money bigint) ON COMMIT DROP")
    with cursor.cursor.copy("COPY clock_settle_packets (id, red_money) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(pgcopy.HEADER)
        view = memoryview(rows)
        for start in range(0, len(view), COPY_WRITE):
            copy.write(view[start : start + COPY_WRITE])
        copy.write(pgcopy.TRAILER)
    del rows, view
    if meanwhile:
        meanwhile()
    cursor.execute(
        # In primary-key order (the COPY came in pseudonym order): the join then updates the table's pages one
        # after the other instead of at random — measured on a million winners 7.6 s instead of 10.9 s.
        "UPDATE pay_clock_day AS d SET red_money = p.red_money "
        "FROM (SELECT id, red_money FROM clock_settle_packets ORDER BY id) AS p "
        "WHERE d.id = p.id AND d.clock_day = %s AND d.clock_status = %s",
        [day, int(ClockStatus.CLOCKED_IN)],
    )
    if cursor.rowcount != len(ids):
        raise RoundBooksMismatch(f"wrote {cursor.rowcount} packets of {len(ids)}")
    # Dropped now, not only at commit: an enclosing transaction (a test's) may settle another round before then.
    cursor.execute("DROP TABLE clock_settle_packets")


def _update_red_money(cursor, chunk: list[tuple[int, int]], day: date) -> None:
    cursor.executemany(
        "UPDATE pay_clock_day SET red_money = %s WHERE id = %s AND clock_day = %s AND clock_status = %s",
        [(amount, pk, day, int(ClockStatus.CLOCKED_IN)) for pk, amount in chunk],
    )
    if cursor.rowcount not in (-1, len(chunk)):
        raise RoundBooksMismatch(f"wrote {cursor.rowcount} packets of {len(chunk)}")
