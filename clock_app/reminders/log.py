"""The default reminder handler: write each reminder to the ``clock_app.reminders`` log and count it sent.

It delivers nothing to anyone. It is the default so that a project which has not chosen a channel yet still
records, per player and round, which reminders were due — and sees them in the log — and so that the whole
pipeline (claims, batches, the dashboard's reminder card) runs in the demo and in tests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from . import SENT, ReminderMessage

logger = logging.getLogger("clock_app.reminders")


def log_reminders(reminders: Sequence[ReminderMessage]) -> dict[int, str]:
    for reminder in reminders:
        logger.info(
            "reminder %s to uid %s (round %s): %s",
            reminder.kind,
            reminder.uid,
            reminder.clock_day,
            dict(reminder.context),
        )
    return {reminder.id: SENT for reminder in reminders}
