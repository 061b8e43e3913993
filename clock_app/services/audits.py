"""Recording ``clock_audit``'s verdicts (``pay_clock_audit``), one row per round day, the last one kept.

The audit itself (:mod:`clock_app.audit`) only reads; whoever runs it — the command, the Celery task, the
simulation, the dashboard's "audit now" button — records what it found here, so the dashboard shows the
verdict without recomputing a big round's settlement on every page view.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from ..audit import RoundAudit
from ..models import AuditVerdict


def audit_record(reports: Iterable[RoundAudit], *, now: datetime | None = None) -> None:
    now = now or timezone.now()
    for report in reports:
        AuditVerdict.objects.update_or_create(
            clock_day=report.clock_day,
            defaults={
                "ok": report.ok,
                "equation": report.equation,
                "problems": "\n".join(report.problems),
                "audited_at": now,
            },
        )
