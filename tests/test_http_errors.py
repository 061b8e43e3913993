"""Every answer under the app's URLs is an envelope with a stable ``code`` — including the refusals Django
itself gives (CSRF, a body too large, 404, 500) and a database that went away — and no body can make an
endpoint or a channel callback answer 500. Run against a host that includes ``clock_app.urls`` and nothing
else (``tests/host_urls.py``)."""

import json
from datetime import date

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clock_app.facade import ClockCenter
from clock_app.models import ClockOrder, LedgerEntry, Participation

from .conftest import local
from .factories import play_round

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.host_urls")]

DAY = date(2026, 11, 26)
NESTED = "[" * 1000 + "]" * 1000  # 2 KB: json.loads raises RecursionError on it
CALLBACKS = ["/clock/notify/", "/clock/refund-notify/", "/clock/transfer-notify/"]


def envelope(response, status, code):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == 0 and body["code"] == code and body["message"] and body["data"] == {}
    return body


@pytest.fixture
def me(client):
    user = User.objects.create_user("me", password="pw")
    client.force_login(user)
    return user


def test_nested_brackets_are_malformed_json_not_a_500(client, me):
    envelope(client.post("/clock/prepay/", NESTED, content_type="application/json"), 400, "malformed_json")


@pytest.mark.parametrize("url", CALLBACKS)
def test_nested_brackets_to_a_callback_are_refused_in_the_channels_format(client, url):
    response = client.post(url, NESTED, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "FAIL"
    assert not ClockOrder.objects.exists() and not LedgerEntry.objects.exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8), st.lists, max_leaves=20).map(
            json.dumps
        ),
        st.integers(0, 3000).map(lambda n: "{" * n + "[" * n),
    )
)
def test_no_body_makes_any_post_endpoint_answer_5xx(client, me, body):
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        for url in ["/clock/prepay/", "/clock/clock/", "/clock/red/", "/clock/remind/", *CALLBACKS]:
            response = client.post(url, body, content_type="application/json")
            assert response.status_code < 500, (url, body[:80], response.content[:200])
            assert "code" in response.json() or response.status_code in (200, 204)
    assert not Participation.objects.exists() and not LedgerEntry.objects.exists()


def test_a_missing_csrf_token_is_an_envelope_and_a_valid_one_passes():
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.create_user("strict", password="pw"))
    envelope(strict.post("/clock/remind/"), 403, "csrf_failed")
    strict.get("/clock/summary/")  # the home screen's call hands out the cookie
    token = strict.cookies["csrftoken"].value
    answer = strict.post("/clock/remind/", headers={"X-CSRFToken": token})
    assert answer.status_code == 200 and answer.json()["status"] == 1


def test_a_host_without_the_csrf_middleware_keeps_its_choice(settings):
    """The app refuses exactly what Django would: a host that left CsrfViewMiddleware out (a mini-program
    authenticated by a header, say) gets no CSRF refusal from the app either."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "csrf" not in m.lower()]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.create_user("strict", password="pw"))
    answer = strict.post("/clock/remind/")
    assert answer.status_code == 200 and answer.json()["status"] == 1


def test_the_channel_callback_needs_no_csrf_token():
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/clock/notify/", "{}", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "FAIL"  # refused for its signature


def test_a_body_over_the_upload_limit_is_an_envelope(client, me, settings, caplog):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = json.dumps({"x": "a" * 2000})
    envelope(client.post("/clock/prepay/", big, content_type="application/json"), 413, "body_too_large")
    # A form-encoded body is read by the CSRF check itself (csrfmiddlewaretoken): still inside the app's code.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get())
    strict.get("/clock/summary/")  # the cookie, so the check goes on to look for the token in the body
    envelope(strict.post("/clock/remind/", {"x": "a" * 2000}), 413, "body_too_large")
    callback = client.post("/clock/notify/", big, content_type="application/json")
    assert callback.status_code == 413 and callback.json()["code"] == "FAIL"
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("path", ["/clock/nope/", "/clock/", "/clock/rounds/2026-11-26/", "/clock/" + "x" * 3000])
def test_unknown_paths_are_not_found_envelopes_that_never_echo_the_path(client, path):
    body = envelope(client.get(path), 404, "not_found")
    assert "xxxx" not in body["message"] and len(body["message"]) < 100
    envelope(client.post(path), 404, "not_found")


def test_a_path_without_its_trailing_slash_is_named(client):
    assert "/" in envelope(client.get("/clock/summary"), 404, "not_found")["message"]


def test_wrong_method_everywhere_is_405(client, me):
    for url in ["/clock/summary/", "/clock/prepay/", "/clock/rounds/2026-11-26/statement.jsonl", "/clock/notify/"]:
        response = client.put(url)
        envelope(response, 405, "method_not_allowed")
        assert response["Allow"] in ("GET", "POST")


def test_an_unexpected_exception_is_a_500_envelope_reported_to_djangos_error_signal(monkeypatch, caplog):
    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(ClockCenter, "top_clock", broken)
    reported = []

    def receiver(sender, request, **kwargs):
        reported.append(request.path)

    got_request_exception.connect(receiver, dispatch_uid="test-500")
    try:
        response = Client(raise_request_exception=False).get("/clock/talents/")
    finally:
        got_request_exception.disconnect(dispatch_uid="test-500")
    body = envelope(response, 500, "server_error")
    assert "boom" not in body["message"] and "Traceback" not in response.content.decode()
    assert reported == ["/clock/talents/"]  # Django's error reporters heard of it
    assert "RuntimeError: boom" in caplog.text  # logged with its traceback for the operator


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_database_unavailable_is_a_503_envelope(client, me, monkeypatch, error):
    def down(self, uid, extra=None):
        raise error("terminating connection due to administrator command")

    monkeypatch.setattr(ClockCenter, "summary", down)
    envelope(client.get("/clock/summary/"), 503, "unavailable")


def test_database_unavailable_in_a_callback_answers_the_channel_to_retry(client, monkeypatch):
    import clock_app.views

    def down(notification):
        raise OperationalError("server closed the connection unexpectedly")

    from clock_app.services.orders import order_generate

    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        order = order_generate(uid=5, mobile="13800000005", nickname="p5", open_id="open-5")
        from clock_app.channels import get_channel

        message = get_channel().payment_notification(order)
        monkeypatch.setattr(clock_app.views, "order_notify", down)
        response = client.post("/clock/notify/", json.dumps(message), content_type="application/json")
    assert response.status_code == 503 and response.json()["code"] == "FAIL"


# --- day parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["20261126", "2026-W48-4", "%202026-11-26", "2026-11-26%20", "2026-11-26x", "x" * 3000])
def test_day_parameters_accept_exactly_yyyy_mm_dd(client, day):
    play_round(DAY, 3, 2)
    body = envelope(client.get(f"/clock/rounds/{day}/statement.jsonl"), 400, "day_invalid")
    assert "xxxx" not in body["message"]
    answer = client.get(f"/clock/rounds/{day}/statement/")
    assert answer.status_code == 200 and answer.json()["code"] == "day_invalid"


def test_a_day_without_a_round_is_round_not_found_on_both_statement_endpoints(client):
    envelope(client.get("/clock/rounds/2020-01-01/statement.jsonl"), 404, "round_not_found")
    assert client.get("/clock/rounds/2020-01-01/statement/").json()["code"] == "round_not_found"
    play_round(DAY, 3, 2)  # an open round: found, not settled
    envelope(client.get("/clock/rounds/2026-11-26/statement.jsonl"), 404, "round_not_settled")
