# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import base64
import datetime
import re

import pytest

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate as cert_mod  # noqa: E402
from ansible_collections.rcl.ssl.plugins.module_utils._certificate import (  # noqa: E402
    CertificateBundle,
    cert_metadata,
    cert_names,
    check_bundle,
    covers_names,
    key_matches,
    load_certificates_pem,
    load_pem_bundle,
    load_pkcs12,
    load_private_key_pem,
    make_pkcs12,
    order_chain,
)
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclCertificateError, RclInputError  # noqa: E402

UTC = datetime.timezone.utc


def fp(cert):
    return cert.fingerprint(hashes.SHA256())


def fps(certs):
    return [fp(c) for c in certs]


def test_import_guard_flags():
    assert cert_mod.HAS_CRYPTOGRAPHY is True
    assert cert_mod.CRYPTOGRAPHY_IMPORT_ERROR is None
    assert cert_mod.CRYPTOGRAPHY_MIN_VERSION == "3.3"


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
@pytest.mark.parametrize("ca_key_type", ["rsa", "ec"])
def test_pkcs12_split_orders_shuffled_chain_and_drops_root(pki, key_type, ca_key_type):
    material = pki(key_type=key_type, ca_key_type=ca_key_type, intermediates=3)
    # the fixture stored the extra certificates out of order, root included
    assert fps(material.pkcs12_extra) != fps(material.intermediates + [material.root])
    bundle = load_pkcs12(material.pkcs12, material.password)
    assert fp(bundle.leaf) == fp(material.leaf)
    assert fps(bundle.chain) == fps(material.intermediates)
    assert key_matches(bundle.key, bundle.leaf)
    check_bundle(bundle, "www.example.com")


def test_pkcs12_drops_unrelated_certificate(pki):
    stranger = pki(name="Other CA", intermediates=1)
    material = pki(intermediates=2, extra=[stranger.intermediates[0], stranger.root])
    bundle = load_pkcs12(material.pkcs12, material.password)
    assert fps(bundle.chain) == fps(material.intermediates)


def test_pkcs12_base64_pfxstring_like_the_api(pki):
    material = pki()
    pfx_string = base64.b64encode(material.pkcs12).decode()
    bundle = load_pkcs12(base64.b64decode(pfx_string), material.password)
    assert fp(bundle.leaf) == fp(material.leaf)


def test_pkcs12_wrong_password_does_not_leak(pki):
    material = pki()
    with pytest.raises(RclCertificateError) as exc:
        load_pkcs12(material.pkcs12, "not-the-password")
    assert exc.value.check == "pkcs12"
    assert "not-the-password" not in str(exc.value.to_result())
    assert material.password not in str(exc.value.to_result())


@pytest.mark.parametrize("data", ["truncated", "garbage", "empty"])
def test_pkcs12_damaged_data(pki, data):
    material = pki()
    blob = {"truncated": material.pkcs12[: len(material.pkcs12) // 2], "garbage": b"\x30\x82not a pfx" * 20,
            "empty": b""}[data]
    with pytest.raises(RclCertificateError) as exc:
        load_pkcs12(blob, material.password)
    assert exc.value.check == "pkcs12"
    assert material.password not in exc.value.msg


def test_pkcs12_without_password_and_without_key(pki):
    material = pki()
    bundle = load_pkcs12(material.pkcs12, material.password)
    open_blob = make_pkcs12(bundle, None, "x")
    assert fp(load_pkcs12(open_blob, None).leaf) == fp(material.leaf)
    assert fp(load_pkcs12(open_blob, "").leaf) == fp(material.leaf)
    no_key = pkcs12.serialize_key_and_certificates(b"x", None, material.leaf, None, serialization.NoEncryption())
    with pytest.raises(RclCertificateError) as exc:
        load_pkcs12(no_key, None)
    assert exc.value.check == "pkcs12"


def test_make_pkcs12_round_trip(pki):
    material = pki(key_type="ec", intermediates=2)
    bundle = load_pkcs12(material.pkcs12, material.password)
    blob = make_pkcs12(bundle, "new-secret", "www.example.com")
    with pytest.raises(RclCertificateError):
        load_pkcs12(blob, material.password)
    again = load_pkcs12(blob, "new-secret")
    assert again.key_pem() == bundle.key_pem()
    assert again.fullchain_pem() == bundle.fullchain_pem()
    parsed = pkcs12.load_pkcs12(blob, b"new-secret")
    assert parsed.cert.friendly_name == b"www.example.com"
    with pytest.raises(RclInputError):
        make_pkcs12(CertificateBundle(key=None, leaf=bundle.leaf), "x", "y")


def test_order_chain_rules(pki):
    material = pki(intermediates=2)
    i1, i2 = material.intermediates
    assert fps(order_chain(material.leaf, [material.root, i2, material.leaf, i1, i1])) == fps([i1, i2])
    assert order_chain(material.leaf, []) == []
    # the leaf's issuer is missing: the rest cannot be a chain for this leaf
    with pytest.raises(RclCertificateError) as exc:
        order_chain(material.leaf, [i2, material.root])
    assert exc.value.check == "chain_order"
    # only unrelated material
    stranger = pki(name="Other CA")
    with pytest.raises(RclCertificateError):
        order_chain(material.leaf, stranger.intermediates)
    # chain ends below the root when the root is not given: fine
    assert fps(order_chain(material.leaf, [i2, i1])) == fps([i1, i2])
    # a leaf issued directly by the root
    direct = pki(intermediates=0)
    assert order_chain(direct.leaf, [direct.root]) == []


def test_order_chain_signature_check_with_foreign_key(pki, monkeypatch):
    material = pki(intermediates=1)
    other = pki(name="Forged", intermediates=1, ca_key_type="ec")
    # a certificate with the right subject name but a foreign key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes as h

    real = material.intermediates[0]
    forged = (
        x509.CertificateBuilder().subject_name(real.subject).issuer_name(real.issuer)
        .public_key(other.intermediate_keys[0].public_key()).serial_number(7)
        .not_valid_before(real.not_valid_before_utc).not_valid_after(real.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(other.root_key, h.SHA256())
    )
    assert fps(order_chain(material.leaf, [forged, real])) == fps([real])
    with pytest.raises(RclCertificateError) as exc:
        order_chain(material.leaf, [forged])
    assert exc.value.check == "chain_order"
    with pytest.raises(RclCertificateError) as exc:
        check_bundle(CertificateBundle(key=material.leaf_key, leaf=material.leaf, chain=[forged]),
                     "www.example.com")
    assert exc.value.check == "chain_order"
    assert "signature" in exc.value.msg


def test_key_mismatch_detected(pki):
    material = pki(key_type="rsa")
    other = pki(key_type="ec")
    assert not key_matches(other.leaf_key, material.leaf)
    bundle = CertificateBundle(key=other.leaf_key, leaf=material.leaf, chain=list(material.intermediates))
    with pytest.raises(RclCertificateError) as exc:
        check_bundle(bundle, "www.example.com")
    assert exc.value.check == "key_match"
    assert "private key" in exc.value.msg


def test_pkcs12_with_mismatching_key_is_reported_by_check(pki):
    material = pki()
    other = pki(key_type="ec")
    # cryptography refuses to pair a foreign key with the cert: store the leaf as a plain bag
    blob = pkcs12.serialize_key_and_certificates(b"x", other.leaf_key, None,
                                                 list(material.intermediates) + [material.leaf],
                                                 serialization.NoEncryption())
    bundle = load_pkcs12(blob, None)
    assert fp(bundle.leaf) == fp(material.leaf)
    assert fps(bundle.chain) == fps(material.intermediates)
    with pytest.raises(RclCertificateError) as exc:
        check_bundle(bundle, "www.example.com")
    assert exc.value.check == "key_match"
    # the leaf stored as a plain bag next to its own key is found too
    blob = pkcs12.serialize_key_and_certificates(b"x", material.leaf_key, None,
                                                 [material.root, material.leaf] + list(material.intermediates),
                                                 serialization.NoEncryption())
    bundle = load_pkcs12(blob, None)
    assert fp(bundle.leaf) == fp(material.leaf)
    check_bundle(bundle, "www.example.com")


def test_chain_out_of_order_detected(pki):
    material = pki(intermediates=2)
    bundle = CertificateBundle(key=material.leaf_key, leaf=material.leaf, chain=list(reversed(material.intermediates)))
    with pytest.raises(RclCertificateError) as exc:
        check_bundle(bundle, "www.example.com")
    assert exc.value.check == "chain_order"
    assert "not in order" in exc.value.msg


def test_validity_bounds(pki):
    now = datetime.datetime.now(UTC)
    expired = pki(not_before=now - datetime.timedelta(days=100), not_after=now - datetime.timedelta(days=10))
    with pytest.raises(RclCertificateError) as exc:
        check_bundle(load_pkcs12(expired.pkcs12, expired.password), "www.example.com")
    assert exc.value.check == "validity"
    assert "expired" in exc.value.msg and "notAfter" in exc.value.msg
    future = pki(not_before=now + datetime.timedelta(days=2), not_after=now + datetime.timedelta(days=90))
    with pytest.raises(RclCertificateError) as exc:
        check_bundle(load_pkcs12(future.pkcs12, future.password), "www.example.com")
    assert exc.value.check == "validity"
    assert "not valid yet" in exc.value.msg and "notBefore" in exc.value.msg
    # exact bounds: not_before is valid, not_after is not
    ok = pki()
    bundle = load_pkcs12(ok.pkcs12, ok.password)
    check_bundle(bundle, "www.example.com", now=ok.leaf.not_valid_before_utc)
    check_bundle(bundle, "www.example.com", now=ok.leaf.not_valid_before_utc.replace(tzinfo=None))
    with pytest.raises(RclCertificateError):
        check_bundle(bundle, "www.example.com", now=ok.leaf.not_valid_after_utc)


def test_names_check_message(pki):
    material = pki(sans=["example.com", "www.example.com"])
    bundle = load_pkcs12(material.pkcs12, material.password)
    check_bundle(bundle, "WWW.Example.COM.")
    with pytest.raises(RclCertificateError) as exc:
        check_bundle(bundle, "mail.example.com")
    assert exc.value.check == "names"
    assert "mail.example.com" in exc.value.msg and "www.example.com" in exc.value.msg


@pytest.mark.parametrize(
    "sans, wanted, covered",
    [
        (["*.example.com"], "www.example.com", True),
        (["*.example.com"], "WWW.EXAMPLE.COM", True),
        (["*.example.com"], "example.com", False),
        (["*.example.com"], "a.b.example.com", False),
        (["*.example.com"], "*.example.com", True),
        (["*.Example.com"], "*.example.com", True),
        (["www.example.com"], "*.example.com", False),
        (["example.com", "www.example.com"], "*.example.com", False),
        (["example.com", "*.example.com"], "example.com", True),
        (["*.example.com"], "www.example.org", False),
        (["*.example.com"], "wwwexample.com", False),
        (["w*.example.com"], "www.example.com", False),
        (["xn--bcher-kva.example"], "bücher.example", True),
        (["192.0.2.10"], "192.0.2.10", True),
        (["192.0.2.10"], "192.0.2.11", False),
        (["2001:db8::1"], "2001:DB8:0::1", True),
    ],
)
def test_name_coverage(pki, sans, wanted, covered):
    material = pki(sans=sans, common_name="cn.example.net")
    assert covers_names(material.leaf, [wanted]) is covered
    assert covers_names(material.leaf, []) is True


def test_cn_only_used_without_san(pki):
    no_san = pki(sans=None, common_name="legacy.example.com")
    assert cert_names(no_san.leaf) == ["legacy.example.com"]
    assert covers_names(no_san.leaf, ["legacy.example.com"])
    with_san = pki(sans=["www.example.com"], common_name="legacy.example.com")
    assert not covers_names(with_san.leaf, ["legacy.example.com"])
    assert cert_names(with_san.leaf) == ["www.example.com"]


def test_cert_metadata_formats(pki):
    material = pki(sans=["www.example.com", "192.0.2.7"])
    leaf = material.leaf
    now = leaf.not_valid_before_utc + datetime.timedelta(days=10, hours=5)
    meta = cert_metadata(leaf, now=now)
    assert meta["subject"] == leaf.subject.rfc4514_string()
    assert meta["subject"].startswith("CN=www.example.com")
    assert meta["issuer"] == material.intermediates[0].subject.rfc4514_string()
    assert re.fullmatch(r"[0-9A-F]{2}(:[0-9A-F]{2})*", meta["serial"])
    assert int(meta["serial"].replace(":", ""), 16) == leaf.serial_number
    assert meta["sans"] == ["www.example.com", "192.0.2.7"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["not_before"])
    assert meta["not_after"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert meta["fingerprint_sha256"] == ":".join("%02X" % b for b in leaf.fingerprint(hashes.SHA256()))
    # 90 days total, 10 days 5 hours used -> 79 whole days and some hours left
    assert meta["days_remaining"] == 79
    expired = cert_metadata(leaf, now=leaf.not_valid_after_utc + datetime.timedelta(hours=1))
    assert expired["days_remaining"] == -1
    assert cert_metadata(pki(sans=None).leaf)["sans"] == []


def test_serial_format_like_openssl():
    assert cert_mod._serial_hex(0x1) == "01"
    assert cert_mod._serial_hex(0xABC) == "0A:BC"
    assert cert_mod._serial_hex(0x0102FF) == "01:02:FF"


def test_metadata_uses_naive_dates_on_old_cryptography(pki, monkeypatch):
    material = pki()

    class OldCert:
        def __init__(self, cert):
            self._cert = cert

        def __getattr__(self, name):
            if name in ("not_valid_after_utc", "not_valid_before_utc"):
                raise AttributeError(name)
            if name == "not_valid_after":
                return self._cert.not_valid_after_utc.replace(tzinfo=None)
            if name == "not_valid_before":
                return self._cert.not_valid_before_utc.replace(tzinfo=None)
            return getattr(self._cert, name)

    meta = cert_metadata(OldCert(material.leaf))
    assert meta["not_after"] == cert_metadata(material.leaf)["not_after"]


def test_pem_helpers_and_bundle_output(pki):
    material = pki(intermediates=2, key_type="ec")
    bundle = load_pkcs12(material.pkcs12, material.password)
    assert bundle.key_pem().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert bundle.cert_pem().count(b"BEGIN CERTIFICATE") == 1
    assert bundle.chain_pem().count(b"BEGIN CERTIFICATE") == 2
    assert bundle.fullchain_pem() == bundle.cert_pem() + bundle.chain_pem()
    assert CertificateBundle(key=None, leaf=bundle.leaf).chain_pem() == b""
    assert "PRIVATE" not in repr(bundle) and "key=" not in repr(bundle)

    parsed = load_certificates_pem(bundle.fullchain_pem())
    assert fps(parsed) == fps([material.leaf] + material.intermediates)
    assert load_certificates_pem(b"  \n") == []
    with pytest.raises(RclCertificateError) as exc:
        load_certificates_pem(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    assert exc.value.check == "pem"
    with pytest.raises(RclCertificateError):
        load_certificates_pem(bundle.key_pem())

    key = load_private_key_pem(material.key_pem())
    assert key_matches(key, material.leaf)
    encrypted = material.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"kpw"))
    assert key_matches(load_private_key_pem(encrypted, "kpw"), material.leaf)
    for password in (None, "wrong"):
        with pytest.raises(RclCertificateError) as exc:
            load_private_key_pem(encrypted, password)
        assert exc.value.check == "pem"
        assert "kpw" not in exc.value.msg


def test_manual_pem_split_without_new_loader(pki, monkeypatch):
    material = pki(intermediates=2)
    monkeypatch.delattr(cert_mod.x509, "load_pem_x509_certificates")
    data = material.pem(material.leaf, *material.intermediates).replace(b"\n", b"\r\n")
    assert fps(load_certificates_pem(data)) == fps([material.leaf] + material.intermediates)
    with pytest.raises(RclCertificateError):
        load_certificates_pem(b"hello")


def test_load_pem_bundle(pki):
    material = pki(intermediates=2)
    i1, i2 = material.intermediates
    # separate downloads: cert, cabundle (misordered), key
    bundle = load_pem_bundle(material.pem(material.leaf), material.pem(i2, i1), material.key_pem(), order=True)
    assert fps(bundle.chain) == fps([i1, i2])
    check_bundle(bundle, "www.example.com")
    # deployed files, inspected as they are: misorder is reported, no key needed
    as_deployed = load_pem_bundle(material.pem(material.leaf, i2, i1))
    assert as_deployed.key is None
    with pytest.raises(RclCertificateError) as exc:
        check_bundle(as_deployed, "www.example.com")
    assert exc.value.check == "chain_order"
    with pytest.raises(RclCertificateError) as exc:
        load_pem_bundle(b"")
    assert exc.value.check == "pem"
