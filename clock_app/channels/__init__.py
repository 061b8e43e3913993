"""Payment channels: the adapter named by ``CLOCK["PAYMENT_CHANNEL"]``, built once and cached.

``clock_app.channels.transfer`` is a ready-made payout handler that sends through the configured channel
(and asks it about a transfer, ``transfer.query``); point ``CLOCK["PAYOUT_HANDLER"]`` at it to pay red packets
and refunds where the stakes came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from ..conf import clock_settings
from .base import InvalidNotification, PaymentChannel, TransferNotice

__all__ = ["InvalidNotification", "PaymentChannel", "TransferNotice", "get_channel", "transfer"]

_channel: PaymentChannel | None = None


def get_channel() -> PaymentChannel:
    global _channel
    if _channel is None:
        config = clock_settings.payment_channel
        _channel = import_string(config["BACKEND"])(**config["OPTIONS"])
    return _channel


def transfer(transfer: Any) -> Mapping[str, Any]:
    """A payout handler (``CLOCK["PAYOUT_HANDLER"] = "clock_app.channels.transfer"``)."""
    return get_channel().transfer(transfer)


def _query(transfer: Any) -> Mapping[str, Any]:
    return get_channel().query(transfer)


transfer.query = _query  # type: ignore[attr-defined]  (the payout contract's way to ask about a transfer)


@receiver(setting_changed)
def _forget_channel(*, setting: str, **kwargs: Any) -> None:
    global _channel
    if setting in ("CLOCK", "SECRET_KEY"):
        _channel = None
