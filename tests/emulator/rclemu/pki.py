"""Key, certificate, CSR and PKCS#12 helpers (cryptography only)."""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .common import utcnow, write_file

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(key_type: str = "rsa2048") -> PrivateKey:
    if key_type == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError("unknown key type %r (rsa2048 or ec256)" % key_type)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_key(pem: bytes | str) -> PrivateKey:
    if isinstance(pem, str):
        pem = pem.encode()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
    return key


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_certs(pem: bytes | str) -> list[x509.Certificate]:
    if isinstance(pem, str):
        pem = pem.encode()
    if not pem.strip():
        return []
    return x509.load_pem_x509_certificates(pem)


def san_names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return ext.value.get_values_for_type(x509.DNSName)


@dataclass
class CA:
    key: PrivateKey
    cert: x509.Certificate

    @classmethod
    def load(cls, cert_path: str, key_path: str) -> "CA":
        with open(cert_path, "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        with open(key_path, "rb") as fh:
            key = load_key(fh.read())
        return cls(key, cert)

    def save(self, cert_path: str, key_path: str) -> None:
        write_file(cert_path, cert_pem(self.cert), 0o644)
        write_file(key_path, key_pem(self.key), 0o600)


def _name(cn: str, org: str = "RCL SSL sandbox") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_root_ca(cn: str, days: int = 3650) -> CA:
    key = ec.generate_private_key(ec.SECP256R1())
    now = utcnow()
    name = _name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(hours=1))
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CA(key, cert)


def make_intermediate_ca(parent: CA, cn: str, days: int = 3000) -> CA:
    key = ec.generate_private_key(ec.SECP256R1())
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(parent.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(hours=1))
        .not_valid_after(min(now + _dt.timedelta(days=days), parent.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()), critical=False)
        .sign(parent.key, hashes.SHA256())
    )
    return CA(key, cert)


def issue_leaf(issuer: CA, key: PrivateKey, names: Sequence[str], not_before: _dt.datetime,
               not_after: _dt.datetime, ips: Iterable[str] = ()) -> x509.Certificate:
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cn = names[0] if names else list(ips)[0]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )


def build_csr(key: PrivateKey, names: Sequence[str], subject: dict[str, str] | None = None) -> bytes:
    """CSR with the names as SANs (first name as CN) and optional subject fields
    from the V6 ``csrInfo`` (countryName only when it is a 2-letter code)."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, names[0])]
    subject = subject or {}
    mapping = [("countryName", NameOID.COUNTRY_NAME), ("state", NameOID.STATE_OR_PROVINCE_NAME),
               ("locality", NameOID.LOCALITY_NAME), ("organization", NameOID.ORGANIZATION_NAME),
               ("organizationUnit", NameOID.ORGANIZATIONAL_UNIT_NAME)]
    for field, oid in mapping:
        value = subject.get(field)
        if not isinstance(value, str) or not value.strip():
            continue
        if oid == NameOID.COUNTRY_NAME and len(value.strip()) != 2:
            continue
        attrs.append(x509.NameAttribute(oid, value.strip()[:64]))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attrs))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def make_pfx(name: str, key: PrivateKey, leaf: x509.Certificate | None, chain: Sequence[x509.Certificate],
             password: str) -> bytes:
    """PKCS#12 (key, leaf, chain). With ``leaf`` None the certificates all go in as
    additional ones, the first carrying the friendly name (used for a mismatched key)."""
    enc: serialization.KeySerializationEncryption
    if password:
        enc = serialization.BestAvailableEncryption(password.encode("utf-8"))
    else:
        enc = serialization.NoEncryption()
    cas: list[x509.Certificate | pkcs12.PKCS12Certificate] = list(chain)
    if leaf is None and cas:
        cas[0] = pkcs12.PKCS12Certificate(chain[0], name.encode("utf-8"))
    return pkcs12.serialize_key_and_certificates(name.encode("utf-8"), key, leaf, cas or None, enc)


def ensure_server_cert(dir_path: str, ca_cn: str, ips: Sequence[str] = ("127.0.0.1",),
                       dns: Sequence[str] = ("localhost",), days: int = 825,
                       regenerate_leaf: bool = True) -> tuple[str, str, str]:
    """A persistent local CA plus a TLS server certificate for loopback.

    Returns (ca_path, cert_path, key_path). The CA survives restarts; the
    leaf is regenerated unless told otherwise.
    """
    os.makedirs(dir_path, exist_ok=True)
    ca_path = os.path.join(dir_path, "ca.pem")
    ca_key_path = os.path.join(dir_path, "ca.key")
    if os.path.exists(ca_path) and os.path.exists(ca_key_path):
        ca = CA.load(ca_path, ca_key_path)
        if ca.cert.not_valid_after_utc < utcnow() + _dt.timedelta(days=30):
            ca = make_root_ca(ca_cn)
            ca.save(ca_path, ca_key_path)
    else:
        ca = make_root_ca(ca_cn)
        ca.save(ca_path, ca_key_path)
    cert_path = os.path.join(dir_path, "server.pem")
    key_path = os.path.join(dir_path, "server.key")
    if regenerate_leaf or not (os.path.exists(cert_path) and os.path.exists(key_path)):
        key = ec.generate_private_key(ec.SECP256R1())
        now = utcnow()
        leaf = issue_leaf(ca, key, list(dns), now - _dt.timedelta(minutes=5), now + _dt.timedelta(days=days),
                          ips=ips)
        write_file(key_path, key_pem(key), 0o600)
        write_file(cert_path, cert_pem(leaf) + cert_pem(ca.cert), 0o644)
    return ca_path, cert_path, key_path
