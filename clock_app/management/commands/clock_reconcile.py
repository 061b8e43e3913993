"""``manage.py clock_reconcile --day D [--channel NAME]``: the channel's bill of day D against the books."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ... import calendar
from ...channels import get_channel
from ...exceptions import ClockError
from ...models import Difference
from ...money import yuan
from ...services.reconcile import reconcile_day
from ..days import add_day_option, parse_day_option


class Command(BaseCommand):
    help = (
        "Reconcile the payment channel's own bill of a day (its payments, refunds and transfers, by the "
        "channel's time) with the app's orders, refunds and packets: apply a payment the app never heard of "
        "(exactly once, as its notification would have been), report every other difference (amount, status, "
        "ours only, theirs only, duplicate). Exits non-zero while a difference of that day is open."
    )

    def add_arguments(self, parser):
        add_day_option(parser, "yesterday (channels publish a day's bill the next morning)")
        parser.add_argument(
            "--channel",
            help="The channel's name, to make a crontab explicit (wechatpay, alipay, sandbox); it must be the "
            "configured CLOCK['PAYMENT_CHANNEL'].",
        )

    def handle(self, *args, day=None, channel=None, **options):
        bill_day = parse_day_option(day, calendar.previous_round(calendar.today()))
        configured = get_channel().name
        if channel and channel != configured:
            raise CommandError(f"--channel {channel}: the configured channel is {configured}")
        try:
            report = reconcile_day(bill_day)
        except (ClockError, NotImplementedError) as error:
            raise CommandError(f"{configured} {bill_day}: the bill could not be read: {error}") from None
        run = report.run
        self.stdout.write(
            f"{configured} {bill_day}: {run.lines} bill line(s), {run.applied} payment(s) applied; found: {run.summary}"
        )
        still_open = Difference.objects.filter(channel=configured, bill_day=bill_day, status=Difference.Status.OPEN)
        for difference in still_open.order_by("kind", "number"):
            amounts = f" ours ¥{yuan(difference.ours)}" if difference.ours is not None else ""
            amounts += f" theirs ¥{yuan(difference.theirs)}" if difference.theirs is not None else ""
            self.stdout.write(
                f"  open: {difference.kind} {difference.number} — {difference.get_reason_display()}"
                f"{amounts}. {difference.detail}"
            )
        if not report.clean:
            raise CommandError(f"{configured} {bill_day}: {report.open} difference(s) open")
        self.stdout.write(self.style.SUCCESS(f"{configured} {bill_day}: the books agree"))
