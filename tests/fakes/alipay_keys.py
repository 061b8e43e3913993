"""Keys and X.509 certificates for the fake Alipay gateway, generated fresh for every fake.

Alipay's open platform has two ways to sign: the plain "public key" mode (the app uploads its RSA public key and
downloads Alipay's) and the "public key certificate" mode (公钥证书), which money transfers require. In certificate
mode every request carries two fingerprints that Alipay checks:

* ``app_cert_sn`` — the "SN" of the app's certificate: md5 hex of the issuer DN written ``CN=…,OU=…,O=…,C=…``
  followed by the certificate's serial number in decimal;
* ``alipay_root_cert_sn`` — the SNs of the RSA certificates in Alipay's root certificate file, joined by ``_``
  (the file also holds roots signed with other algorithms — SM2 in production — which are skipped);

and every answer carries ``alipay_cert_sn``, the SN of Alipay's own certificate. The formulas here are written
independently of python-alipay-sdk (``DCAliPay.get_cert_sn`` / ``get_root_cert_sn``); the tests check they agree.

The chain mirrors production's shape with test names: a root "R1" issues an intermediate "Class 2 R1", which
issues the app's and Alipay's certificates; Alipay's certificate file holds its certificate followed by the
intermediate; the root file holds R1, an ECDSA root (standing in for the SM2 root, which ``cryptography`` cannot
make) and a second RSA root "R2", separated by blank lines as in the real file. The CA is made once per process;
every fake gets fresh key pairs and certificates.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import NameOID

_RSA_SIGNATURE_OIDS = frozenset(
    {
        x509.oid.SignatureAlgorithmOID.RSA_WITH_MD5,
        x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA1,
        x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA224,
        x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256,
        x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA384,
        x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA512,
    }
)


@dataclass(frozen=True)
class AlipayKeyMaterial:
    """Everything one fake merchant app and its fake Alipay need; all PEM text."""

    app_private_key_pem: str
    app_public_key_pem: str
    alipay_private_key_pem: str
    alipay_public_key_pem: str
    root_cert_pem: str
    app_cert_pem: str
    alipay_cert_pem: str
    app_cert_sn: str
    alipay_cert_sn: str
    alipay_root_cert_sn: str


def new_rsa_key() -> rsa.RSAPrivateKey:
    """An RSA 2048 key, the size Alipay's key tool makes."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"), the form python-alipay-sdk's README shows."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def public_key_pem(key: rsa.RSAPrivateKey) -> str:
    """SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY")."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "clock_app tests"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: x509.Name,
    public_key: PublicKeyTypes,
    issuer: x509.Name,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _issuer_dn(cert: x509.Certificate) -> str:
    """The issuer as Alipay's SN formula writes it: ``CN=…,OU=…,O=…,C=…`` ("None" for a missing part)."""

    def part(oid: x509.ObjectIdentifier) -> str:
        values = cert.issuer.get_attributes_for_oid(oid)
        return str(values[0].value) if values else "None"

    common_name, unit = part(NameOID.COMMON_NAME), part(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return f"CN={common_name},OU={unit},O={part(NameOID.ORGANIZATION_NAME)},C={part(NameOID.COUNTRY_NAME)}"


def _sn(cert: x509.Certificate) -> str:
    return hashlib.md5((_issuer_dn(cert) + str(cert.serial_number)).encode()).hexdigest()


def cert_sn(pem: str) -> str:
    """Alipay's SN of the first certificate in ``pem`` (app_cert_sn / alipay_cert_sn)."""
    return _sn(x509.load_pem_x509_certificate(pem.encode()))


def root_cert_sn(chain_pem: str) -> str:
    """Alipay's SN of a root certificate file: the RSA-signed certificates' SNs joined by ``_``, in file order."""
    certs = x509.load_pem_x509_certificates(chain_pem.encode())
    return "_".join(_sn(cert) for cert in certs if cert.signature_algorithm_oid in _RSA_SIGNATURE_OIDS)


@dataclass(frozen=True)
class _TestCA:
    root_file: str
    intermediate_name: x509.Name
    intermediate_key: rsa.RSAPrivateKey
    intermediate_pem: str


@functools.cache
def _test_ca() -> _TestCA:
    """The certificate authority, made once per process (as Alipay's roots are shared by every merchant)."""
    root_key, intermediate_key, second_root_key = new_rsa_key(), new_rsa_key(), new_rsa_key()
    ecc_root_key = ec.generate_private_key(ec.SECP256R1())

    root_name = _name("Fake Alipay Test Certification Authority R1", "Certification Authority")
    root = _certificate(root_name, root_key.public_key(), root_name, root_key, ca=True)
    ecc_root_name = _name("Fake Alipay Test Certification Authority E1", "Certification Authority")
    ecc_root = _certificate(ecc_root_name, ecc_root_key.public_key(), ecc_root_name, ecc_root_key, ca=True)
    second_root_name = _name("Fake Alipay Test Certification Authority R2", "Certification Authority")
    second_root = _certificate(
        second_root_name, second_root_key.public_key(), second_root_name, second_root_key, ca=True
    )
    intermediate_name = _name("Fake Alipay Test Certification Authority Class 2 R1", "Certification Authority")
    intermediate = _certificate(intermediate_name, intermediate_key.public_key(), root_name, root_key, ca=True)
    root_file = "\n".join(_pem(cert) for cert in (root, ecc_root, second_root))
    return _TestCA(root_file, intermediate_name, intermediate_key, _pem(intermediate))


def generate_key_material() -> AlipayKeyMaterial:
    """Fresh key pairs for the app and Alipay, and their certificates from the process's test CA."""
    ca = _test_ca()
    app_key, alipay_key = new_rsa_key(), new_rsa_key()
    app_cert = _certificate(
        _name("clock_app fake merchant app", "Alipay Open Platform"), app_key.public_key(),
        ca.intermediate_name, ca.intermediate_key, ca=False,
    )  # fmt: skip
    alipay_cert = _certificate(
        _name("Fake Alipay (支付宝) gateway", "Alipay Open Platform"), alipay_key.public_key(),
        ca.intermediate_name, ca.intermediate_key, ca=False,
    )  # fmt: skip
    return AlipayKeyMaterial(
        app_private_key_pem=private_key_pem(app_key),
        app_public_key_pem=public_key_pem(app_key),
        alipay_private_key_pem=private_key_pem(alipay_key),
        alipay_public_key_pem=public_key_pem(alipay_key),
        root_cert_pem=ca.root_file,
        app_cert_pem=_pem(app_cert),
        alipay_cert_pem=_pem(alipay_cert) + ca.intermediate_pem,
        app_cert_sn=_sn(app_cert),
        alipay_cert_sn=_sn(alipay_cert),
        alipay_root_cert_sn=root_cert_sn(ca.root_file),
    )
