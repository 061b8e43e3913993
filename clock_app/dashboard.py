"""The operator's view of a round and of the last 30 days: every figure from a set-based query.

A round of a million participations must render in under two seconds (``bench/dashboard.py``), so no figure
here loops over rows in Python: the round's money and its payouts by state come from one ``GROUP BY
(clock_status, red_status)`` over its participations, the check-in curve from one ``GROUP BY`` minute, the
payments per hour and the payments kept apart from one ``GROUP BY (refund_status, hour)`` over its orders
(:func:`round_rows`), the history from 30 round rows. ``clock_audit``'s verdict is the one it last recorded
(``pay_clock_audit``): re-running the audit recomputes the whole settlement and re-hashes the statement,
seconds on a big round — the dashboard has a button for that instead.

The money figures are the audit's own terms (DESIGN §2): stakes in (the round's ``clock_money``, which the
audit checks against the stakes), rollover in, the winners' stakes handed back, the packets, the fee and the
rollover out; a test holds them equal to ``clock_audit``'s equation for every round of a simulated run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncHour, TruncMinute
from django.urls import reverse

from . import calendar
from .conf import clock_settings
from .models import (
    AuditVerdict,
    ClockOrder,
    ClockStatus,
    Difference,
    ErrorStatus,
    OrderStatus,
    Participation,
    PayoutError,
    ReconcileRun,
    RedStatus,
    RefundStatus,
    Round,
)
from .services.payouts import OWING_STATES
from .services.reminders import round_reminders

HISTORY_DAYS = 30
PAYOUT_STATES = ("paid", "awaiting", "pending", "owed", "failed")  # the order they are drawn in
KEPT_STATES = {RefundStatus.REFUNDING: "refunding", RefundStatus.REFUNDED: "refunded", RefundStatus.REVIEW: "review"}


@dataclass(frozen=True)
class MoneyFlow:
    """Round ``clock_day``'s money, fen. Before settlement only the stakes are known."""

    clock_day: date
    settled: bool
    payers: int
    stakes: int
    rollover_in: int
    winners: int
    winner_stakes: int
    packets: int
    service_fee: int
    bonus: int
    rollover_out: int
    payouts: dict[str, tuple[int, int]]  # state -> (winners, fen of stake + packet); paid: what was paid
    kept: dict[str, tuple[int, int]]  # refunding / refunded / review -> (payments, fen)

    @property
    def money_in(self) -> int:
        return self.stakes + self.rollover_in

    @property
    def money_out(self) -> int:
        return self.winner_stakes + self.packets + self.service_fee + self.rollover_out

    @property
    def balances(self) -> bool:
        return self.money_in == self.money_out

    @property
    def forfeited(self) -> int:
        return self.stakes - self.winner_stakes

    @property
    def equation(self) -> str:
        """DESIGN §2 in ``clock_audit``'s words."""
        if not self.settled:
            return f"stakes {self.stakes} in {self.payers} payers (not settled)"
        return (
            f"stakes {self.stakes} + rollover_in {self.rollover_in} = winners' stakes {self.winner_stakes}"
            f" + packets {self.packets} + fee {self.service_fee} + rollover_out {self.rollover_out}"
        )


@dataclass(frozen=True)
class Reconciliation:
    """What the reconciliation of the round's day found (filled by ``clock_reconcile``, see
    :func:`reconciliation_status`)."""

    ran_at: datetime
    differences: int
    summary: str
    url: str = ""


@dataclass(frozen=True)
class HistoryLine:
    clock_day: date
    settled: bool
    payers: int
    winners: int | None  # known once settled
    pool: int  # stakes, fen
    bonus: int  # the pot split among the winners, fen

    @property
    def forfeit_rate(self) -> float | None:
        if self.winners is None or not self.payers:
            return None
        return (self.payers - self.winners) / self.payers


@dataclass
class RoundDashboard:
    the_round: Round
    flow: MoneyFlow
    window: tuple[datetime, datetime]
    checkins_per_minute: list[int]
    payments_per_hour: list[int]
    verdict: AuditVerdict | None
    reminders: dict[str, dict[str, int]]
    open_errors: int
    reconciliation: Reconciliation | None
    history: list[HistoryLine] = field(default_factory=list)


@dataclass(frozen=True)
class RoundRows:
    """A round's rows as the database grouped them: participations by ``(clock_status, red_status)``, check-ins
    by local minute, paid orders by ``(refund_status, local hour of the payment)`` — a few hundred groups
    whatever the round's size; every figure of the round is a sum over them.

    Why three queries and not one: grouped by ``(clock_status, red_status, minute)`` in one pass, PostgreSQL
    cannot know that a ``date_trunc`` of the check-in time has a few hundred values (it guesses from the
    column's hundreds of thousands), so it sorts a million rows, spilling to disk, instead of hashing them:
    measured on a round of 1,000,000 (``bench/dashboard.py``), the single pass took 1.9 s, the two 1.2 s.
    The orders' single pass is the faster one (0.5 s against 0.8 s)."""

    participations: list[dict]
    checkins: list[dict]
    orders: list[dict]


def round_rows(the_round: Round) -> RoundRows:
    day, zone = the_round.clock_day, clock_settings.time_zone
    participations = (
        Participation.objects.filter(clock_day=day)
        .order_by()
        .values("clock_status", "red_status")
        .annotate(n=Count("id"), stakes=Sum("order_money"), packets=Sum("red_money"), paid=Sum("clock_money"))
    )
    checkins = (
        Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN)
        .annotate(minute=TruncMinute("clock_time", tzinfo=zone))
        .order_by()
        .values("minute")
        .annotate(n=Count("id"))
    )
    orders = (
        ClockOrder.objects.filter(clock_day=day, order_status=OrderStatus.PAID)
        .annotate(hour=TruncHour("pay_time", tzinfo=zone))
        .order_by()
        .values("refund_status", "hour")
        .annotate(n=Count("id"), fen=Sum("pay_amount"))
    )
    return RoundRows(list(participations), list(checkins), list(orders))


def money_flow(the_round: Round, rows: RoundRows | None = None) -> MoneyFlow:
    """The round's money: the stored settlement record and the sums of its grouped rows."""
    rows = rows or round_rows(the_round)
    payers = winners = winner_stakes = packets = 0
    payouts = dict.fromkeys(PAYOUT_STATES, (0, 0))
    for row in rows.participations:
        payers += row["n"]
        packets += row["packets"] or 0
        if row["clock_status"] != ClockStatus.CLOCKED_IN:
            continue
        winners += row["n"]
        winner_stakes += row["stakes"] or 0
        status = RedStatus(row["red_status"])
        state = "paid" if status == RedStatus.PAID else OWING_STATES[status]
        fen = row["paid"] if status == RedStatus.PAID else (row["stakes"] or 0) + (row["packets"] or 0)
        count, total = payouts[state]
        payouts[state] = (count + row["n"], total + (fen or 0))
    kept = dict.fromkeys(KEPT_STATES.values(), (0, 0))
    for row in rows.orders:
        if row["refund_status"] != RefundStatus.NONE:
            state = KEPT_STATES[RefundStatus(row["refund_status"])]
            kept[state] = (kept[state][0] + row["n"], kept[state][1] + (row["fen"] or 0))
    settled = the_round.is_settled
    if not settled:  # nothing is owed before the split: the clocked-in are not winners yet
        payouts = dict.fromkeys(PAYOUT_STATES, (0, 0))
    return MoneyFlow(
        clock_day=the_round.clock_day,
        settled=settled,
        payers=payers,
        stakes=the_round.clock_money,
        rollover_in=the_round.rollover_in,
        winners=winners,
        winner_stakes=winner_stakes if settled else 0,
        packets=packets,
        service_fee=the_round.service_fee,
        bonus=the_round.bonus_money,
        rollover_out=the_round.rollover_out,
        payouts=payouts,
        kept=kept,
    )


def checkins_per_minute(the_round: Round, rows: RoundRows | None = None) -> list[int]:
    """Check-ins in each minute of the round's window (05:00–08:00: 180 numbers)."""
    rows = rows or round_rows(the_round)
    start, end = calendar.window(the_round.clock_day, the_round)
    counts = [0] * int((end - start).total_seconds() // 60)
    for row in rows.checkins:
        if row["minute"] is not None:
            index = int((row["minute"] - start).total_seconds() // 60)
            if 0 <= index < len(counts):
                counts[index] += row["n"]
    return counts


def payments_per_hour(the_round: Round, rows: RoundRows | None = None) -> list[int]:
    """Stakes that joined the round, by the local hour they were paid on its entry day (24 numbers); payments
    kept for refund are not counted."""
    rows = rows or round_rows(the_round)
    midnight, _ = calendar.day_span(the_round.clock_day)
    counts = [0] * 24
    for row in rows.orders:
        if row["refund_status"] == RefundStatus.NONE and row["hour"] is not None:
            index = int((row["hour"] - midnight).total_seconds() // 3600)
            if 0 <= index < 24:
                counts[index] += row["n"]
    return counts


def history(until: date, days: int = HISTORY_DAYS) -> list[HistoryLine]:
    """The rounds of the ``days`` days ending with ``until``, oldest first (a day without a round is absent)."""
    rounds = Round.objects.filter(clock_day__gt=until - timedelta(days=days), clock_day__lte=until).order_by(
        "clock_day"
    )
    return [
        HistoryLine(
            clock_day=r["clock_day"],
            settled=r["settled_at"] is not None,
            payers=r["user_num"],
            winners=r["success_user_num"] if r["settled_at"] is not None else None,
            pool=r["clock_money"],
            bonus=r["bonus_money"],
        )
        for r in rounds.values("clock_day", "settled_at", "user_num", "success_user_num", "clock_money", "bonus_money")
    ]


def reconciliation_status(day: date) -> Reconciliation | None:
    """What the last reconciliation of the channel's bill of ``day`` (``clock_reconcile``, DESIGN §7) found —
    the round's stakes are paid on its own day — and how many differences of that day are still open; None
    (the card says "not run") until one ran."""
    run = ReconcileRun.objects.filter(bill_day=day).order_by("-id").first()
    if run is None:
        return None
    still_open = Difference.objects.filter(bill_day=day, status=Difference.Status.OPEN).count()
    url = reverse("admin:clock_app_difference_changelist") + f"?bill_day={day.isoformat()}&status=open"
    return Reconciliation(
        ran_at=run.finished_at or run.started_at,
        differences=still_open,
        summary=f"{run.channel}: {run.lines} bill line(s), {run.applied} payment(s) applied; {run.summary}",
        url=url,
    )


def round_dashboard(the_round: Round) -> RoundDashboard:
    day, rows = the_round.clock_day, round_rows(the_round)
    return RoundDashboard(
        the_round=the_round,
        flow=money_flow(the_round, rows),
        window=calendar.window(day, the_round),
        checkins_per_minute=checkins_per_minute(the_round, rows),
        payments_per_hour=payments_per_hour(the_round, rows),
        verdict=AuditVerdict.objects.filter(clock_day=day).first(),
        reminders=round_reminders(day),
        open_errors=PayoutError.objects.filter(clock_day=day, status=ErrorStatus.OPEN).count(),
        reconciliation=reconciliation_status(day),
        history=history(day),
    )
