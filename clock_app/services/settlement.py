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
* **Set-based writes.** Winners' ``red_money`` are written in batches of ``BATCH`` rows with one
  ``UPDATE … FROM unnest(ids, amounts)`` each on PostgreSQL (``executemany`` elsewhere), never a query per
  row, in primary-key order. ``red_money`` is in no index and half of every page is free, so these are HOT
  updates (see migration 0002 for the measurements).
* **Flat memory.** Winners are streamed from the database into integer arrays; a million winners costs a
  few hundred MB at most (``bench/settle.py`` measures it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from .. import calendar, statement
from ..cache import clocked_in_key, forget_on_commit, round_totals_key
from ..exceptions import ClockError, RoundNotClosed, RoundNotFound
from ..models import ClockStatus, Participation, Round
from ..randomness import draw_seed, seed_commitment
from ..rules import RoundRules
from ..winners import Winners

logger = logging.getLogger(__name__)

BATCH = 20_000
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

        books = Participation.objects.filter(clock_day=day).aggregate(n=Count("id"), stakes=Sum("order_money"))
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

        winners = Winners.load(the_round)
        rollover_in = _claim_rollover(day)
        rules = RoundRules.of(the_round)
        totals, packets = statement.settle_numbers(
            payers=the_round.user_num,
            stakes=the_round.clock_money,
            winner_stakes=winners.stake_total,
            winners=len(winners),
            rollover_in=rollover_in,
            rules=rules,
            seed=the_round.split_seed,
        )
        _write_packets(day, winners, packets, progress)
        statement_hash = statement.digest(
            statement.encode(
                statement.header(
                    clock_day=day.isoformat(),
                    rules=rules,
                    seed_hash=the_round.seed_hash,
                    seed=the_round.split_seed,
                    committed=the_round.seed_committed,
                    totals=totals,
                    version=the_round.statement_version,
                ),
                winners.lines(packets),
            )
        )
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


def _write_packets(day: date, winners: Winners, packets: list[int], progress: Progress | None) -> None:
    """Write the packets in batches, in primary-key order: the round's rows lie together on disk in that
    order, so each batch updates neighbouring pages instead of hopping across the table."""
    total = len(packets)
    by_id = sorted(range(total), key=winners.ids.__getitem__)
    with connection.cursor() as cursor:
        for start in range(0, total, BATCH):
            stop = min(start + BATCH, total)
            chunk = [(winners.ids[i], packets[i]) for i in by_id[start:stop] if packets[i]]
            if chunk:
                _update_red_money(cursor, chunk, day)
            if progress:
                progress(stop, total)


def _update_red_money(cursor, chunk: list[tuple[int, int]], day: date) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(
            "UPDATE pay_clock_day AS d SET red_money = v.amount "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, amount) "
            "WHERE d.id = v.id AND d.clock_day = %s AND d.clock_status = %s",
            [[pk for pk, _ in chunk], [amount for _, amount in chunk], day, int(ClockStatus.CLOCKED_IN)],
        )
    else:
        cursor.executemany(
            "UPDATE pay_clock_day SET red_money = %s WHERE id = %s AND clock_day = %s AND clock_status = %s",
            [(amount, pk, day, int(ClockStatus.CLOCKED_IN)) for pk, amount in chunk],
        )
    if cursor.rowcount not in (-1, len(chunk)):
        raise RoundBooksMismatch(f"wrote {cursor.rowcount} packets of {len(chunk)}")
