"""The JSON endpoints: every route, the envelope, 401/405/400, no uid spoofing, signed payment callbacks."""

import json
from datetime import date

import pytest
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse

from clock_app.channels import get_channel
from clock_app.models import ClockOrder, LedgerEntry, Participation, Player, Round
from clock_app.services.settlement import round_settle

from .conftest import local
from .factories import play_round

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
PROFILE = {"mobile": "13800000000", "nickname": "Me", "openId": "open-me"}

# name, method, needs a user, kwargs
ROUTES = [
    ("init", "GET", False, {}),
    ("summary", "GET", True, {}),
    ("prepay", "POST", True, {}),
    ("check", "GET", True, {}),
    ("clock", "POST", True, {}),
    ("open_red", "POST", True, {}),
    ("remind", "POST", True, {}),
    ("toast", "POST", True, {}),
    ("information", "GET", True, {}),
    ("money_log", "GET", True, {}),
    ("yesterday", "GET", True, {}),
    ("talents", "GET", False, {}),
    ("records", "GET", False, {}),
    ("statement", "GET", False, {"day": "2026-11-26"}),
]


@pytest.fixture
def me(client):
    user = User.objects.create_user("me", password="pw")
    client.force_login(user)
    return user


def call(client, name, method, kwargs=None, body=None, **extra):
    url = reverse(f"clock_app:{name}", kwargs=kwargs or {})
    if method == "GET":
        return client.get(url, extra.get("query", {}))
    return client.post(url, json.dumps(body) if body is not None else "", content_type="application/json")


@pytest.mark.parametrize(("name", "method", "needs_user", "kwargs"), ROUTES, ids=[r[0] for r in ROUTES])
def test_every_route_answers_the_envelope(client, me, name, method, needs_user, kwargs):
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        response = call(client, name, method, kwargs, body=PROFILE if name == "prepay" else None)
    assert response.status_code == 200
    envelope = response.json()
    assert set(envelope) >= {"status", "message", "data"}
    assert envelope["status"] in (0, 1)
    if envelope["status"] == 0:
        assert isinstance(envelope["code"], str) and envelope["code"]


@pytest.mark.parametrize(
    ("name", "method", "needs_user", "kwargs"), [r for r in ROUTES if r[2]], ids=[r[0] for r in ROUTES if r[2]]
)
def test_anonymous_gets_401(client, name, method, needs_user, kwargs):
    response = call(client, name, method, kwargs)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(("name", "method", "needs_user", "kwargs"), ROUTES, ids=[r[0] for r in ROUTES])
def test_wrong_method_gets_405(client, me, name, method, needs_user, kwargs):
    url = reverse(f"clock_app:{name}", kwargs=kwargs)
    response = client.put(url) if method == "POST" else client.post(url)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("body", ["{not json", "[1, 2]"])
def test_malformed_json_gets_400(client, me, body):
    response = client.post(reverse("clock_app:prepay"), body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


def test_prepay_then_sandbox_payment_joins_the_round(client, me):
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        made = call(client, "prepay", "POST", body=PROFILE).json()
        assert made["status"] == 1
        notification = made["data"]["payment"]["notification"]
        ack = client.post(reverse("clock_app:notify"), json.dumps(notification), content_type="application/json")
        summary = call(client, "summary", "GET").json()["data"]["summary"]
    assert ack.status_code == 200 and ack.json()["code"] == "SUCCESS"
    assert Participation.objects.get().uid == me.pk
    assert (summary["clock_status"], summary["user_num"], summary["clock_money"]) == (1, 1, 100)


def test_no_uid_spoofing_via_body_or_query(client, me):
    victim = 4242
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        call(client, "prepay", "POST", body={**PROFILE, "uid": victim, "user_id": victim})
        client.get(reverse("clock_app:summary"), {"uid": victim})
        client.post(
            reverse("clock_app:remind") + f"?uid={victim}", json.dumps({"uid": victim}), content_type="application/json"
        )
    assert ClockOrder.objects.get().user_id == me.pk
    assert not Player.objects.filter(uid=victim).exists()
    assert Player.objects.get(uid=me.pk).is_remind is True


def test_paging_parameters_are_validated(client, me):
    assert client.get(reverse("clock_app:money_log"), {"page": "x"}).json()["code"] == "page_invalid"
    assert client.get(reverse("clock_app:records"), {"limit": "0"}).json()["code"] == "limit_invalid"


def test_csrf_is_enforced_on_browser_posts_but_not_on_the_channel_callback():
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.create_user("strict", password="pw"))
    assert strict.post(reverse("clock_app:remind")).status_code == 403
    response = strict.post(reverse("clock_app:notify"), "{}", content_type="application/json")
    assert response.status_code == 400  # reached the view: rejected for its signature, not for CSRF


def test_statement_endpoints(client):
    play_round(DAY, 6, 4)
    with time_machine.travel(local("2026-11-27", "08:05:00"), tick=False):
        round_settle(DAY)
    data = client.get(reverse("clock_app:statement", kwargs={"day": "2026-11-26"})).json()["data"]["statement"]
    assert data["settled"] and len(data["packets"]) == 4
    download = client.get(reverse("clock_app:statement_file", kwargs={"day": "2026-11-26"}))
    body = b"".join(download.streaming_content)
    import hashlib

    assert hashlib.sha256(body).hexdigest() == Round.objects.get().statement_hash
    assert client.get(reverse("clock_app:statement_file", kwargs={"day": "2020-01-01"})).status_code == 404
    assert client.get(reverse("clock_app:statement_file", kwargs={"day": "nope"})).status_code == 400


# --- the signed payment callback -------------------------------------------------------------------------


@pytest.fixture
def waiting_order(client, me):
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        data = call(client, "prepay", "POST", body=PROFILE).json()["data"]
    return ClockOrder.objects.get(order_no=data["order_no"])


def deliver(client, message, at=("2026-11-26", "12:00:30")):
    with time_machine.travel(local(*at), tick=False):
        return client.post(reverse("clock_app:notify"), json.dumps(message), content_type="application/json")


def nothing_paid():
    return (
        not Participation.objects.exists()
        and not LedgerEntry.objects.exists()
        and ClockOrder.objects.get().order_status == 1
    )


def test_valid_callback_replayed_100_times_pays_once(client, waiting_order):
    with time_machine.travel(local(DAY, "12:00:10"), tick=False):
        message = get_channel().payment_notification(waiting_order)
    answers = {deliver(client, message).status_code for _ in range(100)}
    assert answers == {200}
    assert Participation.objects.count() == 1 and LedgerEntry.objects.count() == 1
    assert Round.objects.get().clock_money == 100


@pytest.mark.parametrize(
    "forge",
    [
        lambda m: {**m, "sign": "0" * 64},  # forged signature
        lambda m: {k: v for k, v in m.items() if k != "sign"},  # missing signature
        lambda m: {**m, "amount": 1},  # tampered amount, old signature
        lambda m: {**m, "buyer_id": "someone-else"},
        lambda m: {k: v for k, v in m.items() if k != "timestamp"},
    ],
    ids=["forged", "missing", "tampered-amount", "tampered-buyer", "no-timestamp"],
)
def test_forged_or_missing_signature_is_rejected_and_changes_nothing(client, waiting_order, forge):
    with time_machine.travel(local(DAY, "12:00:10"), tick=False):
        message = get_channel().payment_notification(waiting_order)
    response = deliver(client, forge(message))
    assert response.status_code == 400 and response.json()["code"] == "FAIL"
    assert nothing_paid()


def test_stale_callback_is_rejected(client, waiting_order):
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        message = get_channel().payment_notification(waiting_order)
    response = deliver(client, message, at=("2026-11-26", "12:05:01"))  # tolerance 300 s
    assert response.status_code == 400
    assert nothing_paid()


def test_signed_callback_with_a_wrong_secret_is_rejected(client, waiting_order, settings):
    from clock_app.channels.sandbox import SandboxChannel

    with time_machine.travel(local(DAY, "12:00:10"), tick=False):
        message = SandboxChannel(SECRET="not-ours").payment_notification(waiting_order)
    assert deliver(client, message).status_code == 400
    assert nothing_paid()


def test_sandbox_transfer_answers_are_signed_and_checked():
    from clock_app.channels.base import InvalidNotification
    from clock_app.channels.sandbox import SandboxChannel
    from clock_app.services.payouts import Transfer, transfer_succeeded

    channel = SandboxChannel(SECRET="s")
    answer = channel.transfer(Transfer("P1", 1, "o", 150, DAY))
    assert transfer_succeeded(answer) and answer["sign"] == channel.sign(answer)
    forged = SandboxChannel(SECRET="s")
    forged._bank = lambda transfer, now=None: {**channel._bank(transfer), "amount": 1}
    with pytest.raises(InvalidNotification):
        forged.transfer(Transfer("P2", 1, "o", 150, DAY))
    always_refusing = SandboxChannel(SECRET="s", FAIL_RATE="1")
    assert not transfer_succeeded(always_refusing.transfer(Transfer("P3", 1, "o", 150, DAY)))
