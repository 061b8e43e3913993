"""Key material for the fake payment channels, generated per test run with ``cryptography``.

Both channels (WeChat Pay v3, Alipay) sign with SHA256withRSA (PKCS#1 v1.5) over RSA 2048 keys and exchange keys as
PEM text, so the fakes share these helpers: a key pair, its PEM forms, a self-signed certificate, and sign/verify
returning/taking base64 as both channels put signatures in text fields.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def new_rsa_private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA key (e = 65537), 2048 bits like the channels' merchant and platform keys."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: rsa.RSAPrivateKey, *, pkcs1: bool = False) -> str:
    """Unencrypted PEM: PKCS#8 (``BEGIN PRIVATE KEY``, what wechatpayv3 expects) or PKCS#1 (``BEGIN RSA PRIVATE
    KEY``, what some Alipay tools write)."""
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode("ascii")


def public_key_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """SubjectPublicKeyInfo PEM (``BEGIN PUBLIC KEY``) of a key pair or public key."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def load_public_key_pem(pem: str) -> rsa.RSAPublicKey:
    """The RSA public key in a SubjectPublicKeyInfo PEM."""
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("not an RSA public key")
    return key


def self_signed_certificate(
    key: rsa.RSAPrivateKey,
    common_name: str,
    *,
    serial_number: int | None = None,
    not_before: datetime | None = None,
    days: int = 365,
) -> x509.Certificate:
    """An X.509 v3 certificate for ``key`` signed by itself (SHA256withRSA). Channels identify certificates by serial
    number, so a test can choose it; by default a random one."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or datetime.now(UTC) - timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial_number if serial_number is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def certificate_pem(certificate: x509.Certificate) -> str:
    """The certificate as PEM text (``BEGIN CERTIFICATE``)."""
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def sign_sha256_rsa(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """Base64 SHA256withRSA (PKCS#1 v1.5) signature of ``message``."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify_sha256_rsa(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is a SHA256withRSA signature of ``message`` by ``key``; malformed base64 is a
    failed verification, never an exception."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature):
        return False
    return True
