"""``clock_audit``: re-derive DESIGN §2 from the tables, round by round and player by player, and say exactly
what does not hold.

Nothing here trusts a stored figure it can recompute, and a total is never the only check: two one-fen
changes that cancel out keep every sum right, so every money row is matched to the row that justifies it,
one to one, in both directions (set-based ``EXISTS`` queries, not a loop over rows):

* a joined order ↔ its participation (same user, ``pay_amount == order_money``);
* a paid order (joined or kept) ↔ its stake ledger row (same user and amount);
* a refunded order ↔ its refund ledger row (same amount);
* a paid packet ↔ its ledger row (same user and ``clock_money``);
* a player's ``spend_money``/``income_money``/``clock_max_money`` ↔ the sums and maximum of their rows.

Then the settlement is recomputed from the committed seed and the frozen rules and compared packet by packet,
and the statement is re-hashed against ``statement_hash``. Payments kept apart (for refund, or held for an
operator's review) and packets still owed are liabilities the audit shows, not errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Concat

from . import calendar, statement
from .exports import statement_chunks, stored_totals
from .models import (
    ClockOrder,
    ClockStatus,
    LedgerEntry,
    MoneyType,
    OrderStatus,
    Participation,
    Player,
    RedStatus,
    RefundStatus,
    Round,
)
from .randomness import seed_commitment
from .rules import RoundRules
from .services.payouts import round_owing
from .winners import Winners

SHOWN = 3  # examples named per problem


@dataclass
class RoundAudit:
    clock_day: date
    equation: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class PlayersAudit:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sum(queryset: QuerySet, column: str) -> int:
    return queryset.aggregate(s=Sum(column))["s"] or 0


def _unmatched(rows: QuerySet, label: str, key: str, problems: list[str]) -> None:
    """Report ``rows`` (those lacking their justification) with a few of their ``key`` values — one query
    when there are none, the usual case."""
    examples = list(rows.order_by(key).values_list(key, flat=True)[:SHOWN])
    if examples:
        count = rows.count() if len(examples) == SHOWN else len(examples)
        problems.append(f"{count} {label} (e.g. {', '.join(str(v) for v in examples)})")


def _check_orders(day: date, problems: list[str]) -> dict[str, int]:
    """Money in: every paid order of the day against its stake row, every joined order against its
    participation, every refund against its refund row; returns the kept payments by state."""
    paid = ClockOrder.objects.filter(clock_day=day, order_status=OrderStatus.PAID)
    stakes = LedgerEntry.objects.filter(money_type=MoneyType.STAKE, clock_day=day)
    _unmatched(
        paid.exclude(
            Exists(
                stakes.filter(
                    reference=OuterRef("order_no"), uid=OuterRef("user_id"), change_money=OuterRef("pay_amount")
                )
            )
        ),
        "paid order(s) without a stake ledger row of their user and amount",
        "order_no",
        problems,
    )
    _unmatched(
        stakes.exclude(
            Exists(
                paid.filter(
                    order_no=OuterRef("reference"), user_id=OuterRef("uid"), pay_amount=OuterRef("change_money")
                )
            )
        ),
        "stake ledger row(s) without a paid order of that user and amount",
        "reference",
        problems,
    )
    parts = Participation.objects.filter(clock_day=day)
    joined = paid.filter(refund_status=RefundStatus.NONE)
    _unmatched(
        joined.exclude(
            Exists(
                parts.filter(order_no=OuterRef("order_no"), uid=OuterRef("user_id"), order_money=OuterRef("pay_amount"))
            )
        ),
        "joined order(s) whose amount or user differs from their participation's stake",
        "order_no",
        problems,
    )
    _unmatched(
        parts.exclude(
            Exists(
                joined.filter(
                    order_no=OuterRef("order_no"), user_id=OuterRef("uid"), pay_amount=OuterRef("order_money")
                )
            )
        ),
        "participation(s) without a joined order of that user and amount",
        "order_no",
        problems,
    )
    refunded = paid.filter(refund_status=RefundStatus.REFUNDED)
    refund_rows = LedgerEntry.objects.filter(money_type=MoneyType.REFUND, clock_day=day)
    _unmatched(
        refunded.exclude(
            Exists(
                refund_rows.filter(
                    reference=Concat(OuterRef("order_no"), Value("R")),
                    uid=OuterRef("user_id"),
                    change_money=OuterRef("pay_amount"),
                )
            )
        ),
        "refunded order(s) without a refund ledger row of their amount",
        "order_no",
        problems,
    )
    _unmatched(
        refund_rows.exclude(
            Exists(
                refunded.annotate(key=Concat("order_no", Value("R"))).filter(
                    key=OuterRef("reference"), user_id=OuterRef("uid"), pay_amount=OuterRef("change_money")
                )
            )
        ),
        "refund ledger row(s) without a refunded order of that amount",
        "reference",
        problems,
    )
    return {
        "refunding": _sum(paid.filter(refund_status=RefundStatus.REFUNDING), "pay_amount"),
        "refunded": _sum(refunded, "pay_amount"),
        "review": _sum(paid.filter(refund_status=RefundStatus.REVIEW), "pay_amount"),
    }


def _check_packets(day: date, problems: list[str]) -> None:
    """Money out: every paid packet against its ledger row, and back."""
    red_rows = LedgerEntry.objects.filter(money_type=MoneyType.RED_PACKET, clock_day=day)
    paid = Participation.objects.filter(clock_day=day, red_status=RedStatus.PAID)
    _unmatched(
        paid.exclude(
            Exists(
                red_rows.filter(
                    reference=OuterRef("payout_no"), uid=OuterRef("uid"), change_money=OuterRef("clock_money")
                )
            )
        ),
        "paid packet(s) without a ledger row of their user and amount",
        "payout_no",
        problems,
    )
    _unmatched(
        red_rows.exclude(
            Exists(
                paid.filter(payout_no=OuterRef("reference"), uid=OuterRef("uid"), clock_money=OuterRef("change_money"))
            )
        ),
        "packet ledger row(s) without a paid packet of that user and amount",
        "reference",
        problems,
    )


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
    kept = _check_orders(day, problems)
    _check_packets(day, problems)
    liabilities = _liabilities(day, kept)

    if not the_round.is_settled:
        if parts.filter(Q(red_money__gt=0) | ~Q(red_status=RedStatus.UNPAID)).exists():
            problems.append("packets allocated or paid before settlement")
        report.equation = f"stakes {the_round.clock_money} in {the_round.user_num} payers (not settled){liabilities}"
        return report

    _audit_settlement(the_round, report)
    report.equation += liabilities
    return report


def _liabilities(day: date, kept: dict[str, int]) -> str:
    """What the app still owes for this day — packets not paid yet, by state (awaiting the user's
    confirmation, pending at the channel, owed, failed), payments kept for refund or review — a liability
    that must balance, not an error."""
    parts = [f"{state} to winners {fen}" for state, (_, fen) in sorted(round_owing(day).items())]
    if kept["refunding"]:
        parts.append(f"kept for refund {kept['refunding']}")
    if kept["review"]:
        parts.append(f"held for review {kept['review']}")
    if kept["refunded"]:
        parts.append(f"refunded {kept['refunded']}")
    return f"; {', '.join(parts)}" if parts else ""


def _audit_settlement(the_round: Round, report: RoundAudit) -> None:
    day, problems = the_round.clock_day, report.problems
    if seed_commitment(the_round.split_seed) != the_round.seed_hash:
        problems.append("sha256(split_seed) != seed_hash")
    winners = Winners.load(the_round)
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


def _audit_day_without_round(day: date) -> RoundAudit:
    """A day with payments kept apart (say, for an order number the app never issued) but no round."""
    report = RoundAudit(day)
    kept = _check_orders(day, report.problems)
    _check_packets(day, report.problems)
    report.equation = f"no round; payments kept apart{_liabilities(day, kept) or ': none'}"
    return report


def audit(day: date | None = None) -> list[RoundAudit]:
    """Audit one day, or every day with a round or a paid order."""
    rounds = Round.objects.order_by("clock_day")
    orphan_days = (
        ClockOrder.objects.filter(order_status=OrderStatus.PAID)
        .exclude(clock_day__in=Round.objects.values("clock_day"))
        .values_list("clock_day", flat=True)
        .distinct()
    )
    if day is not None:
        rounds, orphan_days = rounds.filter(clock_day=day), orphan_days.filter(clock_day=day)
    reports = [audit_round(r) for r in rounds.iterator()]
    reports += [_audit_day_without_round(d) for d in sorted(set(orphan_days))]
    return sorted(reports, key=lambda r: r.clock_day)


def audit_players(day: date | None = None) -> PlayersAudit:
    """Every player's stored totals against their rows: ``spend_money`` = their stakes in rounds,
    ``income_money`` = the packets paid to them (stake + packet), ``clock_max_money`` = the largest of those.
    With ``day``, only the players of that round."""
    mine = Participation.objects.filter(uid=OuterRef("uid")).values("uid")
    paid = mine.filter(red_status=RedStatus.PAID)
    players = Player.objects.annotate(
        stakes=Coalesce(Subquery(mine.annotate(s=Sum("order_money")).values("s")), 0),
        received=Coalesce(Subquery(paid.annotate(s=Sum("clock_money")).values("s")), 0),
        best=Coalesce(Subquery(paid.annotate(m=Max("clock_money")).values("m")), 0),
    )
    missing = Participation.objects.exclude(uid__in=Player.objects.values("uid"))
    if day is not None:
        uids = Participation.objects.filter(clock_day=day).values("uid")
        players, missing = players.filter(uid__in=uids), missing.filter(clock_day=day)
    report = PlayersAudit(checked=players.count())
    wrong = players.exclude(spend_money=F("stakes"), income_money=F("received"), clock_max_money=F("best"))
    for row in wrong.order_by("uid").values(
        "uid", "spend_money", "stakes", "income_money", "received", "clock_max_money", "best"
    )[:20]:
        differences = [
            f"{column} is {row[column]} but its rows say {row[source]}"
            for column, source in (("spend_money", "stakes"), ("income_money", "received"), ("clock_max_money", "best"))
            if row[column] != row[source]
        ]
        report.problems.append(f"player {row['uid']}: " + "; ".join(differences))
    extra = wrong.count() - min(wrong.count(), 20)
    if extra:
        report.problems.append(f"… and {extra} more player(s) whose totals differ from their rows")
    _unmatched(missing, "participation(s) of a user without a player row", "uid", report.problems)
    return report
