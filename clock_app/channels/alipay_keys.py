"""Alipay's keys and certificates as the merchant downloads them, and the fingerprints (SNs) its gateway checks.

Alipay signs with RSA2 (SHA256withRSA, PKCS#1 v1.5). Its key tool hands keys out as PEM or as bare base64 (the
DER body without the ``-----BEGIN`` lines); both are accepted here.

In certificate mode (公钥证书, required for transfers) every request names two certificates by their SN and every
answer names the certificate that signed it:

* the SN of a certificate is ``md5(issuer DN in RFC 4514 order + serial number in decimal)`` — the issuer as
  ``CN=…,OU=…,O=…,C=…``, what Java's ``X500Principal.getName()`` writes and Alipay's SDKs hash;
* the root file's SN joins, with ``_``, the SNs of its RSA-signed certificates in file order (it also holds
  roots signed otherwise — SM2 — which are skipped).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

RSA_SIGNATURES = "1.2.840.113549.1.1."  # the PKCS#1 family: sha1WithRSA, sha256WithRSA, …
PKCS1_OID = bytes.fromhex("2a864886f70d0101")  # the DER body of 1.2.840.113549.1.1 (every RSA signature OID)
_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----")


def _der(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("neither PEM nor base64") from exc


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """The app's private key: PEM (PKCS#1 or PKCS#8) or the bare base64 Alipay's key tool writes."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty")
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        key = serialization.load_der_private_key(_der(text), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """Alipay's public key: PEM or bare base64 (SubjectPublicKeyInfo)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty")
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
    else:
        key = serialization.load_der_public_key(_der(text))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def load_certificates(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM file, in file order (at least one) — except one ``cryptography`` cannot parse
    that is not RSA-signed (no SN counts it): production's root file holds an ECDSA root whose algorithm carries
    a NULL parameter, which ``cryptography`` refuses."""
    blocks = _PEM_CERTIFICATE.findall(pem) if isinstance(pem, str) else []
    if not blocks:
        raise ValueError("no PEM certificate")
    certificates = []
    for block in blocks:
        try:
            certificates.append(x509.load_pem_x509_certificate(block.encode()))
        except ValueError:
            if PKCS1_OID in _der(block.split("-----")[2]):  # it may be RSA-signed: an SN would miss it
                raise
    if not certificates:
        raise ValueError("no certificate readable")
    return certificates


def cert_sn(cert: x509.Certificate) -> str:
    """Alipay's SN of one certificate (``app_cert_sn``, ``alipay_cert_sn``)."""
    return hashlib.md5((cert.issuer.rfc4514_string() + str(cert.serial_number)).encode()).hexdigest()


def root_cert_sn(certs: list[x509.Certificate]) -> str:
    """Alipay's SN of its root certificate file (``alipay_root_cert_sn``)."""
    return "_".join(
        cert_sn(cert) for cert in certs if cert.signature_algorithm_oid.dotted_string.startswith(RSA_SIGNATURES)
    )
