"""The WeChat subscribe-message reminder handler against the local fake of WeChat's API (tests/fakes)."""

from datetime import date

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from clock_app.checks import check_reminder_handler_builds
from clock_app.models import Participation, Reminder
from clock_app.reminders import configured_handler
from clock_app.reminders.wechat import WeChatSubscribeHandler
from clock_app.services.reminders import reminders_send
from tests.fakes.wechat_message import FakeWeChatMessage, fake_wechat_message  # noqa: F401  (a fixture)

from .reminders import crowd, morning

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
CHECKIN_KEYS = ("thing1", "time2", "amount3")
OWED_KEYS = ("amount1", "phrase2")


def options(fake: FakeWeChatMessage, **overrides) -> dict:
    fake.add_template("TPL-CHECKIN", CHECKIN_KEYS)
    fake.add_template("TPL-OWED", OWED_KEYS)
    return {
        "APPID": fake.appid,
        "SECRET": fake.secret,
        "BASE_URL": fake.base_url,
        "TIMEOUT": 1,
        "TEMPLATES": {
            "checkin": {
                "TEMPLATE_ID": "TPL-CHECKIN",
                "PAGE": "pages/index/index",
                "DATA": {
                    "thing1": "{nickname}，早起打卡",
                    "time2": "{checkin_date} {window_start}",
                    "amount3": "{pool_yuan}元",
                },
            },
            "owed": {"TEMPLATE_ID": "TPL-OWED", "DATA": {"amount1": "{amount_yuan}元", "phrase2": "{state}"}},
        },
        **overrides,
    }


@pytest.fixture
def wechat(fake_wechat_message, settings):  # noqa: F811
    settings.CLOCK = {
        **settings.CLOCK,
        "REMINDER_HANDLER": {
            "BACKEND": "clock_app.reminders.wechat.WeChatSubscribeHandler",
            "OPTIONS": options(fake_wechat_message),
        },
    }
    return fake_wechat_message


def send(now_clock="04:50:00", **kwargs):
    return reminders_send("checkin", day=DAY, now=morning(DAY, now_clock), **kwargs)


def test_a_round_of_reminders_goes_out_as_subscribe_messages(wechat):
    crowd(DAY, 30, opted_in=12, clocked_in=2)
    report = send(batch_size=4)
    assert report.outcomes == {"sent": 10}
    assert len(wechat.sent) == 10
    first = wechat.sent_to("open-3")[0]
    assert first["template_id"] == "TPL-CHECKIN" and first["page"] == "pages/index/index"
    assert first["data"] == {"thing1": "player3，早起打卡", "time2": "2026-11-27 05:00", "amount3": "30.00元"}
    assert first["miniprogram_state"] == "formal" and first["lang"] == "zh_CN"
    # One token for the three batches: fetched once, then cached.
    assert wechat.stats["stable_token"] == 1
    assert Reminder.objects.filter(status="sent").count() == 10


def test_an_expired_token_is_refreshed_once_and_the_message_sent(wechat):
    crowd(DAY, 6, opted_in=6, clocked_in=0)
    handler = configured_handler()
    send(handler=handler, batch_size=3)
    assert wechat.stats["stable_token"] == 1
    Reminder.objects.all().delete()
    wechat.expire_token()
    report = send("05:00:00", handler=handler)
    assert report.outcomes == {"sent": 6}
    assert wechat.stats["errcode 42001"] == 1  # the first message met the expired token
    assert wechat.stats["stable_token"] == 2  # refreshed once, in normal mode
    assert wechat.stats["force_refresh"] == 0
    assert len(wechat.sent) == 12


def test_a_token_replaced_elsewhere_is_fetched_again(wechat):
    crowd(DAY, 3, opted_in=3, clocked_in=0)
    handler = configured_handler()
    handler.access_token(requests.Session())
    wechat.replace_token()  # another server forced a refresh
    assert send(handler=handler).outcomes == {"sent": 3}
    assert wechat.stats["errcode 40001"] == 1


def test_a_token_normal_mode_keeps_handing_back_is_force_refreshed(wechat):
    crowd(DAY, 2, opted_in=2, clocked_in=0)
    handler = configured_handler()
    handler.access_token(requests.Session())
    wechat.pin_stale_token()
    assert send(handler=handler).outcomes == {"sent": 2}
    assert wechat.stats["force_refresh"] == 1


def test_only_one_refresh_per_batch(wechat):
    crowd(DAY, 3, opted_in=3, clocked_in=0)
    handler = configured_handler()

    original = wechat._send

    def send_then_expire(token, payload):
        answer = original(token, payload)
        wechat.expire_token()
        return answer

    wechat._send = send_then_expire
    report = send(handler=handler)
    # The first message is sent, then every token is expired again: one refresh (message 2), no more (message 3).
    assert report.outcomes == {"sent": 2, "failed": 1}
    assert "42001" in Reminder.objects.get(uid=3).result


def test_a_refusal_is_recorded_and_never_retried(wechat):
    crowd(DAY, 5, opted_in=5, clocked_in=0)
    wechat.refuse("open-2")
    first = send()
    assert first.outcomes == {"sent": 4, "refused": 1}
    refused = Reminder.objects.get(uid=2)
    assert refused.status == "refused" and refused.result.startswith("43101 user refuse to accept the msg")
    second = send("05:30:00")
    assert second.outcomes == {} and second.complete
    attempts_to_2 = [r for r in wechat.requests if r["path"].endswith("/send") and '"open-2"' in r["body"]]
    assert len(attempts_to_2) == 1


def test_a_foreign_openid_is_refused(wechat):
    crowd(DAY, 2, opted_in=2, clocked_in=0)
    Participation.objects.filter(uid=1).update(source_uid="not an openid!")
    report = send()
    assert report.outcomes == {"sent": 1, "refused": 1}
    assert "40003" in Reminder.objects.get(uid=1).result


def test_a_timeout_fails_that_reminder_and_the_next_run_retries_it(wechat):
    crowd(DAY, 4, opted_in=4, clocked_in=0)
    configured_handler().access_token(requests.Session())
    wechat.inject("/cgi-bin/message/subscribe/send", "timeout")
    first = send()
    assert first.outcomes == {"sent": 3, "failed": 1}
    assert "delivery unknown" in Reminder.objects.get(status="failed").result
    assert send("05:00:00").outcomes == {"sent": 1}
    assert Reminder.objects.filter(status="sent").count() == 4


@pytest.mark.parametrize("fault", ["5xx", "unreadable"])
def test_an_unreadable_answer_is_a_failure(wechat, fault):
    crowd(DAY, 2, opted_in=2, clocked_in=0)
    configured_handler().access_token(requests.Session())
    wechat.inject("/cgi-bin/message/subscribe/send", fault)
    assert send().outcomes == {"sent": 1, "failed": 1}


def test_bad_credentials_fail_the_batch_without_sending(wechat, settings):
    settings.CLOCK = {
        **settings.CLOCK,
        "REMINDER_HANDLER": {
            "BACKEND": "clock_app.reminders.wechat.WeChatSubscribeHandler",
            "OPTIONS": options(wechat, SECRET="wrong"),
        },
    }
    crowd(DAY, 3, opted_in=3, clocked_in=0)
    report = send()
    assert report.outcomes == {"failed": 3}
    assert "40125" in Reminder.objects.first().result
    assert wechat.stats["send"] == 0


def test_template_data_the_template_does_not_have_is_47003_and_retried(wechat, settings):
    wechat.templates["TPL-CHECKIN"] = ("thing1", "time2")  # the operator edited the template in WeChat's console
    crowd(DAY, 2, opted_in=2, clocked_in=0)
    assert send().outcomes == {"failed": 2}
    assert "47003" in Reminder.objects.first().result
    wechat.templates["TPL-CHECKIN"] = CHECKIN_KEYS  # fixed
    assert send("05:00:00").outcomes == {"sent": 2}


def test_long_values_are_cut_to_wechats_limits(wechat):
    crowd(DAY, 1, opted_in=1, clocked_in=0)
    Participation.objects.update(nickname="一个名字非常非常非常非常非常长的早起玩家")
    assert send().outcomes == {"sent": 1}
    assert len(wechat.sent[0]["data"]["thing1"]) == 20


def test_the_token_is_shared_through_the_cache(wechat):
    crowd(DAY, 4, opted_in=4, clocked_in=0)
    send(batch_size=2)
    other_process = WeChatSubscribeHandler(**options(wechat))
    Reminder.objects.all().delete()
    assert send("05:00:00", handler=other_process).outcomes == {"sent": 4}
    assert wechat.stats["stable_token"] == 1


def test_the_handler_stops_before_the_batch_deadline(wechat, settings):
    settings.CLOCK = {**settings.CLOCK, "REMIND_TIMEOUT": 2}
    crowd(DAY, 3, opted_in=3, clocked_in=0)
    configured_handler().access_token(requests.Session())
    wechat.inject("/cgi-bin/message/subscribe/send", "timeout", times=3)
    report = send()  # the first send times out after 1 s, which uses the whole budget
    assert report.outcomes == {"failed": 3}
    assert Reminder.objects.filter(result="not sent: the batch ran out of time").count() == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"APPID": ""}, "APPID is required"),
        ({"TEMPLATES": {"checkin": {"TEMPLATE_ID": "x", "DATA": {"thing1": "x"}}}}, "exactly the kinds"),
        ({"MINIPROGRAM_STATE": "beta"}, "MINIPROGRAM_STATE"),
        ({"TIMEOUT": 0}, "TIMEOUT"),
        ({"BASE_URL": "api.weixin.qq.com"}, "BASE_URL"),
    ],
)
def test_bad_options_fail_the_system_check(fake_wechat_message, change, message):  # noqa: F811
    config = {
        "BACKEND": "clock_app.reminders.wechat.WeChatSubscribeHandler",
        "OPTIONS": {**options(fake_wechat_message), **change},
    }
    with pytest.raises(ImproperlyConfigured, match=message):
        WeChatSubscribeHandler(**config["OPTIONS"])
    with override_settings(CLOCK={"REMINDER_HANDLER": config}):
        (error,) = check_reminder_handler_builds()
    assert error.id == "clock_app.E020" and message in error.msg


def test_a_placeholder_the_reminder_does_not_have_fails_the_check(fake_wechat_message):  # noqa: F811
    bad = options(fake_wechat_message)
    bad["TEMPLATES"]["owed"]["DATA"] = {"amount1": "{pool_yuan}"}  # a check-in field in an owed message
    with pytest.raises(ImproperlyConfigured, match="uses pool_yuan; an owed reminder has"):
        WeChatSubscribeHandler(**bad)
