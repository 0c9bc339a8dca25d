# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared unit-test fixtures.

``pki`` builds real certificate material with ``cryptography`` (nothing pasted): a
self-signed root CA, intermediates, a leaf (RSA or EC) with the SANs and validity
asked for, and a password-protected PKCS#12 whose extra certificates are shuffled.

``clock`` is a fake clock that moves only when the code under test sleeps.

``api_adapter`` builds an API generation's adapter against the local ``httpserver``;
``body`` reads a canned reply from ``fixtures/<version>/`` (the documented examples).
"""

from __future__ import annotations

import datetime
import json
import os
import random
import typing as t
from dataclasses import dataclass, field

import pytest

UTC = datetime.timezone.utc


@dataclass
class Pki:
    """Material from the ``pki`` fixture. ``intermediates`` is in chain order (leaf's issuer first)."""

    root_key: t.Any = field(repr=False)
    root: t.Any
    intermediate_keys: list[t.Any] = field(repr=False)
    intermediates: list[t.Any]
    leaf_key: t.Any = field(repr=False)
    leaf: t.Any
    password: str = field(repr=False)
    pkcs12: bytes = field(repr=False)
    pkcs12_extra: list[t.Any] = field(repr=False)  # the shuffled order stored in the PKCS#12

    def pem(self, *certs: t.Any) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)

    def key_pem(self, key: t.Any = None) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return (key or self.leaf_key).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )


class _KeyCache:
    """RSA generation is the slow part: one key per (type, slot), reused by every test."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], t.Any] = {}

    def get(self, key_type: str, slot: str) -> t.Any:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        if (key_type, slot) not in self._keys:
            if key_type == "rsa":
                self._keys[(key_type, slot)] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            elif key_type == "ec":
                self._keys[(key_type, slot)] = ec.generate_private_key(ec.SECP256R1())
            elif key_type == "ec384":
                self._keys[(key_type, slot)] = ec.generate_private_key(ec.SECP384R1())
            else:
                raise ValueError(key_type)
        return self._keys[(key_type, slot)]


def _build_cert(subject_cn: str, key: t.Any, issuer_cert: t.Any, issuer_key: t.Any, *, ca: bool,
                sans: t.Sequence[str] | None, not_before: datetime.datetime, not_after: datetime.datetime,
                serial: int | None = None, org: str = "RCL Test") -> t.Any:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, subject_cn),
    ])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        names: list[x509.GeneralName] = []
        for name in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                names.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    signer = issuer_key if issuer_key is not None else key
    algorithm = hashes.SHA384() if isinstance(signer, ec.EllipticCurvePrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm)


@pytest.fixture(scope="session")
def _pki_keys() -> _KeyCache:
    return _KeyCache()


@pytest.fixture
def pki(_pki_keys: _KeyCache) -> t.Callable[..., Pki]:
    """Factory: ``pki(key_type="rsa"|"ec", sans=[...], common_name=None, not_before=None,
    not_after=None, intermediates=1, ca_key_type="rsa", password="...", include_root=True,
    extra=(), name="RCL Test")``.

    Validity defaults to 30 days back .. 60 days ahead. ``extra`` certificates are added
    to the PKCS#12 too; the PKCS#12's extra certificates are in a shuffled order that is
    never the chain order.
    """
    def build(key_type: str = "rsa", sans: t.Sequence[str] | None = ("www.example.com",),
              common_name: str | None = None, not_before: datetime.datetime | None = None,
              not_after: datetime.datetime | None = None, intermediates: int = 1, ca_key_type: str = "rsa",
              password: str = "Pfx-Pa55word!", include_root: bool = True, extra: t.Sequence[t.Any] = (),
              name: str = "RCL Test") -> Pki:
        from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

        now = datetime.datetime.now(UTC).replace(microsecond=0)
        ca_start, ca_end = now - datetime.timedelta(days=365), now + datetime.timedelta(days=3650)
        root_key = _pki_keys.get(ca_key_type, name + "/root")
        root = _build_cert(name + " Root CA", root_key, None, None, ca=True, sans=None,
                           not_before=ca_start, not_after=ca_end, org=name)
        issuer, issuer_key = root, root_key
        chain_top_down = []
        keys_top_down = []
        for level in range(intermediates):
            int_key = _pki_keys.get(ca_key_type if level % 2 == 0 else "ec384", "%s/int%d" % (name, level))
            cert = _build_cert("%s Intermediate %d" % (name, level + 1), int_key, issuer, issuer_key, ca=True,
                               sans=None, not_before=ca_start, not_after=ca_end, org=name)
            chain_top_down.append(cert)
            keys_top_down.append(int_key)
            issuer, issuer_key = cert, int_key
        leaf_key = _pki_keys.get(key_type, name + "/leaf")
        cn = common_name or (list(sans)[0] if sans else "leaf.example.com")
        leaf = _build_cert(cn, leaf_key, issuer, issuer_key, ca=False, sans=sans,
                           not_before=not_before or now - datetime.timedelta(days=30),
                           not_after=not_after or now + datetime.timedelta(days=60), org=name)
        chain = list(reversed(chain_top_down))
        stored = chain + ([root] if include_root else []) + list(extra)
        shuffled = list(stored)
        rng = random.Random(4711)
        if len(shuffled) > 1:
            while shuffled == stored:
                rng.shuffle(shuffled)
        blob = pkcs12.serialize_key_and_certificates(
            b"test", leaf_key, leaf, shuffled or None, BestAvailableEncryption(password.encode())
        )
        return Pki(root_key=root_key, root=root, intermediate_keys=list(reversed(keys_top_down)),
                   intermediates=chain, leaf_key=leaf_key, leaf=leaf, password=password, pkcs12=blob,
                   pkcs12_extra=shuffled)

    return build


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# ---------------------------------------------------------------------------
# API generations: canned replies, credentials, adapters against ``httpserver``

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SID = "sub_df45ghfh463nfhh"
API_KEY = "45ref546-67rf-65ytr-65tr-546trfred"
CLIENT_ID = "client-1"
CLIENT_SECRET = "cl13nt~S3cret.value"
TOKEN = "eyJ0eXAiOiJKV1Q.test-access-token.O4J411Fzg"  # the access_token of fixtures/v6/token.json
TOKEN_PATH = "/tenant-1/oauth2/v2.0/token"
AUTH_V6 = {"Authorization": "Bearer %s" % TOKEN}
AUTH_KEY = {"Authorization": "Bearer %s" % API_KEY}  # V7, V8
#: the path of each generation's base URL (as in its default URL)
API_PREFIX = {"v6": "/production/ssl/core/v1", "v7": "/public", "v8": "/prod/v3/ssl/certificate/subscription"}


def body(path: str) -> str:
    """The text of a canned reply: ``body("v7/order.json")``."""
    with open(os.path.join(FIXTURES, path), encoding="utf-8") as f:
        return f.read()


def body_json(path: str) -> t.Any:
    return json.loads(body(path))


def serve_token(httpserver: t.Any, token: str = TOKEN) -> None:
    """Answer the V6 token endpoint with ``token`` (an hour's lifetime), as often as asked."""
    httpserver.expect_request(TOKEN_PATH, method="POST").respond_with_json(
        {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
    )


def token_requests(httpserver: t.Any) -> int:
    return sum(1 for request, _response in httpserver.log if request.path == TOKEN_PATH)


@pytest.fixture
def api_adapter(httpserver: t.Any, clock: FakeClock) -> t.Callable[[str], t.Any]:
    """Factory: ``api_adapter("v6"|"v7"|"v8")``, that generation's adapter against ``httpserver``.

    The base URL ends in a slash (the adapter must strip it). The transport makes no
    retries (retry policy is tested in ``test__http.py`` only) and sleeps on ``clock``.
    V6 gets its token from ``httpserver`` (served by ``serve_token``), its expiry
    measured on ``clock``; V7 and V8 send ``API_KEY``.
    """
    from ansible_collections.rcl.ssl.plugins.module_utils._api.generations import generation
    from ansible_collections.rcl.ssl.plugins.module_utils._auth import ApiKeyAuth, Auth, ClientCredentialsAuth
    from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

    def build(version: str) -> t.Any:
        transport = HttpTransport(timeout=5, retries=0, sleep=clock.sleep)
        auth: Auth
        if version == "v6":
            serve_token(httpserver)
            token_url = httpserver.url_for(TOKEN_PATH)
            auth = ClientCredentialsAuth(transport, token_url, CLIENT_ID, CLIENT_SECRET, clock=clock)
        else:
            auth = ApiKeyAuth(API_KEY)
        return generation(version)(transport, auth, httpserver.url_for(API_PREFIX[version] + "/"), SID)

    return build
