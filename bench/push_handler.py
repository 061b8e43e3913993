"""The push bench's payout handler: answers success at once and sends nothing (the handler contract of
``clock_app.services.transfers``), so the bench measures the app's own cost per payout. Importable by dotted
path for the Celery worker: ``CLOCK_PAYOUT_HANDLER=bench.push_handler.succeed``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUCCESS: Mapping[str, Any] = {"return_code": "SUCCESS", "result_code": "SUCCESS"}


def succeed(transfer: Any) -> Mapping[str, Any]:
    """Paid, at once: the channel's idempotency key is ``transfer.order_no``; nothing else is looked at."""
    return SUCCESS
