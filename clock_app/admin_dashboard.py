"""The round dashboard page of the admin: the figures of :mod:`clock_app.dashboard` turned into charts (see
:mod:`clock_app.charts`), words and links into the change lists filtered to what they count.

Money is shown in yuan (``yuan(fen)``) with the exact fen in each bar's title; the audit's equation is shown in
fen, as ``clock_audit`` prints it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from . import calendar
from .audit import audit_round
from .charts import Series, bar_chart, stacked_rows
from .conf import clock_settings
from .dashboard import HISTORY_DAYS, PAYOUT_STATES, RoundDashboard, round_dashboard
from .models import ClockStatus, RedStatus, RefundStatus, ReminderKind, ReminderStatus, Round
from .money import yuan
from .services.audits import audit_record

PAYOUT_WORDS = {
    "paid": "paid",
    "awaiting": "awaiting the winner's confirmation",
    "pending": "pending at the channel",
    "owed": "owed (not opened, or held back)",
    "failed": "failed or cancelled (offered again)",
}
PAYOUT_STATUS = {
    "paid": RedStatus.PAID,
    "awaiting": RedStatus.AWAITING,
    "pending": RedStatus.PAYING,
    "owed": RedStatus.UNPAID,
    "failed": RedStatus.FAILED,
}
KEPT_STATUS = {"refunding": RefundStatus.REFUNDING, "refunded": RefundStatus.REFUNDED, "review": RefundStatus.REVIEW}
KEPT_WORDS = {"refunding": "kept for refund", "refunded": "refunded", "review": "held for an operator's review"}


def changelist(model: str, **params: object) -> str:
    """The admin change list of ``model`` filtered by ``params`` (its list filters' own query parameters)."""
    return reverse(f"admin:clock_app_{model}_changelist") + ("?" + urlencode(params) if params else "")


def _money(fen: int) -> str:
    return f"¥{yuan(fen)}"


def _segment(name: str, fen: int, css: str, what: str) -> tuple[str, int, str, str]:
    """A segment of the money picture: labelled with its amount, titled with the exact fen."""
    return f"{name} {_money(fen)}", fen, css, f"{what}: {_money(fen)} ({fen} fen)"


def _flow_picture(board: RoundDashboard) -> dict[str, Any]:
    """The money flow as one picture: what came in, what went out, and where the winners' payouts stand."""
    flow = board.flow
    money_in = [
        _segment("stakes", flow.stakes, "flow-stakes", f"stakes of {flow.payers} payer(s)"),
        _segment("rollover in", flow.rollover_in, "flow-rollover", "rollover in"),
    ]
    money_out = [
        _segment("stakes back", flow.winner_stakes, "flow-back", f"stakes handed back to {flow.winners} winner(s)"),
        _segment("packets", flow.packets, "flow-packets", "red packets"),
        _segment("fee", flow.service_fee, "flow-fee", "service fee"),
        _segment("rollover out", flow.rollover_out, "flow-rollover", "rollover out"),
    ]
    payouts = [
        _segment(state, fen, f"payout-{state}", f"{PAYOUT_WORDS[state]} ({n} winner(s))")
        for state, (n, fen) in flow.payouts.items()
    ]
    rows = [
        ("In", f"in: {_money(flow.money_in)}", money_in),
        ("Out", f"out: {_money(flow.money_out)}", money_out),
        ("Payouts", f"stake + packet of {flow.winners} winner(s), by state", payouts),
    ]
    placed, height = stacked_rows(rows)
    return {"rows": placed, "height": height, "width": 720}


def _minute_label(board: RoundDashboard, index: int) -> str:
    return calendar.local_now(board.window[0] + timedelta(minutes=index)).strftime("%H:%M")


def _charts(board: RoundDashboard) -> dict[str, Any]:
    minutes = board.checkins_per_minute
    minute_labels = [_minute_label(board, i) for i in range(len(minutes))]
    checkins = bar_chart(
        [
            Series(
                "check-ins",
                "bar-checkin",
                minutes,
                [f"{label}: {n} check-in(s)" for label, n in zip(minute_labels, minutes, strict=True)],
            )
        ],
        minute_labels,
        tick_every=30,
    )
    hours = board.payments_per_hour
    hour_labels = [f"{h:02d}:00" for h in range(24)]
    payments = bar_chart(
        [
            Series(
                "payments",
                "bar-payment",
                hours,
                [
                    f"{label}–{h:02d}:59: {n} stake(s) paid"
                    for h, (label, n) in enumerate(zip(hour_labels, hours, strict=True))
                ],
            )
        ],
        hour_labels,
        tick_every=3,
    )
    # One slot per day of the last 30, a day without a round left empty: gaps are part of the picture.
    last = board.the_round.clock_day
    days = [last - timedelta(days=HISTORY_DAYS - 1 - i) for i in range(HISTORY_DAYS)]
    by_day = {line.clock_day: line for line in board.history}
    lines = [by_day.get(day) for day in days]
    day_labels = [f"{day:%m-%d}" for day in days]
    people = bar_chart(
        [
            Series(
                "payers",
                "bar-payers",
                [line.payers if line else 0 for line in lines],
                [f"{line.clock_day}: {line.payers} payer(s)" if line else "" for line in lines],
            ),
            Series(
                "winners",
                "bar-winners",
                [line.winners or 0 if line else 0 for line in lines],
                [
                    f"{line.clock_day}: {line.winners} winner(s), forfeit rate {line.forfeit_rate:.1%}"
                    if line and line.forfeit_rate is not None
                    else ""
                    for line in lines
                ],
            ),
        ],
        day_labels,
        tick_every=5,
        rates=[line.forfeit_rate if line else None for line in lines],
    )
    pot = bar_chart(
        [
            Series(
                "pot",
                "bar-pot",
                [line.bonus if line else 0 for line in lines],
                [
                    f"{line.clock_day}: pot {_money(line.bonus)}, stakes {_money(line.pool)}" if line else ""
                    for line in lines
                ],
            )
        ],
        day_labels,
        tick_every=5,
        value_label=lambda fen: _money(int(fen)),
    )
    return {"checkins": checkins, "payments": payments, "people": people, "pot": pot}


def _reminder_rows(board: RoundDashboard, day_param: str) -> list[dict[str, Any]]:
    rows = []
    for kind in ReminderKind:
        counts = board.reminders.get(kind.value, {})
        rows.append(
            {
                "kind": kind.label,
                "total": sum(counts.values()),
                "statuses": [
                    {
                        "label": status.label,
                        "value": status.value,
                        "n": counts.get(status.value, 0),
                        "url": changelist(
                            "reminder", clock_day=day_param, kind__exact=kind.value, status__exact=status.value
                        ),
                    }
                    for status in ReminderStatus
                    if counts.get(status.value)
                ],
            }
        )
    return rows


def dashboard_context(the_round: Round) -> dict[str, Any]:
    """Everything the template shows, for round ``the_round``."""
    board = round_dashboard(the_round)
    flow, day = board.flow, the_round.clock_day
    day_param = day.isoformat()
    payouts = [
        {
            "state": state,
            "words": PAYOUT_WORDS[state],
            "n": flow.payouts[state][0],
            "fen": flow.payouts[state][1],
            "yuan": yuan(flow.payouts[state][1]),
            "url": changelist(
                "participation",
                clock_day=day_param,
                clock_status__exact=ClockStatus.CLOCKED_IN.value,
                red_status__exact=PAYOUT_STATUS[state].value,
            ),
        }
        for state in PAYOUT_STATES
    ]
    kept = [
        {
            "words": KEPT_WORDS[state],
            "n": n,
            "yuan": yuan(fen),
            "fen": fen,
            "url": changelist("clockorder", clock_day=day_param, refund_status__exact=KEPT_STATUS[state].value),
        }
        for state, (n, fen) in flow.kept.items()
    ]
    figures = [
        ("Stakes in", flow.stakes, f"{flow.payers} payer(s)"),
        ("Rollover in", flow.rollover_in, "from earlier rounds without a winner"),
        ("Winners' stakes handed back", flow.winner_stakes, f"{flow.winners} winner(s)"),
        ("Red packets", flow.packets, f"of a pot of ¥{yuan(flow.bonus)}"),
        ("Service fee", flow.service_fee, f"on ¥{yuan(flow.forfeited)} forfeited" if flow.settled else "at settlement"),
        ("Rollover out", flow.rollover_out, "into the next settled round" if flow.rollover_out else ""),
    ]
    verdict = board.verdict
    history = [
        {
            "line": line,
            "url": reverse("admin:clock_app_round_dashboard_day", args=[line.clock_day.isoformat()]),
            "rate": f"{line.forfeit_rate:.1%}" if line.forfeit_rate is not None else "—",
            "pool": yuan(line.pool),
            "bonus": yuan(line.bonus),
        }
        for line in board.history
    ]
    return {
        "board": board,
        "the_round": the_round,
        "flow": flow,
        "picture": _flow_picture(board),
        "figures": [{"label": label, "fen": fen, "yuan": yuan(fen), "note": note} for label, fen, note in figures],
        "payouts": payouts,
        "kept": kept,
        "verdict": verdict,
        "verdict_problems": verdict.problems.splitlines() if verdict else [],
        "verdict_age": timezone.now() - verdict.audited_at if verdict else None,
        "charts": _charts(board),
        "checkin_total": sum(board.checkins_per_minute),
        "checkin_minutes": [(_minute_label(board, i), n) for i, n in enumerate(board.checkins_per_minute) if n],
        "payment_hours": [(f"{h:02d}:00–{h:02d}:59", n) for h, n in enumerate(board.payments_per_hour)],
        "history": history,
        "reminder_rows": _reminder_rows(board, day_param),
        "clock_time_zone": str(clock_settings.time_zone),
        "window_start": calendar.local_now(board.window[0]),
        "window_end": calendar.local_now(board.window[1]),
        "links": {
            "participants": changelist("participation", clock_day=day_param),
            "winners": changelist(
                "participation", clock_day=day_param, clock_status__exact=ClockStatus.CLOCKED_IN.value
            ),
            "orders": changelist("clockorder", clock_day=day_param),
            "ledger": changelist("ledgerentry", clock_day=day_param),
            "errors": changelist("payouterror", clock_day=day_param, status__exact=1),
            "reminders": changelist("reminder", clock_day=day_param),
            "round": reverse("admin:clock_app_round_change", args=[the_round.pk]),
            "rounds": reverse("admin:clock_app_round_changelist"),
            "audit": reverse("admin:clock_app_round_audit", args=[day_param]),
        },
    }


def audit_now(the_round: Round) -> bool:
    """Run ``clock_audit`` on this one round now and record its verdict; True when it is ok."""
    report = audit_round(the_round)
    audit_record([report])
    return report.ok
