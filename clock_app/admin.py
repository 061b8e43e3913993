"""Admin for the seven tables. Money shows as yuan with two decimals everywhere — lists, change and view
pages alike (stored as integer fen); times show in the game's time zone, ``CLOCK["TIME_ZONE"]``, whatever
``settings.TIME_ZONE`` is (a 07:43 check-in in Shanghai reads 07:43, not 23:43 the day before in UTC), and
every page says so. The ledger and the orders are read-only, because a hand edit there would break the books
the audit re-derives."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, OuterRef, Subquery, Sum
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timezone import now
from django.views.decorators.http import require_POST

from . import admin_dashboard, calendar, csv_exports
from .conf import clock_settings
from .exceptions import NoPayoutHandler
from .models import (
    AuditVerdict,
    ClockOrder,
    ClockStatus,
    Difference,
    ErrorStatus,
    LedgerEntry,
    LuckySetting,
    Participation,
    PayoutError,
    Player,
    ReconcileRun,
    RedStatus,
    Reminder,
    Round,
)
from .money import yuan
from .services.orders import order_release_for_refund
from .services.payouts import Outcome, packet_pay, refund_pay, resolve_handler, round_owing
from .services.reconcile import difference_resolve

PAYOUT_LABELS = {
    "paid": "Paid",
    "awaiting": "Awaiting the user's confirmation",
    "pending": "Pending at the channel (sent, not final)",
    "owed": "Owed (not opened yet, or held back by a channel limit)",
    "failed": "Failed or cancelled (offered again)",
}
SECRET_FIELDS = {"split_seed"}  # an unsettled round's seed decides its allocation: never in any admin URL
# Columns holding integer fen (DESIGN §3): shown as yuan on every admin page.
MONEY_FIELDS = frozenset(
    {
        "clock_money",
        "participate_money",
        "max_packet",
        "service_fee",
        "bonus_money",
        "rollover_in",
        "rollover_out",
        "order_money",
        "red_money",
        "discount_money",
        "pay_amount",
        "spend_money",
        "income_money",
        "clock_max_money",
        "change_money",
    }
)


def money(field: str, label: str) -> Callable[[Any], str]:
    """A list/detail column showing integer fen ``field`` as yuan."""

    @admin.display(description=f"{label} (¥)", ordering=field)
    def column(obj: Any) -> str:
        return yuan(getattr(obj, field))

    column.__name__ = f"{field}_yuan"
    return column


class ClockAdmin(admin.ModelAdmin):
    """Base of the app's admins: pages rendered in ``CLOCK["TIME_ZONE"]`` (the templates
    ``admin/clock_app/change_*.html`` say which zone), money fields shown as yuan on change and view pages too.

    A money field stays excluded from every form (read-only) and is displayed by a ``<field>_yuan`` column."""

    def __init__(self, model, admin_site) -> None:
        super().__init__(model, admin_site)
        self.money_fields = {f.name: f for f in model._meta.fields if f.name in MONEY_FIELDS}
        for name, field in self.money_fields.items():
            setattr(self, f"{name}_yuan", money(name, str(field.verbose_name).capitalize()))

    def _shown(self, name: str) -> str:
        return f"{name}_yuan" if name in self.money_fields else name

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, *(self._shown(name) for name in fields if name in self.money_fields)]

    def get_fieldsets(self, request, obj=None):
        shown = []
        for title, options in super().get_fieldsets(request, obj):
            names = list(dict.fromkeys(self._shown(name) for name in options["fields"]))
            shown.append((title, {**options, "fields": names}))
        return shown

    def _in_game_time(self, view, *args, **kwargs):
        """Run an admin view and render its page in the game's time zone (a TemplateResponse renders after
        the view returns, so it is rendered here, inside the override)."""
        with timezone.override(clock_settings.time_zone):
            response = view(*args, **kwargs)
            if isinstance(response, TemplateResponse):
                response.render()
        return response

    def changelist_view(self, request, extra_context=None):
        return self._in_game_time(super().changelist_view, request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._in_game_time(super().changeform_view, request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        return self._in_game_time(super().history_view, request, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        return self._in_game_time(super().delete_view, request, object_id, extra_context)


class ReadOnlyAdmin(ClockAdmin):
    """Visible, searchable, never edited by hand. Not even a "Save" with every field read-only: Django's save
    writes every column back from the form's snapshot and would undo concurrent ``F()`` updates (a payment
    counted, a check-in, a payout marked paid) — money rows move only through the services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Round)
class RoundAdmin(ReadOnlyAdmin):
    list_display = (
        "clock_day",
        "user_num",
        "success_user_num",
        "failure_user_num",
        money("clock_money", "Pool"),
        money("service_fee", "Fee"),
        money("bonus_money", "Bonus"),
        money("rollover_out", "Rollover out"),
        "owed_yuan",
        "settled_at",
        "dashboard_link",
    )
    list_filter = ("settled_at", "no_winner_policy")
    date_hierarchy = "clock_day"
    actions = ("export_participants", "export_money_flow", "export_payouts")
    # Nothing of a round is edited by hand: totals move with payments, rules are frozen, the settlement is
    # written once. The private seed is not even shown (see get_fields) until the round is settled.
    readonly_fields = (
        "clock_day",
        "user_num",
        "success_user_num",
        "failure_user_num",
        "clock_money",
        "participate_money",
        "clock_start",
        "clock_end",
        "red_open",
        "service_ratio",
        "lucky_num",
        "lucky_proportion",
        "max_packet",
        "no_winner_policy",
        "seed_hash",
        "seed_committed",
        "revealed_seed",
        "service_fee",
        "bonus_money",
        "rollover_in",
        "rollover_out",
        "rollover_into",
        "statement_hash",
        "settled_at",
        "create_time",
        "update_time",
        "payouts",
        "dashboard_link",
    )
    fieldsets = (
        (None, {"fields": ("clock_day", "dashboard_link", "user_num", "clock_money", "create_time", "update_time")}),
        (
            "Rules (frozen when the round opened)",
            {
                "fields": (
                    "participate_money",
                    "clock_start",
                    "clock_end",
                    "red_open",
                    "service_ratio",
                    "lucky_num",
                    "lucky_proportion",
                    "max_packet",
                    "no_winner_policy",
                )
            },
        ),
        ("Committed randomness", {"fields": ("seed_hash", "seed_committed", "revealed_seed")}),
        (
            "Settlement",
            {
                "fields": (
                    "settled_at",
                    "success_user_num",
                    "failure_user_num",
                    "service_fee",
                    "bonus_money",
                    "rollover_in",
                    "rollover_out",
                    "rollover_into",
                    "statement_hash",
                )
            },
        ),
        ("Payouts (stake + packet, by state)", {"fields": ("payouts",)}),
    )

    @admin.display(description="Owed to winners (¥)")
    def owed_yuan(self, obj: Round) -> str:
        return yuan(obj.owed or 0)

    @admin.display(description="Winners' payouts")
    def payouts(self, obj: Round) -> str:
        """Paid, awaiting the user's confirmation, pending at the channel, owed (not opened, cancelled or held
        back by a limit) and failed — counts and yuan, from one grouped query."""
        paid = Participation.objects.filter(clock_day=obj.clock_day, red_status=RedStatus.PAID).aggregate(
            n=Count("id"), fen=Sum("clock_money")
        )
        states = {"paid": (paid["n"], paid["fen"] or 0), **round_owing(obj.clock_day)}
        return format_html_join(
            "",
            "<div>{}: {} winner(s), ¥{}</div>",
            ((PAYOUT_LABELS[state], n, yuan(fen)) for state, (n, fen) in states.items()),
        )

    @admin.display(description="Dashboard")
    def dashboard_link(self, obj: Round) -> str:
        url = reverse("admin:clock_app_round_dashboard_day", args=[obj.clock_day.isoformat()])
        return format_html('<a href="{}">Dashboard of round {}</a>', url, obj.clock_day.isoformat())

    # --- the round dashboard (admin_dashboard.py): /admin/clock_app/round/dashboard/[YYYY-MM-DD/]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("dashboard/", view(self.dashboard_view), name="clock_app_round_dashboard"),
            path("dashboard/<str:day>/", view(self.dashboard_view), name="clock_app_round_dashboard_day"),
            path("dashboard/<str:day>/audit/", view(require_POST(self.audit_view)), name="clock_app_round_audit"),
            *super().get_urls(),
        ]

    def _dashboard_round(self, request, day: str | None) -> Round | None:
        """The round of ``day``, or the latest settled one (else the latest); only for who may view rounds."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rounds = Round.objects.defer("split_seed")
        if day is None:
            return rounds.filter(settled_at__isnull=False).first() or rounds.first()
        try:
            return get_object_or_404(rounds, clock_day=calendar.parse_day(day))
        except ValueError:
            raise Http404(f"not a day: {day}") from None

    def dashboard_view(self, request, day: str | None = None):
        the_round = self._dashboard_round(request, day)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Round {the_round.clock_day} — dashboard" if the_round else "Round dashboard",
            **(admin_dashboard.dashboard_context(the_round) if the_round else {}),
            "export_actions": [(name, getattr(self, name).short_description) for name in self.actions],
        }
        return TemplateResponse(request, "admin/clock_app/round/dashboard.html", context)

    def audit_view(self, request, day: str):
        """Run ``clock_audit`` on this round now (seconds on a big round) and record the verdict."""
        the_round = self._dashboard_round(request, day)
        if admin_dashboard.audit_now(the_round):
            self.message_user(request, f"Round {the_round.clock_day} audited: ok.", messages.SUCCESS)
        else:
            self.message_user(request, f"Round {the_round.clock_day} audited: MISMATCH.", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:clock_app_round_dashboard_day", args=[day]))

    # --- CSV exports (csv_exports.py), streamed: flat memory for any round size

    def _csv(self, name: str, queryset, export) -> StreamingHttpResponse:
        days = sorted(queryset.values_list("clock_day", flat=True))
        span = days[0].isoformat() if len(days) == 1 else f"{days[0].isoformat()}_{days[-1].isoformat()}"
        response = StreamingHttpResponse(export(days), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="clock-{name}-{span}.csv"'
        return response

    @admin.action(description="Download participants (CSV, mobiles masked)", permissions=["view"])
    def export_participants(self, request, queryset) -> StreamingHttpResponse:
        return self._csv("participants", queryset, csv_exports.participants_csv)

    @admin.action(description="Download the money flow (CSV, one line per round)", permissions=["view"])
    def export_money_flow(self, request, queryset) -> StreamingHttpResponse:
        return self._csv("money-flow", queryset, csv_exports.money_flow_csv)

    @admin.action(description="Download payouts (CSV, every winner)", permissions=["view"])
    def export_payouts(self, request, queryset) -> StreamingHttpResponse:
        return self._csv("payouts", queryset, csv_exports.payouts_csv)

    @admin.display(description="Seed (revealed at settlement)")
    def revealed_seed(self, obj: Round) -> str:
        return obj.split_seed if obj.is_settled else "— hidden until settlement —"

    def lookup_allowed(self, lookup: str, value: str, request=None) -> bool:
        """Django's admin filters a change list by any field named in the query string
        (``?split_seed__startswith=a``): the result counts would leak an unsettled round's seed one hex digit
        at a time. No lookup may touch the seed (the admin answers 400)."""
        if SECRET_FIELDS & set(lookup.split(LOOKUP_SEP)):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_queryset(self, request):
        # The secret never leaves the database for a list or a form that does not show it.
        owed = (
            Participation.objects.filter(clock_day=OuterRef("clock_day"), clock_status=ClockStatus.CLOCKED_IN)
            .exclude(red_status=RedStatus.PAID)
            .values("clock_day")
            .annotate(fen=Sum(F("order_money") + F("red_money")))
            .values("fen")
        )
        return super().get_queryset(request).defer("split_seed").annotate(owed=Subquery(owed))


@admin.register(Participation)
class ParticipationAdmin(ReadOnlyAdmin):
    list_display = (
        "clock_day",
        "uid",
        "nickname",
        "mobile",
        "clock_status",
        "clock_time",
        money("order_money", "Stake"),
        money("red_money", "Packet"),
        money("clock_money", "Paid out"),
        "red_status",
        "payout_no",
    )
    list_filter = ("clock_day", "clock_status", "red_status")
    search_fields = ("=uid", "mobile", "order_no", "payout_no", "nickname")
    date_hierarchy = "clock_day"
    readonly_fields = [f.name for f in Participation._meta.fields]


@admin.register(ClockOrder)
class ClockOrderAdmin(ReadOnlyAdmin):
    list_display = (
        "order_no",
        "clock_day",
        "user_id",
        "order_status",
        money("pay_amount", "Amount"),
        "transaction_id",
        "pay_time",
        "refund_status",
        "refund_reason",
    )
    list_filter = ("clock_day", "order_status", "refund_status", "refund_reason")
    search_fields = ("order_no", "transaction_id", "=user_id", "buyer_id")
    date_hierarchy = "clock_day"
    actions = ("refund_held_payments",)

    @admin.action(description="Refund held payments to their payers (review → refunding)", permissions=["change"])
    def refund_held_payments(self, request, queryset) -> None:
        """A payment held for review (say, for an order number the app never issued) goes back to whoever
        paid it, through the channel's refund of that transaction, on the next push run."""
        released = sum(order_release_for_refund(pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{released} held payment(s) will be refunded by the next push run.")

    def has_change_permission(self, request, obj=None) -> bool:
        # Read-only rows, but the refund action needs the change permission of someone who may decide.
        return obj is None and request.user.has_perm("clock_app.change_clockorder")


@admin.register(Player)
class PlayerAdmin(ClockAdmin):
    list_display = (
        "uid",
        "nickname",
        "mobile",
        money("spend_money", "Spent"),
        money("income_money", "Income"),
        money("clock_max_money", "Best"),
        "clock_num",
        "clock_day_num",
        "long_day_num",
        "is_remind",
    )
    list_filter = ("is_remind",)
    search_fields = ("=uid", "mobile", "nickname", "source_uid")
    # Totals are the ledger's consequence; only the profile and the reminder are editable.
    readonly_fields = (
        "uid",
        "spend_money",
        "income_money",
        "clock_max_money",
        "clock_num",
        "clock_day_num",
        "long_day_num",
        "yesterday_time",
        "toast_day",
        "create_time",
        "update_time",
    )

    def save_model(self, request, obj, form, change) -> None:
        """Write only the profile fields the form changed: a full save would overwrite the totals with the
        snapshot read when the page was opened, losing the payments and payouts counted since."""
        if change:
            obj.save(update_fields=form.changed_data)
        else:
            super().save_model(request, obj, form, change)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "clock_day", "uid", "money_type", money("change_money", "Amount"), "reference", "create_time")
    list_filter = ("money_type", "clock_day")
    search_fields = ("=uid", "reference")
    date_hierarchy = "clock_day"


@admin.register(LuckySetting)
class LuckySettingAdmin(ClockAdmin):
    list_display = ("start_time", "end_time", "red_num", "money_proportion")
    list_filter = ("start_time",)
    readonly_fields = ("create_time", "update_time")  # stamped on save, not typed in


@admin.register(PayoutError)
class PayoutErrorAdmin(ClockAdmin):
    list_display = (
        "id",
        "clock_day",
        "uid",
        money("red_money", "Amount"),
        "order_no",
        "status",
        "error_msg",
        "create_time",
    )
    list_filter = ("status", "clock_day")
    search_fields = ("=uid", "order_no")
    readonly_fields = (
        "clock_day_id",
        "clock_day",
        "red_money",
        "order_no",
        "uid",
        "error_msg",
        "pay_result",
        "create_time",
        "update_time",
    )
    actions = ("retry_payout", "mark_repaired")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Retry the payout now (same payout_no)")
    def retry_payout(self, request, queryset) -> None:
        try:
            handler = resolve_handler(None)
        except NoPayoutHandler:
            self.message_user(request, "CLOCK['PAYOUT_HANDLER'] is not configured.", messages.ERROR)
            return
        outcomes: Counter[str] = Counter()
        for error in queryset.filter(status=ErrorStatus.OPEN):
            if error.clock_day_id:
                outcomes[packet_pay(error.clock_day_id, handler=handler).outcome] += 1
            else:
                order = ClockOrder.objects.filter(order_no=error.order_no.removesuffix("R")).first()
                outcomes[refund_pay(order.pk, handler=handler) if order else Outcome.NOT_CLAIMED] += 1
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing open"
        self.message_user(request, f"Retried: {summary}.", messages.INFO)

    @admin.action(description="Mark repaired")
    def mark_repaired(self, request, queryset) -> None:
        changed = queryset.filter(status=ErrorStatus.OPEN).update(status=ErrorStatus.REPAIRED, update_time=now())
        self.message_user(request, f"{changed} error(s) marked repaired.", messages.SUCCESS)


@admin.register(ReconcileRun)
class ReconcileRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "channel", "bill_day", "status", "lines", "applied", "summary", "started_at", "finished_at")
    list_filter = ("channel", "status", "bill_day")
    date_hierarchy = "bill_day"


@admin.register(Difference)
class DifferenceAdmin(admin.ModelAdmin):
    """Where the channel's bill and the books disagree. An operator resolves one by writing what was done in
    the note and saving; nothing else about it can be edited."""

    list_display = (
        "bill_day",
        "channel",
        "kind",
        "number",
        "reason",
        money("ours", "Ours"),
        money("theirs", "Theirs"),
        "status",
        "detail",
    )
    list_filter = ("status", "reason", "kind", "channel", "bill_day")
    search_fields = ("number", "channel_id")
    date_hierarchy = "bill_day"
    readonly_fields = (
        "channel",
        "bill_day",
        "kind",
        "number",
        "channel_id",
        "reason",
        "ours",
        "theirs",
        "detail",
        "status",
        "resolved_at",
        "first_run",
        "last_run",
        "create_time",
        "update_time",
    )
    fields = (*readonly_fields, "note")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        if obj.status == Difference.Status.OPEN and obj.note.strip():
            difference_resolve(obj.pk, note=f"{obj.note.strip()} — {request.user}")
            self.message_user(request, "Resolved.", messages.SUCCESS)
        else:
            self.message_user(
                request, "Write what was done in the note to resolve an open difference.", messages.WARNING
            )


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ("remind_day", "kind", "clock_day", "uid", "status", "attempts", "sent_at", "result")
    list_filter = ("kind", "status", "clock_day", "remind_day")
    search_fields = ("=uid",)
    date_hierarchy = "remind_day"


@admin.register(AuditVerdict)
class AuditVerdictAdmin(ReadOnlyAdmin):
    list_display = ("clock_day", "ok", "audited_at", "equation")
    list_filter = ("ok",)
    date_hierarchy = "clock_day"
