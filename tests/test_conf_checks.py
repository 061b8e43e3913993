from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from clock_app.checks import check_clock_settings
from clock_app.conf import DEFAULTS, clock_settings, parse


def test_defaults_parse_to_exact_types():
    parsed, problems = parse({})
    assert problems == []
    assert parsed.participate_money == 100
    assert parsed.service_ratio == Decimal("0.05")
    assert parsed.lucky_proportion == Decimal("0.20")
    assert parsed.max_packet == 9800
    assert str(parsed.time_zone) == "Asia/Shanghai"
    assert parsed.clock_start.isoformat() == "05:00:00"
    assert parsed.red_open.isoformat() == "08:05:00"


def test_every_design_key_has_a_default():
    for key in (
        "TIME_ZONE",
        "PARTICIPATE_MONEY",
        "CLOCK_START",
        "CLOCK_END",
        "RED_OPEN",
        "SERVICE_RATIO",
        "LUCKY_NUM",
        "LUCKY_PROPORTION",
        "MAX_PACKET",
        "ORDER_PREFIX",
        "PAYOUT_HANDLER",
        "PAYOUT_RETRY_AFTER",
        "NO_WINNER_POLICY",
        "CACHE_PREFIX",
    ):
        assert key in DEFAULTS


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TIME_ZONE", "Mars/Olympus"),
        ("SERVICE_RATIO", "1.5"),
        ("SERVICE_RATIO", "-0.1"),
        ("SERVICE_RATIO", 0.05),  # a float is refused: money ratios are exact decimals
        ("SERVICE_RATIO", "abc"),
        ("LUCKY_PROPORTION", "2"),
        ("PARTICIPATE_MONEY", -100),
        ("PARTICIPATE_MONEY", 1.0),
        ("PARTICIPATE_MONEY", 0),
        ("MAX_PACKET", -1),
        ("LUCKY_NUM", -2),
        ("CLOCK_START", "25:00"),
        ("CLOCK_START", "09:00"),  # start >= end
        ("RED_OPEN", "07:00"),  # settles before the window closes
        ("RED_OPEN", "08:00"),  # no margin for check-ins still committing
        ("PAYOUT_RETRY_AFTER", 0),  # a payout still being sent would be sent again
        ("ORDER_PREFIX", "ttc-"),
        ("PAYOUT_HANDLER", "no.such.module.handler"),
        ("PAYOUT_RETRY_AFTER", -1),
        ("NO_WINNER_POLICY", "keep"),
        ("NO_SUCH_KEY", 1),
        ("REMINDER_HANDLER", "no.such.module.handler"),
        ("REMINDER_HANDLER", {"OPTIONS": {}}),
        ("REMINDER_HANDLER", {"BACKEND": "clock_app.reminders.wechat.WeChatSubscribeHandler", "OPTIONS": []}),
        ("REMIND_TIMEOUT", 0),
        ("REMIND_AT", "4:50"),
        ("REMIND_AT", "08:30"),  # after the window closed
    ],
)
def test_bad_value_fails_manage_py_check_naming_the_key(key, value):
    with override_settings(CLOCK={key: value}):
        errors = check_clock_settings()
        assert errors, f"{key}={value!r} was accepted"
        assert any(key in e.msg for e in errors), [e.msg for e in errors]
        assert all(e.id.startswith("clock_app.E") for e in errors)
        with pytest.raises(SystemCheckError, match=key):
            call_command("check")
        with pytest.raises(ImproperlyConfigured, match=key):
            clock_settings.load()


def test_settings_follow_override_settings():
    assert clock_settings.participate_money == 100
    with override_settings(CLOCK={"PARTICIPATE_MONEY": 200, "SERVICE_RATIO": "0.1"}):
        assert clock_settings.participate_money == 200
        assert clock_settings.service_ratio == Decimal("0.1")
    assert clock_settings.participate_money == 100


def test_valid_payout_handler_is_imported():
    with override_settings(CLOCK={"PAYOUT_HANDLER": "tests.test_conf_checks.dummy_handler"}):
        assert check_clock_settings() == []
        assert clock_settings.import_payout_handler() is dummy_handler


def dummy_handler(transfer):
    return {"result_code": "SUCCESS"}


def test_deploy_check_warns_about_the_sandbox_channel():
    from clock_app.checks import check_no_sandbox_in_production

    assert [w.id for w in check_no_sandbox_in_production()] == ["clock_app.W001"]
    real = {"PAYMENT_CHANNEL": {"BACKEND": "clock_app.channels.base.PaymentChannel", "OPTIONS": {}}}
    with override_settings(CLOCK=real):
        assert check_no_sandbox_in_production() == []


@pytest.mark.parametrize(
    ("key", "value", "check_id"),
    [
        ("REMINDER_HANDLER", 42, "clock_app.E020"),
        ("REMIND_TIMEOUT", 301, "clock_app.E020"),
        ("REMIND_AT", "x", "clock_app.E021"),
    ],
)
def test_reminder_settings_have_their_own_check_ids(key, value, check_id):
    with override_settings(CLOCK={key: value}):
        assert [e.id for e in check_clock_settings()] == [check_id]


def test_reminder_defaults():
    parsed, problems = parse({})
    assert problems == []
    assert parsed.remind_at.isoformat() == "04:50:00"
    assert parsed.reminder_handler == {"BACKEND": "clock_app.reminders.log.log_reminders", "OPTIONS": None}
    assert parsed.remind_timeout == 60.0
