"""Reminders that really remind: each due reminder is recorded, claimed, handed to the handler once, and its
outcome recorded — exactly once per player and round (check-in) or per player, round and day (owed packet).

Two kinds:

* ``checkin`` — round D's participants who turned reminders on (``pay_clock_user.is_remind``) and have not
  clocked in, from ``CLOCK["REMIND_AT"]`` on D+1 until the round's window closes. One per player and round.
* ``owed`` — winners of a settled round whose stake + packet is still owed and waits on them (not opened,
  awaiting their confirmation at the channel, failed or cancelled and offered again): one a day until paid.

The state of one reminder (``pay_clock_reminder.status``)::

    pending ─┐                       ┌─ sent ─────▶ sent      never claimed again
    failed ──┼─ claim ─▶ sending ─────┼─ refused ──▶ refused   final (WeChat 43101: the user did not subscribe)
    sending ─┘ (stale: its run died)  └─ failed ───▶ failed    retried by the next run, while still due
    pending/failed ── no longer due (clocked in, paid) ──▶ skipped

1. **Queue**: the due reminders that have no row yet are inserted (``bulk_create(ignore_conflicts=True)``): the
   partial UNIQUE constraints make a second row for the same reminder impossible, whoever inserts it.
2. **Claim** a batch with one conditional ``UPDATE … SET status = sending, claim_token = <new>`` over rows
   still claimable and still due, committed at once (``atomic(durable=True)``). The conditions are on the
   updated row itself (``Exists`` subqueries, no join), so PostgreSQL re-checks them on a row another run
   claimed meanwhile: two runs at once never send the same reminder.
3. **Call** the handler with the batch, outside any transaction, with ``CLOCK["REMIND_TIMEOUT"]``.
4. **Record** each outcome, fenced by the claim token (a *sent* is recorded whoever holds the row).

A run killed between 2 and 4 leaves rows *sending*; they are claimable again once older than
``REMIND_TIMEOUT`` + :data:`STALE_MARGIN` seconds — then the reminder may go out twice, the price of never
losing one (see :mod:`clock_app.reminders`).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from .. import calendar
from ..conf import clock_settings
from ..deadline import call_with_deadline
from ..exceptions import InvalidInput
from ..models import (
    ClockStatus,
    Participation,
    Player,
    RedStatus,
    Reminder,
    ReminderKind,
    ReminderStatus,
    Round,
)
from ..money import yuan
from ..reminders import FAILED, SENT, ReminderHandler, ReminderMessage, ReminderResult, configured_handler, read_results

logger = logging.getLogger(__name__)

BATCH = 500  # reminders per handler call
QUEUE_CHUNK = 5000  # participations read per insert when queueing
STALE_MARGIN = 60  # seconds beyond REMIND_TIMEOUT before a claim is presumed dead
OWED_STATES = (RedStatus.UNPAID, RedStatus.FAILED, RedStatus.AWAITING)  # waiting on the winner, not the channel
OWED_WORDS = {RedStatus.UNPAID: "待领取", RedStatus.AWAITING: "待确认收款", RedStatus.FAILED: "待重新领取"}
OPEN = (ReminderStatus.PENDING, ReminderStatus.FAILED, ReminderStatus.SENDING)

Progress = Callable[[str], None]


@dataclass
class ReminderReport:
    """What one run did. ``statuses`` counts every reminder of the run's scope (its kind, round and day)
    after the run, by status; ``not_due`` says why nothing was sent when it was not the time."""

    kind: str
    clock_day: date | None
    remind_day: date
    not_due: str = ""
    queued: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Nothing left to send in scope: every reminder sent, refused or skipped."""
        return not any(self.statuses.get(status, 0) for status in OPEN)


def _clock(now: datetime | None) -> Callable[[], datetime]:
    """The time of each step: the caller's fixed ``now`` (simulations, tests), else the wall clock at that step."""
    return (lambda: now) if now is not None else timezone.now


def _stale(now: datetime) -> datetime:
    return now - timedelta(seconds=clock_settings.remind_timeout + STALE_MARGIN)


def _claimable(now: datetime) -> Q:
    return Q(status__in=(ReminderStatus.PENDING, ReminderStatus.FAILED)) | Q(
        status=ReminderStatus.SENDING, claimed_at__lt=_stale(now)
    )


def _still_due(kind: str) -> Exists:
    """The reason for the reminder still holds, as a condition on the reminder row itself (no join: see step 2)."""
    participation = Participation.objects.filter(pk=OuterRef("participation_id"))
    if kind == ReminderKind.CHECKIN:
        return Exists(participation.filter(clock_status=ClockStatus.JOINED))
    return Exists(participation.filter(clock_status=ClockStatus.CLOCKED_IN, red_status__in=OWED_STATES))


# --- when: the round a check-in reminder is for, and its hours -------------------------------------------------


def checkin_round(now: datetime | None = None) -> date:
    """The round whose check-in window opens next (or is open now): yesterday's until its window closes,
    today's after that."""
    now = now or timezone.now()
    yesterday = calendar.checkin_round(now)
    times = Round.objects.filter(clock_day=yesterday).first() or clock_settings.load()
    return yesterday if now < calendar.window(yesterday, times)[1] else calendar.today(now)


def checkin_hours(the_round: Round) -> tuple[datetime, datetime]:
    """``[REMIND_AT, window end)`` on the morning of round ``the_round``'s window: when its reminders go out."""
    end = calendar.window(the_round.clock_day, the_round)[1]
    return calendar.at(the_round.clock_day + calendar.ONE_DAY, clock_settings.remind_at), end


# --- the runs -------------------------------------------------------------------------------------------------


def reminders_send(
    kind: str,
    *,
    day: date | None = None,
    now: datetime | None = None,
    handler: ReminderHandler | None = None,
    batch_size: int = BATCH,
    progress: Progress | None = None,
) -> ReminderReport:
    """Send the due reminders of ``kind``: ``checkin`` for round ``day`` (default :func:`checkin_round`), or
    ``owed`` for round ``day`` (default: every settled round) on today's date. Safe to run again or twice at
    once: nothing is sent twice, failures are retried."""
    if kind not in ReminderKind.values:
        raise InvalidInput("kind_invalid", f"reminder kind must be one of {', '.join(ReminderKind.values)}")
    if not 1 <= batch_size <= 10_000:
        raise InvalidInput("batch_size_invalid", "batch size must be between 1 and 10000")
    clock = _clock(now)
    if kind == ReminderKind.CHECKIN:
        return _send_checkin(day or checkin_round(clock()), clock, handler, batch_size, progress)
    return _send_owed(day, clock, handler, batch_size, progress)


def _send_checkin(
    day: date, clock: Callable[[], datetime], handler: ReminderHandler | None, batch_size: int, progress
) -> ReminderReport:
    report = ReminderReport(ReminderKind.CHECKIN, day, day + calendar.ONE_DAY)
    scope = Reminder.objects.filter(kind=ReminderKind.CHECKIN, clock_day=day)
    the_round = Round.objects.filter(clock_day=day).first()
    if the_round is None:
        report.not_due = f"round {day} does not exist"
        return report
    remind_from, until = checkin_hours(the_round)
    now = clock()
    if now < remind_from:
        report.not_due = (
            f"check-in reminders of round {day} go out from {calendar.local_now(remind_from):%Y-%m-%d %H:%M}"
        )
    elif now >= until:
        report.not_due = f"round {day}'s check-in window closed at {calendar.local_now(until):%Y-%m-%d %H:%M}"
    if report.not_due:
        report.statuses = _statuses(scope)
        return report

    opted_in = Player.objects.filter(is_remind=True).values("uid")
    due = Participation.objects.filter(clock_day=day, clock_status=ClockStatus.JOINED, uid__in=opted_in).exclude(
        Exists(Reminder.objects.filter(kind=ReminderKind.CHECKIN, clock_day=day, uid=OuterRef("uid")))
    )
    report.queued = _queue(due, ReminderKind.CHECKIN, report.remind_day, now)
    _deliver(scope, report, clock, handler, batch_size, progress)
    return report


def _send_owed(
    day: date | None, clock: Callable[[], datetime], handler: ReminderHandler | None, batch_size: int, progress
) -> ReminderReport:
    now = clock()
    report = ReminderReport(ReminderKind.OWED, day, calendar.today(now))
    scope = Reminder.objects.filter(kind=ReminderKind.OWED, remind_day=report.remind_day)
    rounds = Round.objects.filter(settled_at__isnull=False)
    if day is not None:
        scope, rounds = scope.filter(clock_day=day), rounds.filter(clock_day=day)
    for round_day in rounds.order_by("clock_day").values_list("clock_day", flat=True):
        due = Participation.objects.filter(
            clock_day=round_day, clock_status=ClockStatus.CLOCKED_IN, red_status__in=OWED_STATES
        ).exclude(
            Exists(
                Reminder.objects.filter(
                    kind=ReminderKind.OWED, clock_day=round_day, remind_day=report.remind_day, uid=OuterRef("uid")
                )
            )
        )
        report.queued += _queue(due, ReminderKind.OWED, report.remind_day, now)
    _deliver(scope, report, clock, handler, batch_size, progress)
    return report


def _queue(due: QuerySet, kind: str, remind_day: date, now: datetime) -> int:
    """Insert a pending reminder for every participation in ``due``, in keyset chunks; return how many."""
    queued, last = 0, 0
    while chunk := list(due.filter(pk__gt=last).order_by("pk").values_list("pk", "uid", "clock_day")[:QUEUE_CHUNK]):
        created = Reminder.objects.bulk_create(
            [
                Reminder(
                    uid=uid,
                    clock_day=clock_day,
                    kind=kind,
                    remind_day=remind_day,
                    participation_id=pk,
                    create_time=now,
                    update_time=now,
                )
                for pk, uid, clock_day in chunk
            ],
            ignore_conflicts=True,  # a concurrent run queued it first: the constraint keeps one
        )
        queued += len(created)
        last = chunk[-1][0]
    return queued


def _deliver(
    scope: QuerySet,
    report: ReminderReport,
    clock: Callable[[], datetime],
    handler: ReminderHandler | None,
    batch_size: int,
    progress: Progress | None,
) -> None:
    handler = handler or configured_handler()
    kind = report.kind
    gone = scope.filter(_claimable(clock())).exclude(_still_due(kind))
    report.skipped = gone.update(
        status=ReminderStatus.SKIPPED, result="no longer due when the run started", update_time=clock()
    )
    candidates = scope.filter(_claimable(clock()))
    total, done, last, number = candidates.count(), 0, 0, 0
    while ids := list(candidates.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size]):
        last, number = ids[-1], number + 1
        token, claimed = _claim(ids, kind, clock())
        done += len(ids)
        if not claimed:
            continue
        messages = _messages(token, ids)
        results = _call(handler, messages)
        outcome = _record(token, results, clock())
        report.outcomes.update(outcome)
        if progress:
            counts = ", ".join(f"{status} {n}" for status, n in sorted(outcome.items()))
            progress(f"{kind} reminders, batch {number}: {claimed} claimed — {counts} ({done}/{total})")
    report.statuses = _statuses(scope)


def _claim(ids: Sequence[int], kind: str, now: datetime) -> tuple[str, int]:
    """Claim what is still claimable and due among ``ids``; committed before the handler is called."""
    token = uuid.uuid4().hex
    with transaction.atomic(durable=True):
        claimed = (
            Reminder.objects.filter(pk__in=ids)
            .filter(_claimable(now))
            .filter(_still_due(kind))
            .update(
                status=ReminderStatus.SENDING,
                claim_token=token,
                claimed_at=now,
                attempts=F("attempts") + 1,
                update_time=now,
            )
        )
    return token, claimed


def _messages(token: str, ids: Sequence[int]) -> list[ReminderMessage]:
    rows = list(Reminder.objects.filter(pk__in=ids, claim_token=token).select_related("participation").order_by("pk"))
    rounds = {r.clock_day: r for r in Round.objects.filter(clock_day__in={row.clock_day for row in rows})}
    return [_message(row, rounds[row.clock_day]) for row in rows]


def _message(row: Reminder, the_round: Round) -> ReminderMessage:
    part = row.participation
    context = {"uid": str(row.uid), "nickname": part.nickname, "clock_day": row.clock_day.isoformat()}
    if row.kind == ReminderKind.CHECKIN:
        context |= {
            "checkin_date": (row.clock_day + calendar.ONE_DAY).isoformat(),
            "window_start": the_round.clock_start.strftime("%H:%M"),
            "window_end": the_round.clock_end.strftime("%H:%M"),
            "players": str(the_round.user_num),
            "pool_yuan": yuan(the_round.clock_money),
            "stake_yuan": yuan(part.order_money),
        }
    else:
        context |= {
            "amount_yuan": yuan(part.order_money + part.red_money),
            "packet_yuan": yuan(part.red_money),
            "stake_yuan": yuan(part.order_money),
            "state": OWED_WORDS.get(RedStatus(part.red_status), ""),
        }
    return ReminderMessage(
        id=row.pk,
        kind=row.kind,
        uid=row.uid,
        openid=part.source_uid,
        clock_day=row.clock_day,
        remind_day=row.remind_day,
        context=context,
    )


def _call(handler: ReminderHandler, messages: list[ReminderMessage]) -> dict[int, ReminderResult]:
    """The handler's results, with a deadline; whatever it raises or returns maps to a result per message."""
    try:
        answer = call_with_deadline(handler, messages, timeout=clock_settings.remind_timeout)
    except Exception as exc:  # delivery unknown: retried (see the module docstring)
        logger.exception("reminder handler failed on a batch of %s", len(messages))
        return {m.id: ReminderResult(FAILED, f"{type(exc).__name__}: {exc}"[:2000]) for m in messages}
    return read_results(messages, answer)


def _record(token: str, results: dict[int, ReminderResult], now: datetime) -> Counter[str]:
    """Write each outcome, grouped by (status, detail). A *sent* is recorded whoever holds the row now (it went
    out); a failure or refusal only while this run's claim holds."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, result in results.items():
        groups[(result.status, result.detail.replace("\x00", "")[:2000])].append(pk)
    outcome: Counter[str] = Counter()
    for (status, detail), ids in groups.items():
        rows = Reminder.objects.filter(pk__in=ids)
        if status == SENT:
            changed = rows.exclude(status__in=(ReminderStatus.SENT, ReminderStatus.REFUSED)).update(
                status=ReminderStatus.SENT, sent_at=now, result=detail or "sent", claim_token="", update_time=now
            )
        else:
            changed = rows.filter(claim_token=token, status=ReminderStatus.SENDING).update(
                status=status, result=detail, claim_token="", update_time=now
            )
        outcome[status] += changed
        if status == FAILED and changed:
            logger.warning("%s reminder(s) failed, to be retried: %s", changed, detail[:200])
        elif status != SENT and changed:
            logger.info("%s reminder(s) refused, final: %s", changed, detail[:200])
    return outcome


def _statuses(scope: QuerySet) -> dict[str, int]:
    return {row["status"]: row["n"] for row in scope.order_by().values("status").annotate(n=Count("id"))}


def round_reminders(day: date) -> dict[str, dict[str, int]]:
    """Round ``day``'s reminders by kind and status (the dashboard's card), one grouped query."""
    counts: dict[str, dict[str, int]] = {}
    rows = Reminder.objects.filter(clock_day=day).order_by().values("kind", "status").annotate(n=Count("id"))
    for row in rows:
        counts.setdefault(row["kind"], {})[row["status"]] = row["n"]
    return counts
