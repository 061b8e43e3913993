"""The seven tables of olaf/clock, with the seed's table and column names and the database as the last word.

Design overview
---------------
* ``Round`` (``pay_clock``) is one row per round (``clock_day`` = the day stakes are paid). It is created by
  the round's first order with the rules in force copied onto it (stake, window, red-open time, service
  ratio, lucky packets, cap, no-winner policy) and a committed random seed (only its SHA-256 is public until
  settlement). Its totals move only through ``F()`` updates; its settlement record is written once, under
  a row lock.
* ``Participation`` (``pay_clock_day``) is one row per paid stake. ``payout_no`` — the payout's idempotency
  key at the channel — is minted with the row and never changes, so every retry of one payout carries the
  same number. The columns written in bulk later (``red_money`` at settlement; ``red_status``,
  ``clock_money``, ``red_time``, ``pay_result`` at payout; ``clock_status``/``clock_time`` at check-in) are
  deliberately kept out of every index and the table keeps half of each page free (``fillfactor`` 50, set
  in a migration on PostgreSQL), so those updates stay heap-only (HOT) instead of rewriting every index.
* ``ClockOrder`` (``pay_clock_order``) is a stake order; at most one *waiting* order per user and round, a
  channel transaction id is recorded once, and a payment that cannot join a round is kept as *refunding*.
* ``LedgerEntry`` (``pay_clock_user_log``) is written by ``services.ledger`` only, in the transaction of the
  state change it records; ``(money_type, reference)`` is unique, so a payment, a packet or a refund can be
  booked once and only once.

All money is integer fen in ``PositiveBigIntegerField`` columns (Django adds ``CHECK (col >= 0)``). Status
codes keep the seed's numbers. Timestamps are aware and come from ``timezone.now()``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Timestamped(models.Model):
    """The seed's ``create_time``/``update_time``. Services pass ``update_time`` in every ``update()``."""

    create_time = models.DateTimeField(default=timezone.now, editable=False)
    update_time = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.update_time = timezone.now()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "update_time"}
        super().save(*args, **kwargs)


class NoWinnerPolicy(models.TextChoices):
    ROLLOVER = "rollover", "Roll the bonus into the next round"
    OPERATOR = "operator", "Book the bonus as service fee"


class Round(Timestamped):
    """One round of the challenge (seed: ``PayClock``)."""

    clock_day = models.DateField(unique=True, help_text="The day stakes are paid; check-in is the next morning.")
    user_num = models.PositiveIntegerField(default=0, help_text="Participants (paid stakes).")
    success_user_num = models.PositiveIntegerField(default=0, help_text="Winners, written at settlement.")
    failure_user_num = models.PositiveIntegerField(default=0, help_text="Losers, written at settlement.")
    clock_money = models.PositiveBigIntegerField(default=0, help_text="Pool: sum of stakes, fen.")

    # Rules in force when the round opened (its first order); everything about the round reads these.
    participate_money = models.PositiveBigIntegerField(help_text="Stake, fen.")
    clock_start = models.TimeField()
    clock_end = models.TimeField()
    red_open = models.TimeField()
    service_ratio = models.DecimalField(max_digits=5, decimal_places=4)
    lucky_num = models.PositiveIntegerField()
    lucky_proportion = models.DecimalField(max_digits=5, decimal_places=4)
    max_packet = models.PositiveBigIntegerField(help_text="Cap on one packet's bonus part, fen.")
    no_winner_policy = models.CharField(max_length=10, choices=NoWinnerPolicy.choices)

    # Committed randomness: seed_hash is public from the start, split_seed only once settled.
    seed_hash = models.CharField(max_length=64, blank=True)
    split_seed = models.CharField(max_length=64, blank=True)
    seed_committed = models.BooleanField(
        default=True, help_text="False when the seed was drawn at settlement (round opened before commitments)."
    )
    statement_version = models.PositiveSmallIntegerField(
        default=2,
        help_text="Statement format: 2 (pseudonyms fixed at payment) for new rounds; 1 for rounds opened before it.",
    )

    # Settlement record.
    service_fee = models.PositiveBigIntegerField(default=0)
    bonus_money = models.PositiveBigIntegerField(default=0)
    rollover_in = models.PositiveBigIntegerField(default=0)
    rollover_out = models.PositiveBigIntegerField(default=0)
    rollover_into = models.DateField(null=True, blank=True, help_text="The round that took rollover_out.")
    statement_hash = models.CharField(max_length=64, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "pay_clock"
        ordering = ["-clock_day"]
        constraints = [
            models.CheckConstraint(
                condition=Q(service_ratio__gte=0, service_ratio__lte=1), name="pay_clock_service_ratio_0_1"
            ),
            models.CheckConstraint(
                condition=Q(lucky_proportion__gte=0, lucky_proportion__lte=1), name="pay_clock_lucky_prop_0_1"
            ),
            models.CheckConstraint(condition=Q(clock_start__lt=F("clock_end")), name="pay_clock_window_order"),
            models.CheckConstraint(condition=Q(participate_money__gte=1), name="pay_clock_stake_positive"),
            models.CheckConstraint(condition=Q(max_packet__gte=1), name="pay_clock_max_packet_positive"),
        ]

    def __str__(self) -> str:
        return f"round {self.clock_day:%Y-%m-%d}"

    @property
    def is_settled(self) -> bool:
        return self.settled_at is not None


class ClockStatus(models.IntegerChoices):
    NONE = 0, "Not joined"
    JOINED = 1, "Joined"
    CLOCKED_IN = 2, "Clocked in"


class RedStatus(models.IntegerChoices):
    UNPAID = 1, "Unpaid"
    PAID = 2, "Paid"
    PAYING = 3, "Paying (sent, not final or outcome unknown)"
    FAILED = 4, "Failed (refused, offered again)"
    AWAITING = 5, "Awaiting the user's confirmation at the channel"


class Participation(Timestamped):
    """One paid stake in one round (seed: ``PayClockDay``)."""

    uid = models.PositiveBigIntegerField()
    nickname = models.CharField(max_length=64, blank=True, default="")
    mobile = models.CharField(max_length=20, blank=True, default="")
    source_uid = models.CharField(max_length=64, blank=True, default="", help_text="The user's id at the channel.")
    red_status = models.PositiveSmallIntegerField(choices=RedStatus.choices, default=RedStatus.UNPAID)
    clock_day = models.DateField()
    order_no = models.CharField(max_length=50, unique=True, help_text="The stake order.")
    order_money = models.PositiveBigIntegerField(help_text="Stake paid, fen.")
    clock_money = models.PositiveBigIntegerField(default=0, help_text="Paid out: stake + packet, fen.")
    red_money = models.PositiveBigIntegerField(default=0, help_text="Packet allocated at settlement, fen.")
    discount_money = models.PositiveBigIntegerField(default=0)
    clock_status = models.PositiveSmallIntegerField(choices=ClockStatus.choices, default=ClockStatus.JOINED)
    clock_time = models.DateTimeField(null=True, blank=True)
    pay_result = models.TextField(blank=True, default="")
    red_time = models.DateTimeField(null=True, blank=True)
    payout_no = models.CharField(max_length=64, unique=True, help_text="Payout idempotency key at the channel.")
    pseudonym = models.CharField(
        max_length=64, blank=True, default="", help_text="The line's name in the round's statement, fixed at payment."
    )
    payout_attempts = models.PositiveIntegerField(default=0)
    payout_claimed_at = models.DateTimeField(null=True, blank=True)
    payout_renewals = models.PositiveIntegerField(
        default=0,
        help_text="Transfers of this payout the channel confirmed as failed (each re-offer has a new number).",
    )

    class Meta:
        db_table = "pay_clock_day"
        ordering = ["-clock_day", "id"]
        constraints = [
            models.UniqueConstraint(fields=["uid", "clock_day"], name="pay_clock_day_uid_day"),
            models.CheckConstraint(condition=Q(red_status__in=RedStatus.values), name="pay_clock_day_red_status"),
            models.CheckConstraint(condition=Q(clock_status__in=ClockStatus.values), name="pay_clock_day_clock_status"),
            # Only winners are paid or hold a packet.
            models.CheckConstraint(
                condition=Q(red_status=RedStatus.UNPAID) | Q(clock_status=ClockStatus.CLOCKED_IN),
                name="pay_clock_day_paid_only_winners",
            ),
            models.CheckConstraint(
                condition=Q(red_money=0) | Q(clock_status=ClockStatus.CLOCKED_IN),
                name="pay_clock_day_packet_only_winners",
            ),
            # What was paid out is exactly stake + packet, and nothing is paid out before the paid state.
            models.CheckConstraint(
                condition=(Q(red_status=RedStatus.PAID) & Q(clock_money=F("order_money") + F("red_money")))
                | (~Q(red_status=RedStatus.PAID) & Q(clock_money=0)),
                name="pay_clock_day_paid_amount",
            ),
        ]
        # No index touches a column written after insert (see the module docstring).
        indexes = [models.Index(fields=["clock_day", "id"], name="pay_clock_day_day_id")]

    def __str__(self) -> str:
        return f"uid {self.uid} in round {self.clock_day:%Y-%m-%d}"


class OrderStatus(models.IntegerChoices):
    WAITING = 1, "Waiting for payment"
    PAID = 2, "Paid"


class RefundStatus(models.IntegerChoices):
    NONE = 1, "None"
    REFUNDED = 2, "Refunded"
    REFUNDING = 3, "Refunding"
    REVIEW = 4, "Held for an operator's review"


class RefundReason(models.TextChoices):
    LATE = "late", "Paid after the round's entry closed (23:59:59 on its day)"
    DUPLICATE = "duplicate", "Second paid order of the user for the round"
    DOUBLE_CHARGE = "double_charge", "Second payment of an already paid order"
    EARLY = "early", "Paid before the user's previous round opened its red packets"
    CONSECUTIVE = "consecutive", "The user is already in the next round, paid before this one's packets opened"
    WRONG_AMOUNT = "wrong_amount", "Paid an amount other than the order's"
    WRONG_BUYER = "wrong_buyer", "Paid by someone other than the order's buyer"
    UNKNOWN_ORDER = "unknown_order", "Paid for an order number the app never issued"


class ClockOrder(Timestamped):
    """A stake order (seed: ``PayClockOrder``)."""

    order_no = models.CharField(max_length=64, unique=True)
    clock_day = models.DateField()
    user_id = models.PositiveBigIntegerField(help_text="The platform's uid.")
    transaction_id = models.CharField(max_length=64, blank=True, default="", help_text="The channel's order id.")
    buyer_id = models.CharField(max_length=64, help_text="The payer's id at the channel (openId).")
    order_status = models.PositiveSmallIntegerField(choices=OrderStatus.choices, default=OrderStatus.WAITING)
    pay_amount = models.PositiveBigIntegerField(help_text="fen")
    discount_money = models.PositiveBigIntegerField(default=0)
    pay_result = models.TextField(blank=True, default="", help_text="The channel's notification, as received.")
    pay_time = models.DateTimeField(null=True, blank=True)
    refund_status = models.PositiveSmallIntegerField(choices=RefundStatus.choices, default=RefundStatus.NONE)
    refund_reason = models.CharField(max_length=16, choices=RefundReason.choices, blank=True, default="")
    refund_time = models.DateTimeField(null=True, blank=True)
    refund_result = models.TextField(blank=True, default="")
    refund_attempts = models.PositiveIntegerField(default=0)
    refund_claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "pay_clock_order"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["transaction_id"], condition=~Q(transaction_id=""), name="pay_clock_order_transaction_once"
            ),
            models.UniqueConstraint(
                fields=["user_id", "clock_day"],
                condition=Q(order_status=OrderStatus.WAITING),
                name="pay_clock_order_one_waiting",
            ),
            models.CheckConstraint(condition=Q(order_status__in=OrderStatus.values), name="pay_clock_order_status"),
            models.CheckConstraint(
                condition=Q(refund_status__in=RefundStatus.values), name="pay_clock_order_refund_status"
            ),
            models.CheckConstraint(
                condition=Q(refund_status=RefundStatus.NONE) | Q(order_status=OrderStatus.PAID),
                name="pay_clock_order_refund_only_paid",
            ),
            models.CheckConstraint(
                condition=Q(order_status=OrderStatus.WAITING) | ~Q(transaction_id=""),
                name="pay_clock_order_paid_has_transaction",
            ),
        ]
        indexes = [
            models.Index(fields=["user_id", "clock_day"], name="pay_clock_order_user_day"),
            # A round's orders (the dashboard, the audit): without it, one round's query reads every round's.
            models.Index(fields=["clock_day"], name="pay_clock_order_day"),
            models.Index(
                fields=["id"], condition=Q(refund_status=RefundStatus.REFUNDING), name="pay_clock_order_refunding"
            ),
            # A day's payments and refunds by the channel's time (reconciliation); written once, never updated.
            models.Index(
                fields=["pay_time"], condition=Q(order_status=OrderStatus.PAID), name="pay_clock_order_paid_at"
            ),
            models.Index(
                fields=["refund_time"],
                condition=Q(refund_status=RefundStatus.REFUNDED),
                name="pay_clock_order_refunded",
            ),
        ]

    def __str__(self) -> str:
        return self.order_no


class Player(Timestamped):
    """A player's totals and settings (seed: ``PayClockUser``)."""

    uid = models.PositiveBigIntegerField(unique=True)
    nickname = models.CharField(max_length=64, blank=True, default="")
    mobile = models.CharField(max_length=20, blank=True, default="")
    source_uid = models.CharField(max_length=64, blank=True, default="")
    is_remind = models.BooleanField(default=False)
    spend_money = models.PositiveBigIntegerField(default=0, help_text="Stakes paid into rounds, fen.")
    income_money = models.PositiveBigIntegerField(default=0, help_text="Stake + packet received, fen.")
    clock_max_money = models.PositiveBigIntegerField(default=0, help_text="Largest single payout, fen.")
    clock_num = models.PositiveIntegerField(default=0, help_text="Rounds joined.")
    clock_day_num = models.PositiveIntegerField(default=0, help_text="Successful check-ins.")
    long_day_num = models.PositiveIntegerField(default=0, help_text="Current streak of consecutive check-ins.")
    yesterday_time = models.DateTimeField(null=True, blank=True, help_text="Last check-in.")
    toast_day = models.DateField(null=True, blank=True, help_text="Day the pop-up was last shown.")

    class Meta:
        db_table = "pay_clock_user"
        ordering = ["uid"]
        indexes = [models.Index(fields=["-income_money", "id"], name="pay_clock_user_income")]

    def __str__(self) -> str:
        return f"player {self.uid}"


class MoneyType(models.IntegerChoices):
    STAKE = 1, "参与挑战"
    RED_PACKET = 2, "早起打卡红包"
    REFUND = 3, "挑战退款"


class LedgerEntry(Timestamped):
    """One movement of a user's money (seed: ``PayClockUserLog``); amounts are positive, direction is the type."""

    uid = models.PositiveBigIntegerField()
    clock_day = models.DateField()
    money_type = models.PositiveSmallIntegerField(choices=MoneyType.choices)
    change_money = models.PositiveBigIntegerField(help_text="fen")
    log_content = models.CharField(max_length=512, blank=True, default="")
    reference = models.CharField(max_length=64, help_text="order_no of a stake or refund, payout_no of a packet.")

    class Meta:
        db_table = "pay_clock_user_log"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["money_type", "reference"], name="pay_clock_user_log_once"),
            models.CheckConstraint(condition=Q(money_type__in=MoneyType.values), name="pay_clock_user_log_type"),
        ]
        indexes = [
            models.Index(fields=["uid", "-id"], name="pay_clock_user_log_uid"),
            models.Index(fields=["clock_day"], name="pay_clock_user_log_day"),
        ]

    def __str__(self) -> str:
        return f"{self.get_money_type_display()} {self.change_money} fen, uid {self.uid}"


class LuckySetting(Timestamped):
    """An operator's override of the lucky packets for a period (seed: ``PayClockSetting``)."""

    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    money_proportion = models.PositiveSmallIntegerField(help_text="Percent of the bonus shared by lucky packets.")
    red_num = models.PositiveIntegerField(default=1, help_text="Number of lucky packets.")

    class Meta:
        db_table = "pay_clock_setting"
        ordering = ["-start_time"]
        constraints = [
            models.CheckConstraint(condition=Q(start_time__lt=F("end_time")), name="pay_clock_setting_period"),
            models.CheckConstraint(condition=Q(money_proportion__lte=100), name="pay_clock_setting_percent"),
        ]

    def __str__(self) -> str:
        period = f"{self.start_time:%Y-%m-%d} → {self.end_time:%Y-%m-%d}"
        return f"{self.red_num} lucky packets, {self.money_proportion}% ({period})"


class ErrorStatus(models.IntegerChoices):
    OPEN = 1, "Open"
    REPAIRED = 2, "Repaired"


class PayoutError(Timestamped):
    """A payout or refund the channel refused (seed: ``PayClockUserErrorLog``)."""

    clock_day_id = models.PositiveBigIntegerField(help_text="pay_clock_day.id (0 for a refund).")
    clock_day = models.DateField()
    red_money = models.PositiveBigIntegerField(help_text="Amount of the failed transfer, fen.")
    order_no = models.CharField(max_length=64, help_text="The transfer's idempotency key.")
    uid = models.PositiveBigIntegerField()
    error_msg = models.TextField(blank=True, default="")
    status = models.PositiveSmallIntegerField(choices=ErrorStatus.choices, default=ErrorStatus.OPEN)
    pay_result = models.TextField(blank=True, default="")

    class Meta:
        db_table = "pay_clock_user_error_log"
        ordering = ["-id"]
        indexes = [models.Index(fields=["order_no"], name="pay_clock_user_error_order")]

    def __str__(self) -> str:
        return f"{self.order_no}: {self.error_msg[:40]}"


class ReconcileRun(models.Model):
    """One reconciliation of a channel's bill of one day with the app's books (``clock_reconcile``)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        CLEAN = "clean", "Clean: the books agree"
        DIFFERENCES = "differences", "Differences found"
        FAILED = "failed", "Failed (the bill could not be read)"

    channel = models.CharField(max_length=32)
    bill_day = models.DateField(help_text="The day of the channel's bill (by the channel's payment/refund time).")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    lines = models.PositiveIntegerField(default=0, help_text="Lines read from the channel's bills.")
    applied = models.PositiveIntegerField(default=0, help_text="Payments the app had never heard of, applied.")
    summary = models.TextField(blank=True, default="")

    class Meta:
        db_table = "pay_clock_reconcile_run"
        ordering = ["-id"]
        indexes = [models.Index(fields=["channel", "bill_day"], name="pay_clock_reconcile_day")]

    def __str__(self) -> str:
        return f"{self.channel} {self.bill_day:%Y-%m-%d}: {self.get_status_display()}"


class BillEntry(models.Model):
    """A line of a channel's bill, staged for one run so the comparison is a set of SQL joins (bounded memory
    for a million lines); deleted when the run ends — the differences are what is kept."""

    run = models.ForeignKey(ReconcileRun, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8)
    number = models.CharField(max_length=64)
    key = models.CharField(max_length=64, help_text="The app's own key: order_no of a refund, payout_no of a transfer.")
    renewal = models.PositiveIntegerField(default=0, help_text="A transfer's renewal (its number's N suffix).")
    channel_id = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    status = models.CharField(max_length=32)
    at = models.DateTimeField()
    buyer_id = models.CharField(max_length=64, blank=True, default="")
    raw = models.TextField(blank=True, default="")

    class Meta:
        db_table = "pay_clock_bill_line"
        indexes = [
            models.Index(fields=["run", "kind", "channel_id"], name="pay_clock_bill_line_id"),
            models.Index(fields=["run", "kind", "key"], name="pay_clock_bill_line_key"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.number} {self.amount} fen"


class Difference(Timestamped):
    """Where the channel's bill and the app's books disagree, open until an operator resolves it (with a
    note) or a later run no longer finds it. One row per (channel, day, kind, number, reason)."""

    class Reason(models.TextChoices):
        THEIRS_ONLY = "theirs_only", "The channel lists it, the app has no record"
        OURS_ONLY = "ours_only", "The app has it, the channel's bill does not list it"
        AMOUNT = "amount", "Amounts differ"
        STATUS = "status", "The channel moved the money, the app has not booked it"
        DUPLICATE = "duplicate", "Listed more than once by the channel"
        APPLIED = "applied", "A payment the app never heard of, applied by the reconciliation"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    channel = models.CharField(max_length=32)
    bill_day = models.DateField()
    kind = models.CharField(max_length=8, help_text="payment, refund or transfer")
    number = models.CharField(max_length=64, help_text="Our number at the channel.")
    channel_id = models.CharField(max_length=64, blank=True, default="")
    reason = models.CharField(max_length=12, choices=Reason.choices)
    ours = models.BigIntegerField(null=True, blank=True, help_text="Our amount, fen.")
    theirs = models.BigIntegerField(null=True, blank=True, help_text="The channel's amount, fen.")
    detail = models.TextField(blank=True, default="")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    note = models.TextField(blank=True, default="", help_text="The operator's note when resolving.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    first_run = models.ForeignKey(ReconcileRun, on_delete=models.PROTECT, related_name="+")
    last_run = models.ForeignKey(ReconcileRun, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "pay_clock_reconcile_diff"
        ordering = ["-bill_day", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "bill_day", "kind", "number", "reason"], name="pay_clock_reconcile_diff_once"
            )
        ]
        indexes = [models.Index(fields=["status", "bill_day"], name="pay_clock_reconcile_open")]

    def __str__(self) -> str:
        return f"{self.bill_day:%Y-%m-%d} {self.kind} {self.number}: {self.get_reason_display()}"


class ReminderKind(models.TextChoices):
    CHECKIN = "checkin", "Check in this morning"
    OWED = "owed", "A packet is owed"


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Being sent (claimed by a run)"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (retried by the next run)"
    REFUSED = "refused", "Refused by the user or the channel (final)"
    SKIPPED = "skipped", "No longer due (checked in or paid before it went out)"


class Reminder(Timestamped):
    """One reminder to one player (``pay_clock_reminder``; the seed stored only the ``is_remind`` flag).

    "Exactly once" is a database fact, not a hope: a check-in reminder is unique per player and round, an
    owed-packet reminder per player, round and local day. A run *claims* rows with one conditional ``UPDATE``
    (pending or failed → sending, with its own ``claim_token``) before calling the handler, so two runs at once
    never send the same reminder; a row ``sent`` or ``refused`` is never claimed again. ``participation_id``
    names the participation it is about (no database constraint, as ``pay_clock_user_error_log``).
    """

    uid = models.PositiveBigIntegerField()
    clock_day = models.DateField(help_text="The round.")
    kind = models.CharField(max_length=8, choices=ReminderKind.choices)
    remind_day = models.DateField(help_text="Local day it is for (owed packets: one a day until paid).")
    participation = models.ForeignKey(Participation, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    status = models.CharField(max_length=8, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    result = models.TextField(blank=True, default="", help_text="What the handler said last.")
    sent_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "pay_clock_reminder"
        ordering = ["-remind_day", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["uid", "clock_day"],
                condition=Q(kind=ReminderKind.CHECKIN),
                name="pay_clock_reminder_checkin_once",
            ),
            models.UniqueConstraint(
                fields=["uid", "clock_day", "remind_day"],
                condition=Q(kind=ReminderKind.OWED),
                name="pay_clock_reminder_owed_daily",
            ),
            models.CheckConstraint(condition=Q(kind__in=ReminderKind.values), name="pay_clock_reminder_kind"),
            models.CheckConstraint(condition=Q(status__in=ReminderStatus.values), name="pay_clock_reminder_status"),
            models.CheckConstraint(
                condition=~Q(status=ReminderStatus.SENT) | Q(sent_at__isnull=False), name="pay_clock_reminder_sent_at"
            ),
        ]
        # status and the claim are written in bulk by every run: kept out of the indexes (as in pay_clock_day);
        # a run finds its claimed rows by primary key.
        indexes = [
            models.Index(fields=["clock_day", "kind"], name="pay_clock_reminder_round"),
            models.Index(fields=["remind_day", "kind"], name="pay_clock_reminder_day"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} reminder to uid {self.uid} for round {self.clock_day:%Y-%m-%d}"


class AuditVerdict(models.Model):
    """The last verdict of ``clock_audit`` on one round (``pay_clock_audit``), so the operator's dashboard can
    show it without re-running an audit that takes seconds on a big round. Written by ``clock_audit``, the
    audit task, the simulation and the dashboard's "audit now" button; a copy, never an input."""

    clock_day = models.DateField(unique=True)
    ok = models.BooleanField()
    equation = models.TextField(help_text="DESIGN §2 as clock_audit printed it, fen.")
    problems = models.TextField(blank=True, default="", help_text="One problem a line.")
    audited_at = models.DateTimeField()

    class Meta:
        db_table = "pay_clock_audit"
        ordering = ["-clock_day"]

    def __str__(self) -> str:
        return f"audit of round {self.clock_day:%Y-%m-%d}: {'ok' if self.ok else 'MISMATCH'}"


# The seed's (Laravel) model names, for code ported from olaf/clock.
PayClock = Round
PayClockDay = Participation
PayClockOrder = ClockOrder
PayClockUser = Player
PayClockUserLog = LedgerEntry
PayClockSetting = LuckySetting
PayClockUserErrorLog = PayoutError
PayClockReminder = Reminder
