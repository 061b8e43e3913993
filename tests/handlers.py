"""Payout handlers importable by dotted path (for CLOCK["PAYOUT_HANDLER"] in tests and the Celery worker)."""


def succeed(transfer):
    return {"return_code": "SUCCESS", "result_code": "SUCCESS", "order_no": transfer.order_no}


def fail(transfer):
    return {"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "NOTENOUGH"}
