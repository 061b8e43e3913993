"""What must hold after every step of the simulation, checked from the tables and the fake channel's own
record of money moved (the channel is the outside truth: the app may lag behind it, never run ahead of it)."""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db.models import Sum

from clock_app.audit import audit, audit_players
from clock_app.models import (
    ClockOrder,
    ClockStatus,
    LedgerEntry,
    MoneyType,
    Participation,
    RedStatus,
    RefundStatus,
    Round,
)
from clock_app.services.payouts import round_owing
from clock_app.services.transfers import channel_number, parse_channel_number


def _ledger(kind: int) -> int:
    return LedgerEntry.objects.filter(money_type=kind).aggregate(s=Sum("change_money"))["s"] or 0


def broken(fake, *, settled: bool = False) -> list[str]:
    """Every invariant that does not hold now (empty when all hold). ``settled``: the run has converged —
    every notification applied, every packet and refund paid — so the books must equal the channel's."""
    problems: list[str] = []
    problems += [f"audit {r.clock_day}: {p}" for r in audit() for p in r.problems]
    problems += [f"players: {p}" for p in audit_players().problems]

    paid_by_key = Counter()
    bills_paid = defaultdict(list)
    for entry in fake.ledger:
        if entry["kind"] == "transfer":
            payout_no, _ = parse_channel_number(entry["key"], key_suffix="P")
            bills_paid[payout_no].append(entry["key"])
        if entry["kind"] != "payment":
            paid_by_key[entry["key"]] += entry["amount"]
    # No payout or refund paid twice at the channel.
    for payout_no, bills in bills_paid.items():
        if len(bills) > 1:
            problems.append(f"packet {payout_no} paid {len(bills)} times at the channel: {bills}")
    for part in Participation.objects.filter(payout_no__in=list(bills_paid)):
        if paid_by_key[bills_paid[part.payout_no][0]] != part.order_money + part.red_money:
            problems.append(f"packet {part.payout_no}: the channel paid {paid_by_key[bills_paid[part.payout_no][0]]}")
    # The app never books money the channel did not move.
    for part in Participation.objects.filter(red_status=RedStatus.PAID):
        number = channel_number(part.payout_no, part.payout_renewals)
        if paid_by_key.get(number) != part.clock_money:
            problems.append(
                f"packet {part.payout_no} booked paid ({part.clock_money}) but the channel paid {number}: "
                f"{paid_by_key.get(number)}"
            )
    for order in ClockOrder.objects.filter(refund_status=RefundStatus.REFUNDED):
        if paid_by_key.get(f"{order.order_no}R") != order.pay_amount:
            problems.append(
                f"refund of {order.order_no} booked but the channel refunded {paid_by_key.get(order.order_no + 'R')}"
            )
    money_in = sum(e["amount"] for e in fake.ledger if e["kind"] == "payment")
    money_out = sum(paid_by_key.values())
    stakes, out = _ledger(MoneyType.STAKE), _ledger(MoneyType.RED_PACKET) + _ledger(MoneyType.REFUND)
    if stakes > money_in:
        problems.append(f"the app booked {stakes} fen of payments, the channel received {money_in}")
    if out > money_out:
        problems.append(f"the app booked {out} fen paid out, the channel paid {money_out}")
    # Money owed = allocated − paid, for every settled round.
    for the_round in Round.objects.filter(settled_at__isnull=False):
        winners = Participation.objects.filter(clock_day=the_round.clock_day, clock_status=ClockStatus.CLOCKED_IN)
        allocated = sum(p.order_money + p.red_money for p in winners)
        paid = winners.filter(red_status=RedStatus.PAID).aggregate(s=Sum("clock_money"))["s"] or 0
        owed = sum(fen for _, fen in round_owing(the_round.clock_day).values())
        if owed != allocated - paid:
            problems.append(f"round {the_round.clock_day}: owed {owed} != allocated {allocated} - paid {paid}")
    if settled:
        if stakes != money_in:
            problems.append(
                f"converged, yet the app booked {stakes} fen of payments and the channel received {money_in}"
            )
        if out != money_out:
            problems.append(f"converged, yet the app booked {out} fen paid out and the channel paid {money_out}")
        unpaid = Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).exclude(red_status=RedStatus.PAID)
        if unpaid.exists():
            states = list(unpaid.values_list("payout_no", "red_status"))
            problems.append(f"converged, yet {len(states)} winner(s) unpaid: {states}")
        pending = ClockOrder.objects.filter(refund_status=RefundStatus.REFUNDING)
        if pending.exists():
            problems.append(f"converged, yet {pending.count()} refund(s) pending")
        missing = unbooked_payments(fake)
        if missing:
            problems.append(f"converged, yet payment(s) the channel received are not booked: {sorted(missing)}")
    return problems


def unbooked_payments(fake) -> set[str]:
    """Transactions the channel received that the app has no order row for (by transaction id)."""
    received = {e["id"] for e in fake.ledger if e["kind"] == "payment"}
    booked = set(ClockOrder.objects.filter(transaction_id__in=received).values_list("transaction_id", flat=True))
    return received - booked
