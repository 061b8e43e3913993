"""Configuring the Alipay channel: keys in the forms Alipay hands them out, certificate SNs as Alipay computes them
(production's own root certificate file included), options that cannot work refused at startup
(``clock_app.E019``), the example project switching to Alipay from the environment, and answers whose text or
certificate does not check out."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alipay import DCAliPay
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from clock_app.channels import alipay_keys
from clock_app.channels.alipay import AlipayChannel, Unverified
from clock_app.money import fen, yuan
from tests.fakes.alipay import FakeAlipay
from tests.fakes.alipay_keys import generate_key_material, new_rsa_key, private_key_pem, public_key_pem

ROOT = Path(__file__).resolve().parents[2]
# Alipay's production root certificate file (alipayRootCert.crt, as downloaded from the open platform); every
# merchant sends this SN, so it pins both the SN formula and the reading of a file holding SM2 and ECDSA roots.
PRODUCTION_ROOT = (Path(__file__).parent / "alipay_root_cert.crt").read_text()
PRODUCTION_ROOT_SN = "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"

# The SDK computes SNs with pyOpenSSL's X509.get_issuer, deprecated in pyOpenSSL 26: the SDK's noise.
pytestmark = pytest.mark.filterwarnings("ignore:X509.get_issuer is deprecated:DeprecationWarning")


def options(fake: FakeAlipay, **changes) -> dict:
    """The OPTIONS for ``fake``'s merchant (the gateway stays Alipay's unless changed: nothing is called)."""
    return {
        "APP_ID": fake.app_id,
        "APP_PRIVATE_KEY": fake.app_private_key_pem,
        "ALIPAY_PUBLIC_KEY": fake.alipay_public_key_pem,
        "NOTIFY_URL": "https://clock.example.com/api/clock/notify/",
        "APP_CERT": fake.app_cert_pem,
        "ALIPAY_CERT": fake.alipay_cert_pem,
        "ALIPAY_ROOT_CERT": fake.root_cert_pem,
        **changes,
    }


def test_the_production_root_certificate_files_sn():
    certificates = alipay_keys.load_certificates(PRODUCTION_ROOT)
    assert alipay_keys.root_cert_sn(certificates) == PRODUCTION_ROOT_SN == DCAliPay.get_root_cert_sn(PRODUCTION_ROOT)


def test_certificate_sns_agree_with_the_fake_and_the_sdk():
    fake = FakeAlipay()  # its generated keys and certificates only: no server needed
    channel = AlipayChannel(**options(fake))
    assert channel.cert_mode
    assert channel.app_cert_sn == fake.app_cert_sn == DCAliPay.get_cert_sn(fake.app_cert_pem)
    assert channel.alipay_cert_sn == fake.alipay_cert_sn == DCAliPay.get_cert_sn(fake.alipay_cert_pem)
    assert channel.root_cert_sn == fake.alipay_root_cert_sn == DCAliPay.get_root_cert_sn(fake.root_cert_pem)


def _bare(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def test_keys_as_pem_or_bare_base64_and_the_public_key_from_the_certificate():
    fake = FakeAlipay()
    key = serialization.load_pem_private_key(fake.app_private_key_pem.encode(), None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for private in (fake.app_private_key_pem, pkcs8.decode(), _bare(pkcs8.decode()), _bare(fake.app_private_key_pem)):
        for public in (fake.alipay_public_key_pem, _bare(fake.alipay_public_key_pem), None):
            channel = AlipayChannel(**options(fake, APP_PRIVATE_KEY=private, ALIPAY_PUBLIC_KEY=public))
            assert channel.public_key.public_numbers() == (
                serialization.load_pem_public_key(fake.alipay_public_key_pem.encode()).public_numbers()
            )
    public_only = options(fake, APP_CERT=None, ALIPAY_CERT=None, ALIPAY_ROOT_CERT=None)
    assert not AlipayChannel(**public_only).cert_mode


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"APP_ID": "wx123"}, "APP_ID"),
        ({"NOTIFY_URL": "/clock/notify/"}, "NOTIFY_URL"),
        ({"GATEWAY": "openapi.alipay.com"}, "GATEWAY"),
        ({"APP_PRIVATE_KEY": "not a key"}, "APP_PRIVATE_KEY"),
        ({"APP_PRIVATE_KEY": ""}, "APP_PRIVATE_KEY"),
        ({"ALIPAY_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}, "ALIPAY_PUBLIC_KEY"),
        ({"APP_CERT": None}, "all or none"),
        ({"ALIPAY_ROOT_CERT": "no certificate here"}, "PEM"),
        ({"ALIPAY_PUBLIC_KEY": public_key_pem(new_rsa_key())}, "not the key of ALIPAY_CERT"),
        ({"APP_PRIVATE_KEY": private_key_pem(new_rsa_key())}, "APP_CERT is not the certificate"),
        ({"ALIPAY_PUBLIC_KEY": None, "APP_CERT": None, "ALIPAY_CERT": None, "ALIPAY_ROOT_CERT": None}, "required"),
    ],
)
def test_options_that_cannot_work_are_refused_at_construction(change, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        AlipayChannel(**options(FakeAlipay(), **change))


def check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WECHATPAY_", "ALIPAY_", "CLOCK_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env={**clean, "DATABASE_URL": "sqlite:///:memory:", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_example_project_runs_on_alipay_when_its_app_id_is_set(tmp_path):
    keys = generate_key_material()
    files = {
        "ALIPAY_APP_PRIVATE_KEY_FILE": _bare(keys.app_private_key_pem),  # as Alipay's key tool writes it
        "ALIPAY_APP_CERT_FILE": keys.app_cert_pem,
        "ALIPAY_CERT_FILE": keys.alipay_cert_pem,
        "ALIPAY_ROOT_CERT_FILE": keys.root_cert_pem,
    }
    env = {"ALIPAY_APP_ID": "2021000000000001", "ALIPAY_NOTIFY_URL": "https://clock.example.com/api/clock/notify/"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        env[name] = str(tmp_path / name)
    configured = check(env, "--deploy")
    assert "clock_app.E019" not in configured.stderr + configured.stdout
    assert "clock_app.W001" not in configured.stderr + configured.stdout  # the sandbox is off
    (tmp_path / "other.pem").write_text(private_key_pem(new_rsa_key()))
    wrong = check({**env, "ALIPAY_APP_PRIVATE_KEY_FILE": str(tmp_path / "other.pem")})
    assert wrong.returncode != 0 and "clock_app.E019" in wrong.stderr and "APP_CERT" in wrong.stderr


def test_an_answer_is_trusted_only_as_alipay_wrote_and_signed_it(fake_alipay, subtests):
    channel = AlipayChannel(**options(fake_alipay, GATEWAY=fake_alipay.gateway))
    assert channel.call("alipay.trade.query", {"out_trade_no": "x"}).sub_code == "ACQ.TRADE_NOT_EXIST"
    raw = fake_alipay.requests[-1].raw_answer.decode()
    response = raw[raw.index(":") + 1 : raw.index(',"alipay_cert_sn"')]
    method = "alipay.trade.query"
    spaced = raw.replace('{"alipay_trade_query_response":', '{ "alipay_trade_query_response" :\n ')
    assert channel.verified(method, spaced.encode()).data == json.loads(response)  # cut out, not re-serialised
    forged = {
        "re-serialised": json.dumps(json.loads(raw), indent=1),
        "other certificate": raw.replace(fake_alipay.alipay_cert_sn, "0" * 32),
        "no certificate": raw.replace(f',"alipay_cert_sn":"{fake_alipay.alipay_cert_sn}"', ""),
        "unsigned": raw[: raw.index(',"sign"')] + "}",
        "duplicate response": raw.replace("{", '{"alipay_trade_query_response":{"code":"10000"},', 1),
        "other method": raw.replace("alipay_trade_query_response", "alipay_trade_refund_response"),
        "not json": "<html>502</html>",
        "trailing text": raw + "x",
        "not utf-8": raw.encode().replace(b"ACQ", b"\xff\xfe"),
    }
    for name, body in forged.items():
        with subtests.test(name), pytest.raises(Unverified):
            channel.verified(method, body if isinstance(body, bytes) else body.encode())


def test_an_unsigned_gateway_refusal_is_not_trusted(fake_alipay):
    channel = AlipayChannel(**options(fake_alipay, GATEWAY=fake_alipay.gateway, APP_ID="2021999999999999"))
    with pytest.raises(Unverified, match="not signed"):
        channel.call("alipay.trade.query", {"out_trade_no": "x"})


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_yuan_strings_round_trip_to_the_fen(amount):
    assert fen(yuan(amount)) == amount


@pytest.mark.parametrize(
    "text", ["1.001", "1e2", "1,00", "01.00", "1.", ".5", "", " ", "--1", "NaN", "１.00", "1１.00", "1.0１"]
)
def test_a_yuan_string_that_is_not_exactly_fen_is_refused(text):
    with pytest.raises(ValueError):
        fen(text)


def test_bare_base64_that_is_not_a_key_is_refused():
    with pytest.raises(ValueError):
        alipay_keys.load_private_key(base64.b64encode(b"not a key").decode())
