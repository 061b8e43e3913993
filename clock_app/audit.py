"""``clock_audit``: re-derive DESIGN §2 from the tables, round by round, and say exactly what does not hold.

Nothing here trusts a stored total it can recompute: the pool is re-added from the participation rows,
every stake, packet and refund is matched to its ledger row (set-based ``EXISTS`` queries, not a loop over
rows), the settlement is recomputed from the committed seed and the frozen rules and compared packet by
packet, and the statement is re-hashed against ``statement_hash``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Exists, Max, OuterRef, Q, Sum

from . import calendar, statement
from .exports import statement_chunks, stored_totals
from .models import (
    ClockOrder,
    ClockStatus,
    LedgerEntry,
    MoneyType,
    OrderStatus,
    Participation,
    RedStatus,
    RefundStatus,
    Round,
)
from .randomness import seed_commitment
from .rules import RoundRules
from .winners import Winners


@dataclass
class RoundAudit:
    clock_day: date
    equation: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sum(queryset, column: str) -> int:
    return queryset.aggregate(s=Sum(column))["s"] or 0


def audit_round(the_round: Round) -> RoundAudit:
    day = the_round.clock_day
    report = RoundAudit(day)
    problems = report.problems
    parts = Participation.objects.filter(clock_day=day)

    books = parts.aggregate(n=Count("id"), stakes=Sum("order_money"))
    if books["n"] != the_round.user_num:
        problems.append(f"user_num is {the_round.user_num} but the round has {books['n']} participations")
    if (books["stakes"] or 0) != the_round.clock_money:
        problems.append(f"clock_money is {the_round.clock_money} but stakes add up to {books['stakes'] or 0}")

    # Money in: one stake row per paid order of the round (joined or kept for refund), nothing else.
    stake_rows = LedgerEntry.objects.filter(money_type=MoneyType.STAKE, clock_day=day)
    unbooked = parts.exclude(
        Exists(
            stake_rows.filter(reference=OuterRef("order_no"), uid=OuterRef("uid"), change_money=OuterRef("order_money"))
        )
    )
    if unbooked.exists():
        problems.append(
            f"{unbooked.count()} stake(s) without a matching ledger row (first: "
            f"{unbooked.values_list('order_no', flat=True).first()})"
        )
    refundable = ClockOrder.objects.filter(clock_day=day, order_status=OrderStatus.PAID).exclude(
        refund_status=RefundStatus.NONE
    )
    expected_stake_rows = the_round.clock_money + _sum(refundable, "pay_amount")
    if _sum(stake_rows, "change_money") != expected_stake_rows:
        problems.append(
            f"stake rows add up to {_sum(stake_rows, 'change_money')}, paid orders to {expected_stake_rows}"
        )
    refund_rows = LedgerEntry.objects.filter(money_type=MoneyType.REFUND, clock_day=day)
    refunded = refundable.filter(refund_status=RefundStatus.REFUNDED)
    if _sum(refund_rows, "change_money") != _sum(refunded, "pay_amount") or refund_rows.count() != refunded.count():
        problems.append(
            f"refund rows add up to {_sum(refund_rows, 'change_money')}, refunded orders to "
            f"{_sum(refunded, 'pay_amount')}"
        )

    # Money out: every paid packet booked once with what was paid.
    red_rows = LedgerEntry.objects.filter(money_type=MoneyType.RED_PACKET, clock_day=day)
    paid = parts.filter(red_status=RedStatus.PAID)
    unbooked_paid = paid.exclude(
        Exists(
            red_rows.filter(reference=OuterRef("payout_no"), uid=OuterRef("uid"), change_money=OuterRef("clock_money"))
        )
    )
    if unbooked_paid.exists():
        problems.append(f"{unbooked_paid.count()} paid packet(s) without a matching ledger row")
    if _sum(red_rows, "change_money") != _sum(paid, "clock_money") or red_rows.count() != paid.count():
        problems.append(
            f"packet rows add up to {_sum(red_rows, 'change_money')} in {red_rows.count()} rows, "
            f"paid packets to {_sum(paid, 'clock_money')} in {paid.count()}"
        )

    if not the_round.is_settled:
        if parts.filter(Q(red_money__gt=0) | ~Q(red_status=RedStatus.UNPAID)).exists():
            problems.append("packets allocated or paid before settlement")
        report.equation = f"stakes {the_round.clock_money} in {the_round.user_num} payers (not settled)"
        return report

    _audit_settlement(the_round, report)
    return report


def _audit_settlement(the_round: Round, report: RoundAudit) -> None:
    day, problems = the_round.clock_day, report.problems
    if seed_commitment(the_round.split_seed) != the_round.seed_hash:
        problems.append("sha256(split_seed) != seed_hash")
    winners = Winners.load(day, the_round.split_seed)
    recorded = stored_totals(the_round, len(winners), winners.stake_total)
    if the_round.success_user_num != recorded.winners:
        problems.append(f"success_user_num is {the_round.success_user_num}, {recorded.winners} clocked in")
    if the_round.failure_user_num != recorded.payers - recorded.winners:
        problems.append(
            f"failure_user_num is {the_round.failure_user_num}, {recorded.payers - recorded.winners} did not clock in"
        )
    taken = _sum(Round.objects.filter(rollover_into=day), "rollover_out")
    if taken != the_round.rollover_in:
        problems.append(f"rollover_in is {the_round.rollover_in} but earlier rounds rolled {taken} into it")

    expected, packets = statement.settle_numbers(
        payers=recorded.payers,
        stakes=recorded.stakes,
        winner_stakes=recorded.winner_stakes,
        winners=recorded.winners,
        rollover_in=the_round.rollover_in,
        rules=RoundRules.of(the_round),
        seed=the_round.split_seed,
    )
    for name in ("service_fee", "bonus", "rollover_out"):
        if getattr(expected, name) != getattr(recorded, name):
            problems.append(f"{name} is {getattr(recorded, name)} but recomputes to {getattr(expected, name)}")
    differing = sum(1 for got, want in zip(winners.packets, packets, strict=True) if got != want)
    if differing:
        problems.append(f"{differing} winner(s) hold a red_money that differs from the allocation of the seed")
    if sum(winners.packets) != recorded.packets:
        problems.append(
            f"red_money adds up to {sum(winners.packets)}, bonus_money - rollover_out is {recorded.packets}"
        )
    biggest = Participation.objects.filter(clock_day=day).aggregate(m=Max("red_money"))["m"] or 0
    if biggest > the_round.max_packet:
        problems.append(f"a packet of {biggest} exceeds the cap {the_round.max_packet}")
    if (
        Participation.objects.filter(clock_day=day, red_money__gt=0)
        .exclude(clock_status=ClockStatus.CLOCKED_IN)
        .exists()
    ):
        problems.append("a participant who did not clock in holds a packet")
    if not recorded.balances():
        problems.append("the books do not balance")
    if not the_round.statement_hash:
        problems.append("settled without a statement_hash")
    elif statement.digest(statement_chunks(the_round)) != the_round.statement_hash:
        problems.append("the statement no longer hashes to statement_hash: a row behind it changed")
    window_start, window_end = calendar.window(day, the_round)
    outside = Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN).filter(
        Q(clock_time__isnull=True) | Q(clock_time__lt=window_start) | Q(clock_time__gte=window_end)
    )
    if outside.exists():
        problems.append(f"{outside.count()} check-in(s) outside the round's window")
    report.equation = (
        f"stakes {recorded.stakes} + rollover_in {recorded.rollover_in} = winners' stakes {recorded.winner_stakes}"
        f" + packets {sum(winners.packets)} + fee {recorded.service_fee} + rollover_out {recorded.rollover_out}"
    )


def audit(day: date | None = None) -> list[RoundAudit]:
    """Audit one round, or every round."""
    rounds = Round.objects.order_by("clock_day")
    if day is not None:
        rounds = rounds.filter(clock_day=day)
    return [audit_round(r) for r in rounds.iterator()]
