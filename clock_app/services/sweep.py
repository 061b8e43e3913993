"""Lost payment notifications (DESIGN §7): channels deliver them at least once — in principle. WeChat says
so plainly: "query the order if no notification came". Every order of a round still waiting when its entry
closes (00:05) and again before the check-in window opens (04:30) is asked about at the channel; one the
channel reports paid is applied exactly as its notification would have been, with the channel's payment
time, so the rules of DESIGN §1 decide (joined, or kept for refund). A notification arriving later is then
a duplicate, and a player whose notification was lost still plays.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date

from ..channels import get_channel
from ..conf import clock_settings
from ..deadline import call_with_deadline
from ..models import ClockOrder, OrderStatus
from .orders import NotifyOutcome, order_notify

logger = logging.getLogger(__name__)


def payments_sweep(day: date) -> Counter[str]:
    """Ask the channel about every waiting order of round ``day``; returns how many ended how (``unpaid``,
    ``failed`` when the channel could not be asked, else the notify outcome)."""
    channel = get_channel()
    outcomes: Counter[str] = Counter()
    waiting = ClockOrder.objects.filter(clock_day=day, order_status=OrderStatus.WAITING).order_by("pk")
    for order in waiting.iterator(chunk_size=500):
        try:
            notification = call_with_deadline(channel.query_payment, order, timeout=clock_settings.payout_timeout)
        except Exception:  # one order the channel cannot answer about must not stop the sweep
            logger.exception("sweep of round %s: cannot ask the channel about order %s", day, order.order_no)
            outcomes["failed"] += 1
            continue
        if notification is None:
            outcomes["unpaid"] += 1
            continue
        outcome = order_notify(notification)
        if outcome != NotifyOutcome.DUPLICATE:  # a payment booked already (say, kept apart) is no news
            logger.warning(
                "order %s was paid but never notified: applied from the channel (%s)", order.order_no, outcome
            )
        outcomes[outcome] += 1
    return outcomes
