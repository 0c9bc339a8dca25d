# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""Certificate material: PKCS#12 split, PEM parsing, key match, chain order, checks.

Runs on the Ansible controller and needs ``cryptography`` (>= ``CRYPTOGRAPHY_MIN_VERSION``).
The import is guarded so that ``ansible-test sanity`` can import this file without it;
callers check ``HAS_CRYPTOGRAPHY`` and report ``CRYPTOGRAPHY_IMPORT_ERROR``.

Failures raise ``RclCertificateError`` whose ``check`` is one of:

``pkcs12``
    the PKCS#12 data cannot be opened (wrong password, truncated, not PKCS#12) or holds
    no key or no certificate.
``pem``
    PEM data cannot be parsed.
``key_match``
    the private key does not belong to the leaf certificate.
``chain_order``
    the intermediates do not form a chain from the leaf (issuer/subject links and
    signatures).
``validity``
    the leaf is expired or not yet valid.
``names``
    the leaf does not cover the wanted name.

No message ever contains a password, a private key or the raw input data.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import traceback
import typing as t
from dataclasses import dataclass, field

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclCertificateError, RclInputError

__all__ = [
    "CRYPTOGRAPHY_IMPORT_ERROR",
    "CRYPTOGRAPHY_MIN_VERSION",
    "CertificateBundle",
    "HAS_CRYPTOGRAPHY",
    "cert_metadata",
    "cert_names",
    "check_bundle",
    "covers_names",
    "fingerprint_sha256",
    "is_self_signed",
    "key_matches",
    "load_certificates_pem",
    "load_pem_bundle",
    "load_pkcs12",
    "load_private_key_pem",
    "make_csr",
    "make_pkcs12",
    "new_private_key",
    "not_after",
    "not_before",
    "order_chain",
    "private_key_pem",
    "signed_by",
]

CRYPTOGRAPHY_MIN_VERSION = "3.3"

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtensionOID, NameOID
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

if t.TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

_UTC = datetime.timezone.utc
_PEM_CERT_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


@dataclass
class CertificateBundle:
    """A private key (optional: read-only inspection has none), its leaf, and the chain.

    ``chain`` holds the intermediates, the leaf's issuer first, without a self-signed root.
    """

    key: PrivateKeyTypes | None = field(repr=False)
    leaf: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        if self.key is None:
            raise RclInputError("The certificate bundle holds no private key.")
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def cert_pem(self) -> bytes:
        """The leaf certificate as PEM."""
        return self.leaf.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        """The intermediates as concatenated PEM (``b""`` when there are none)."""
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in self.chain)

    def fullchain_pem(self) -> bytes:
        """Leaf followed by the intermediates."""
        return self.cert_pem() + self.chain_pem()


# --- time helpers --------------------------------------------------------------------


def _utc(value: datetime.datetime | None) -> datetime.datetime:
    """``now`` as an aware UTC datetime; a naive value is taken as UTC."""
    if value is None:
        return datetime.datetime.now(_UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=_UTC)
    return value.astimezone(_UTC)


def not_before(cert: x509.Certificate) -> datetime.datetime:
    """The certificate's notBefore as an aware UTC datetime (any cryptography version)."""
    value = getattr(cert, "not_valid_before_utc", None)
    if value is None:
        value = cert.not_valid_before.replace(tzinfo=_UTC)
    return t.cast(datetime.datetime, value)


def not_after(cert: x509.Certificate) -> datetime.datetime:
    """The certificate's notAfter as an aware UTC datetime (any cryptography version)."""
    value = getattr(cert, "not_valid_after_utc", None)
    if value is None:
        value = cert.not_valid_after.replace(tzinfo=_UTC)
    return t.cast(datetime.datetime, value)


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _colon_hex(data: bytes) -> str:
    return ":".join("%02X" % byte for byte in bytearray(data))


# --- loading -------------------------------------------------------------------------


def _password_bytes(password: str | bytes | None) -> bytes | None:
    if password is None:
        return None
    if isinstance(password, bytes):
        return password
    return password.encode("utf-8")


def load_certificates_pem(data: bytes) -> list[x509.Certificate]:
    """All certificates in ``data`` (several PEM blocks), in file order.

    Empty (or whitespace-only) data gives ``[]``; anything else without a parsable
    certificate raises ``RclCertificateError(check="pem")``.
    """
    if not data or not data.strip():
        return []
    loader = getattr(x509, "load_pem_x509_certificates", None)
    try:
        if loader is not None:
            return list(loader(data))
        blocks = _PEM_CERT_RE.findall(data)
        if not blocks:
            raise ValueError("no certificate")
        return [x509.load_pem_x509_certificate(block) for block in blocks]
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise RclCertificateError("The data is not a PEM certificate or holds a damaged one.", check="pem") from None


def load_private_key_pem(data: bytes, password: str | bytes | None = None) -> PrivateKeyTypes:
    """A PEM private key (PKCS#1, SEC1 or PKCS#8; encrypted when ``password`` is given)."""
    try:
        return serialization.load_pem_private_key(data, _password_bytes(password) or None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise RclCertificateError(
            "Could not load the private key: it is not a PEM private key, it is damaged, "
            "or the password is wrong or missing.",
            check="pem",
        ) from None


def load_pkcs12(data: bytes, password: str | bytes | None) -> CertificateBundle:
    """Split a PKCS#12 (PFX) into key, leaf and ordered chain (see ``order_chain``).

    An empty or missing password tries both "no password" and the empty password, as
    PKCS#12 writers disagree on which one "no password" means. The leaf is the
    certificate that matches the key (the one PKCS#12 pairs with it, else any); when none
    matches, the single end-entity certificate is taken and ``check_bundle`` reports the
    key mismatch.
    """
    secret = _password_bytes(password)
    candidates: list[bytes | None] = [secret] if secret else [None, b""]
    loaded = None
    for candidate in candidates:
        try:
            loaded = pkcs12.load_key_and_certificates(data, candidate)
            break
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    if loaded is None:
        raise RclCertificateError(
            "Could not open the PKCS#12 bundle: the password is wrong, or the data is "
            "truncated or not PKCS#12.",
            check="pkcs12",
        )
    key, cert, additional = loaded
    if key is None:
        raise RclCertificateError("The PKCS#12 bundle holds no private key.", check="pkcs12")
    others = list(additional or [])
    if cert is None or not key_matches(key, cert):
        matching = [other for other in others if key_matches(key, other)]
        if matching:
            if cert is not None:
                others.append(cert)
            cert = matching[0]
            others = [other for other in others if other is not cert]
    if cert is None:
        cert = _guess_leaf(others)
        if cert is None:
            raise RclCertificateError("The PKCS#12 bundle holds no certificate for its private key.", check="pkcs12")
        others = [other for other in others if other is not cert]
    # A mismatching key (cert still does not match) is left for check_bundle() to report.
    return CertificateBundle(key=t.cast("PrivateKeyTypes", key), leaf=cert, chain=order_chain(cert, others))


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS)
    except x509.ExtensionNotFound:
        return False
    return bool(t.cast(x509.BasicConstraints, ext.value).ca)


def _guess_leaf(certs: list[x509.Certificate]) -> x509.Certificate | None:
    """The only end-entity certificate among ``certs`` (not a CA, issuer of none), if unique."""
    leaves = [
        cert for cert in certs
        if not _is_ca(cert) and not any(other is not cert and other.issuer == cert.subject for other in certs)
    ]
    return leaves[0] if len(leaves) == 1 else None


def load_pem_bundle(
    cert_pem: bytes,
    chain_pem: bytes | None = None,
    key_pem: bytes | None = None,
    key_password: str | bytes | None = None,
    order: bool = False,
) -> CertificateBundle:
    """A bundle from PEM: ``cert_pem`` is the leaf, optionally followed by intermediates.

    ``chain_pem`` adds intermediates. ``key_pem`` may be None (read-only inspection).
    By default the chain keeps the order found in the files, so ``check_bundle`` can
    report a misordered deployment; ``order=True`` runs ``order_chain`` (for material
    downloaded from the service).
    """
    certs = load_certificates_pem(cert_pem)
    if not certs:
        raise RclCertificateError("No certificate found in the certificate PEM data.", check="pem")
    leaf = certs[0]
    chain = certs[1:] + (load_certificates_pem(chain_pem) if chain_pem else [])
    key = load_private_key_pem(key_pem, key_password) if key_pem else None
    if order:
        chain = order_chain(leaf, chain)
    return CertificateBundle(key=key, leaf=leaf, chain=chain)


def make_pkcs12(bundle: CertificateBundle, password: str | bytes | None, friendly_name: str) -> bytes:
    """A PKCS#12 with key, leaf and chain; encrypted with ``password`` when one is given."""
    if bundle.key is None:
        raise RclInputError("A PKCS#12 bundle needs the private key, and this bundle has none.")
    secret = _password_bytes(password)
    encryption: serialization.KeySerializationEncryption
    if secret:
        encryption = serialization.BestAvailableEncryption(secret)
    else:
        encryption = serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode("utf-8") if friendly_name else None,
        t.cast(t.Any, bundle.key),
        bundle.leaf,
        list(bundle.chain) or None,
        encryption,
    )


# --- keys and signatures -------------------------------------------------------------


def _spki(public_key: t.Any) -> bytes:
    return t.cast(
        bytes,
        public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
    )


def key_matches(key: PrivateKeyTypes, cert: x509.Certificate) -> bool:
    """True when ``key`` is the private half of ``cert``'s public key (SPKI DER compare)."""
    try:
        return _spki(key.public_key()) == _spki(cert.public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """Whether ``issuer``'s key signed ``cert``: True, False, or None when it cannot be told.

    Names are not compared here. RSA (PKCS#1 v1.5 and PSS), ECDSA, Ed25519, Ed448 and DSA
    are verified; other key or signature types give None.
    """
    try:
        public_key = issuer.public_key()
        hash_alg = cert.signature_hash_algorithm
        if isinstance(public_key, rsa.RSAPublicKey):
            if hash_alg is None:
                return None
            params = getattr(cert, "signature_algorithm_parameters", None)
            pad: t.Any = params if isinstance(params, (padding.PSS, padding.PKCS1v15)) else padding.PKCS1v15()
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, pad, hash_alg)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            if hash_alg is None:
                return None
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hash_alg))
        elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes)
        elif isinstance(public_key, dsa.DSAPublicKey):
            if hash_alg is None:
                return None
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, hash_alg)
        else:
            return None
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return True


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Name link plus signature (when the signature can be checked at all)."""
    return cert.issuer == issuer.subject and signed_by(cert, issuer) is not False


def is_self_signed(cert: x509.Certificate) -> bool:
    """Subject equals issuer and (where checkable) the certificate's own key signed it."""
    return _issued_by(cert, cert)


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def order_chain(leaf: x509.Certificate, certs: t.Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """Order ``certs`` into the leaf's chain: issuer of the leaf first, then its issuer, ...

    The walk follows issuer -> subject links and, where the key type allows, verifies
    each signature, so a same-named but foreign CA is not taken. Where two candidates
    fit, a signature-verified, not self-signed one is preferred (a cross-signed
    intermediate stays in the chain). The walk stops at a self-signed root, which is
    not included (clients have their own trust anchors), or when the next issuer is not
    among ``certs`` (normal: chains usually end below the root). Copies of the leaf,
    duplicates and certificates that do not belong to the chain are dropped.

    Raises ``RclCertificateError(check="chain_order")`` only when certificates were
    given (besides copies of the leaf), the leaf is not self-signed, and none of them
    issued the leaf: the material then does not belong to this leaf, and deploying the
    leaf without its issuer would break clients. Nothing given -> ``[]``.
    """
    leaf_fp = _fingerprint(leaf)
    remaining: list[x509.Certificate] = []
    seen = {leaf_fp}
    for cert in certs:
        fp = _fingerprint(cert)
        if fp not in seen:
            seen.add(fp)
            remaining.append(cert)
    chain: list[x509.Certificate] = []
    given = bool(remaining)
    issuer_found = False
    current = leaf
    while remaining and not is_self_signed(current):
        candidates = [cert for cert in remaining if _issued_by(current, cert)]
        if not candidates:
            break
        # Best first: verified signature, then not a self-signed root.
        candidates.sort(key=lambda cert: (signed_by(current, cert) is not True, is_self_signed(cert)))
        issuer = candidates[0]
        issuer_found = True
        remaining.remove(issuer)
        if is_self_signed(issuer):
            break
        chain.append(issuer)
        current = issuer
    if given and not issuer_found and not is_self_signed(leaf):
        raise RclCertificateError(
            "The chain certificates do not belong to the certificate: none of them issued it "
            "(its issuer is %s)." % leaf.issuer.rfc4514_string(),
            check="chain_order",
        )
    return chain


# --- names ---------------------------------------------------------------------------


def _normalize_dns(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    if name.isascii():
        return name
    labels = []
    for label in name.split("."):
        if label == "*" or label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


def _parse_ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip())
    except ValueError:
        return None


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return None
    return t.cast(x509.SubjectAlternativeName, ext.value)


def _common_names(cert: x509.Certificate) -> list[str]:
    return [str(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def cert_names(cert: x509.Certificate) -> list[str]:
    """DNS names then IP addresses from the SAN extension; the CN(s) when there is no SAN."""
    san = _san(cert)
    if san is None:
        return _common_names(cert)
    names = [str(name) for name in san.get_values_for_type(x509.DNSName)]
    names.extend(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return names


def _dns_covers(pattern: str, wanted: str) -> bool:
    """``pattern`` from the certificate covers ``wanted`` (both normalized)."""
    if not pattern or not wanted:
        return False
    if wanted.startswith("*."):
        return pattern == wanted  # a wanted wildcard needs the literal wildcard
    if pattern == wanted:
        return True
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        head, sep, tail = wanted.partition(".")
        return bool(sep) and bool(head) and tail == pattern[2:]
    return False


def _covers(cert: x509.Certificate, wanted: str) -> bool:
    wanted_ip = _parse_ip(wanted)
    san = _san(cert)
    if san is None:
        names = _common_names(cert)
        if wanted_ip is not None:
            return any(_parse_ip(name) == wanted_ip for name in names)
        return any(_dns_covers(_normalize_dns(name), _normalize_dns(wanted)) for name in names)
    if wanted_ip is not None:
        return any(ip == wanted_ip for ip in san.get_values_for_type(x509.IPAddress))
    target = _normalize_dns(wanted)
    return any(_dns_covers(_normalize_dns(name), target) for name in san.get_values_for_type(x509.DNSName))


def covers_names(cert: x509.Certificate, wanted: t.Iterable[str]) -> bool:
    """True when every wanted name is covered by the certificate.

    SANs are used; the CN only when the certificate has no SAN extension at all.
    Case-insensitive, trailing dots ignored, IDN names compared as A-labels.
    ``*.example.com`` in the certificate covers ``www.example.com`` but neither
    ``example.com`` nor ``a.b.example.com``; a wanted ``*.example.com`` is covered
    only by that literal wildcard. IP addresses match IP SANs.
    """
    return all(_covers(cert, name) for name in wanted)


# --- checks --------------------------------------------------------------------------


def check_bundle(bundle: CertificateBundle, certificate_name: str, now: datetime.datetime | None = None) -> None:
    """Run key_match (when there is a key), chain_order, validity and names, in that order.

    Raises ``RclCertificateError`` with ``check=`` the first failing check. Only the
    leaf's validity is checked (an expired cross-signed intermediate can be harmless).
    """
    leaf = bundle.leaf
    subject = leaf.subject.rfc4514_string()
    if bundle.key is not None and not key_matches(bundle.key, leaf):
        raise RclCertificateError(
            "The private key does not belong to the certificate (%s): their public keys differ." % subject,
            check="key_match",
        )
    current = leaf
    for position, issuer in enumerate(bundle.chain, start=1):
        if current.issuer != issuer.subject:
            raise RclCertificateError(
                "The chain is not in order: chain certificate %d (%s) is not the issuer of %s, "
                "which was issued by %s."
                % (position, issuer.subject.rfc4514_string(), current.subject.rfc4514_string(),
                   current.issuer.rfc4514_string()),
                check="chain_order",
            )
        if signed_by(current, issuer) is False:
            raise RclCertificateError(
                "The chain is broken: the signature of %s does not verify with the key of chain "
                "certificate %d (%s)." % (current.subject.rfc4514_string(), position, issuer.subject.rfc4514_string()),
                check="chain_order",
            )
        current = issuer
    moment = _utc(now)
    start, end = not_before(leaf), not_after(leaf)
    if moment < start:
        raise RclCertificateError(
            "The certificate is not valid yet: it becomes valid at %s (notBefore)." % _iso(start),
            check="validity",
            not_before=_iso(start),
        )
    if moment >= end:
        raise RclCertificateError(
            "The certificate has expired: it was valid until %s (notAfter)." % _iso(end),
            check="validity",
            not_after=_iso(end),
        )
    if not covers_names(leaf, [certificate_name]):
        raise RclCertificateError(
            "The certificate does not cover the name %s; it covers: %s."
            % (certificate_name, ", ".join(cert_names(leaf)) or "no names"),
            check="names",
            certificate_name=certificate_name,
        )


def _serial_hex(serial: int) -> str:
    sign = "-" if serial < 0 else ""
    digits = "%X" % abs(serial)
    if len(digits) % 2:
        digits = "0" + digits
    return sign + ":".join(digits[i:i + 2] for i in range(0, len(digits), 2))


def cert_metadata(cert: x509.Certificate, now: datetime.datetime | None = None) -> dict[str, t.Any]:
    """Facts about a certificate for module results (no secrets in a certificate)."""
    end = not_after(cert)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": _serial_hex(cert.serial_number),
        "sans": cert_names(cert) if _san(cert) is not None else [],
        "not_before": _iso(not_before(cert)),
        "not_after": _iso(end),
        "fingerprint_sha256": _colon_hex(_fingerprint(cert)),
        "days_remaining": (end - _utc(now)) // datetime.timedelta(days=1),
    }


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the DER certificate, without separators."""
    return _fingerprint(cert).hex()


def new_private_key(key_type: str = "rsa2048") -> PrivateKeyTypes:
    """A fresh private key for a CSR made here (``rsa2048``, ``rsa3072``, ``rsa4096``, ``ec256``, ``ec384``)."""
    if key_type.startswith("rsa") and key_type[3:] in ("2048", "3072", "4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    curves = {"ec256": ec.SECP256R1, "ec384": ec.SECP384R1}
    if key_type in curves:
        return ec.generate_private_key(curves[key_type]())
    raise RclInputError("key_type must be one of rsa2048, rsa3072, rsa4096, ec256, ec384, not %r" % key_type[:20])


def private_key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_csr(key: PrivateKeyTypes, names: t.Sequence[str]) -> bytes:
    """A PEM CSR for ``names`` (the first is the common name; all are DNS SANs), signed with SHA-256."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)  # type: ignore[arg-type]
