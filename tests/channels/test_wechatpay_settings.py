"""Configuring the WeChat Pay channel: the example project switches to it from the environment (keys by file
path), ``manage.py check`` refuses incomplete options, ``check --deploy`` warns about the sandbox."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clock_app.services.transfers import channel_number, parse_channel_number
from tests.fakes.wechatpay import FakeWeChatPay

ROOT = Path(__file__).resolve().parents[2]


def check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WECHATPAY_", "CLOCK_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env={**clean, "DATABASE_URL": "sqlite:///:memory:", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_example_project_runs_on_wechat_pay_when_its_keys_are_set(tmp_path):
    fake = FakeWeChatPay()  # only its generated keys and identity: no server needed
    (tmp_path / "apiclient_key.pem").write_text(fake.merchant_private_key_pem)
    (tmp_path / "pub_key.pem").write_text(fake.platform_public_key_pem)
    env = {
        "WECHATPAY_MCHID": fake.mchid,
        "WECHATPAY_APPID": fake.appid,
        "WECHATPAY_APIV3_KEY": fake.apiv3_key,
        "WECHATPAY_PRIVATE_KEY_FILE": str(tmp_path / "apiclient_key.pem"),
        "WECHATPAY_CERT_SERIAL_NO": fake.merchant_serial_no,
        "WECHATPAY_PUBLIC_KEY_FILE": str(tmp_path / "pub_key.pem"),
        "WECHATPAY_PUBLIC_KEY_ID": fake.public_key_id,
        "WECHATPAY_NOTIFY_URL": "https://clock.example.com/api/clock/notify/",
    }
    configured = check(env, "--deploy")
    assert "clock_app.E019" not in configured.stderr + configured.stdout
    assert "clock_app.W001" not in configured.stderr + configured.stdout  # the sandbox is off
    missing = check({**env, "WECHATPAY_APIV3_KEY": "too-short"})
    assert missing.returncode != 0 and "clock_app.E019" in missing.stderr and "APIV3_KEY" in missing.stderr
    sandbox = check({}, "--deploy")
    assert "clock_app.W001" in sandbox.stderr + sandbox.stdout


@pytest.mark.parametrize("renewals", [0, 1, 2, 9, 10, 41])
def test_a_renewed_bill_number_is_derived_from_the_payout_key_and_read_back(renewals):
    key = "TTC202611261234567890P"
    number = channel_number(key, renewals)
    assert number.isalnum() and 5 <= len(number) <= 32  # WeChat's out_bill_no alphabet and length
    assert parse_channel_number(number, key_suffix="P") == (key, renewals)
