"""Payout and reminder handlers importable by dotted path (CLOCK["PAYOUT_HANDLER"], CLOCK["REMINDER_HANDLER"] in
tests and the Celery worker)."""


def succeed(transfer):
    return {"return_code": "SUCCESS", "result_code": "SUCCESS", "order_no": transfer.order_no}


def fail(transfer):
    return {"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "NOTENOUGH"}


def remind_all(reminders):
    return {reminder.id: "sent" for reminder in reminders}


def remind_none(reminders):
    return {reminder.id: {"status": "failed", "detail": "-1 system busy"} for reminder in reminders}
