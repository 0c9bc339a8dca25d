"""Servertastic reseller API v2 emulator: tokens and points, place, real DCV (DNS/FILE), EMAIL via admin,
cancel, reissue, faults, request log."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import time
from typing import Any, Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from emuclient import HERE, Sandbox, key_matches, openssl_verify, sans, wait_until

ST_SETTINGS = {"servertastic_queue_seconds": 0, "servertastic_validity_days": 90, "servertastic_start_points": 1000}
CONTACTS = {
    "%s_contact_%s" % (who, field): value
    for who in ("tech", "admin")
    for field, value in (("first_name", "Ada"), ("last_name", "Lovelace"), ("phone", "+44 20 7946 0000"),
                         ("email", "%s@example.test" % who), ("title", "Engineer"))
}
DATE_RE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"


def make_csr(cn: str, sans_: tuple[str, ...] = (), key: Any = None) -> tuple[Any, str]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "RCL")]))
    if sans_:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans_]), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


class St:
    """A small client for the emulated Servertastic API."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.url = sb.env["servertastic_url"]
        self.key = sb.env["servertastic_api_key"]

    def call(self, path: str, method: str = "GET", **params: Any) -> requests.Response:
        url = "%s/%s.json" % (self.url, path)
        if method == "GET":
            return self.sb.get(url, params=params)
        return self.sb.post(url, data=params)

    def ok(self, path: str, method: str = "GET", **params: Any) -> dict[str, Any]:
        resp = self.call(path, method, **params)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        assert resp.headers["Content-Type"].startswith("application/json")
        body = resp.json()
        assert "success" in body and "error" not in body, body
        return body

    def error(self, status: int, path: str, method: str = "GET", **params: Any) -> str:
        resp = self.call(path, method, **params)
        assert resp.status_code == status, (resp.status_code, resp.text)
        body = resp.json()
        assert set(body) == {"error"} and body["error"]["code"] == status, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        return body["error"]["message"]

    def points(self) -> int:
        return int(self.ok("account/review", api_key=self.key)["purchased_points"])

    def token(self, ref: str, product: str = "RapidSSL-12", **extra: Any) -> str:
        body = self.ok("order/generatetoken", api_key=self.key, st_product_code=product, end_customer_email="none",
                       reseller_unique_reference=ref, **extra)
        return str(body["order_token"])

    def place(self, token: str, csr: str, method: str = "DNS", **extra: Any) -> dict[str, Any]:
        params = dict(CONTACTS, order_token=token, dv_auth_method=method, csr=csr, exclude_addon="1", renewal="0")
        params.update(extra)
        return self.ok("order/place", "POST", **params)

    def review(self, token: str) -> dict[str, Any]:
        return self.ok("order/review", order_token=token)

    def approve(self, **body: Any) -> Any:
        return self.sb.admin_call("POST", "/servertastic/approve", body)

    def emailed(self, ref: str, cn: str, product: str = "RapidSSL-12", **extra: Any) -> tuple[str, Any]:
        """A completed EMAIL order (approved through the admin API): (token, key)."""
        token = self.token(ref, product)
        key, csr = make_csr(cn)
        self.place(token, csr, "EMAIL", approver_email_address="admin@" + cn.removeprefix("www."), **extra)
        self.approve(order_token=token)
        assert self.review(token)["order_status"] == "Completed"
        return token, key


@pytest.fixture()
def st(sandbox: Sandbox) -> Iterator[St]:
    sandbox.admin_call("POST", "/servertastic/reset")
    yield St(sandbox)
    sandbox.settings(**ST_SETTINGS)
    sandbox.admin_call("POST", "/servertastic/reset")


def leaf_and_chain(review: dict[str, Any]) -> tuple[x509.Certificate, list[x509.Certificate], list[x509.Certificate]]:
    leaf = x509.load_pem_x509_certificate(review["certificate"].encode())
    infos = review["ca_certs"]["certificate_info"]
    inters = [x509.load_pem_x509_certificate(i["certificate"].encode()) for i in infos if i["type"] == "INTERMEDIATE"]
    roots = [x509.load_pem_x509_certificate(i["certificate"].encode()) for i in infos if i["type"] == "ROOT"]
    return leaf, inters, roots


def test_env_products_and_bad_credentials(st: St) -> None:
    env = st.sb.env
    assert env["servertastic_url"] == env["base_url"] + "/servertastic"
    assert os.path.exists(env["servertastic_roots"])
    # 403 for a wrong or missing api_key / order_token, JSON error body with the same code
    assert "api_key" in st.error(403, "order/generatetoken", api_key="wrong", st_product_code="RapidSSL-12",
                                 end_customer_email="none", reseller_unique_reference="x")
    st.error(403, "order/generatetoken", st_product_code="RapidSSL-12", end_customer_email="none",
             reseller_unique_reference="x")
    st.error(403, "product/listproducts", api_key="wrong")
    st.error(403, "account/review", api_key="")
    st.error(403, "order/review", order_token="no-such-token")
    st.error(403, "order/review")
    st.error(403, "account/regenerateapikey", api_key=st.key)  # disabled in the sandbox
    products = {p["st_product_code"]: p for p in st.ok("product/listproducts", api_key=st.key,
                                                       product_group="SSL")["products"]}
    for code in ("RapidSSL-12", "RapidSSLWildcard-12", "PositiveSSL-12", "QuickSSLPremium-12", "SSL123-12"):
        assert products[code]["product_points"] > 0 and products[code]["product_validation"] == "DV"
        assert {"product_name", "min_san_count", "max_san_count", "max_server_count"} <= set(products[code])
    assert products["QuickSSLPremiumMD-12"]["max_san_count"] == 4
    assert st.ok("product/listproducts", api_key=st.key, product_group="SmarterTools")["products"] == []
    st.error(400, "product/listproducts", api_key=st.key, product_group="Nope")
    # unknown call: the emulator's plain 404
    assert st.call("order/nope", api_key=st.key).status_code == 404
    # JSON bodies are refused (form-encoded only)
    resp = st.sb.post(st.url + "/order/place.json", json={"order_token": "x"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 400


def test_generatetoken_points_duplicates_and_limits(st: St) -> None:
    assert st.points() == 1000
    body = st.ok("order/generatetoken", api_key=st.key, st_product_code="RapidSSL-12", end_customer_email="none",
                 reseller_unique_reference="ref-points-1")
    assert set(body) == {"success", "order_token", "reseller_order_id", "review_url", "product_code"}
    assert body["review_url"].endswith("/servertastic/token/" + body["order_token"])
    assert st.sb.get(body["review_url"]).status_code == 200
    assert st.points() == 990
    audit = st.ok("account/pointsaudit", api_key=st.key)["record"]
    assert audit[-1]["PointsAdjustment"] == -10 and audit[-1]["NewPointsTotal"] == 990
    assert audit[-1]["OrderReference"] == "ref-points-1"
    # the reference is the duplicate guard: refused, nothing charged
    assert "Duplicate" in st.error(400, "order/generatetoken", api_key=st.key, st_product_code="SSL123-12",
                                   end_customer_email="none", reseller_unique_reference="ref-points-1")
    assert st.points() == 990
    for bad in ({"reseller_unique_reference": "r" * 36}, {"reseller_unique_reference": ""},
                {"st_product_code": "NoSuchProduct-12"}, {"end_customer_email": "not-an-email"},
                {"san_count": "3"}, {"server_count": "2"}):
        params = dict(api_key=st.key, st_product_code="RapidSSL-12", end_customer_email="none",
                      reseller_unique_reference="ref-bad")
        params.update(bad)
        st.error(400, "order/generatetoken", **params)
    assert st.points() == 990
    # too few points
    assert st.ok("account/emptytestpoints", api_key=st.key)["new_total"] == 0
    assert "points" in st.error(400, "order/generatetoken", api_key=st.key, st_product_code="RapidSSL-12",
                                end_customer_email="none", reseller_unique_reference="ref-poor").lower()
    assert st.ok("account/addtestpoints", api_key=st.key, points=15)["new_total"] == 15
    st.token("ref-poor")  # 10 points
    assert "Insufficient" in st.error(400, "order/generatetoken", api_key=st.key, st_product_code="RapidSSL-12",
                                      end_customer_email="none", reseller_unique_reference="ref-poor-2")
    assert st.sb.admin_call("POST", "/servertastic/points", {"points": 500}) == {"points": 500}
    assert st.points() == 500
    # showtokens: both tokens unused so far
    tokens = st.ok("order/showtokens", api_key=st.key)
    unused = {t["reseller_unique_reference"] for t in tokens["unused_tokens"]["order_token"]}
    assert unused == {"ref-points-1", "ref-poor"}
    assert tokens["used_tokens"]["order_token"] == []


def test_place_validation_errors(st: St) -> None:
    token = st.token("ref-place-errors")
    _key, csr = make_csr("stplace.example.test")
    base = dict(CONTACTS, order_token=token, dv_auth_method="DNS", csr=csr, exclude_addon="1", renewal="0")

    def refused(message: str, drop: tuple[str, ...] = (), **override: Any) -> None:
        params = {k: v for k, v in base.items() if k not in drop}
        params.update(override)
        assert message in st.error(400, "order/place", "POST", **params)

    refused("tech_contact_phone", drop=("tech_contact_phone",))
    refused("admin_contact_title", drop=("admin_contact_title",))
    refused("admin_contact_email", admin_contact_email="nobody")
    refused("approver_email_address", dv_auth_method="EMAIL")
    refused("approver_email_address", dv_auth_method="EMAIL", approver_email_address="root@stplace.example.test")
    refused("dv_auth_method", dv_auth_method="CNAME")
    refused("dv_auth_method", drop=("dv_auth_method",))
    refused("csr", drop=("csr",))
    refused("CSR", csr="-----BEGIN CERTIFICATE REQUEST-----\nbm9wZQ==\n-----END CERTIFICATE REQUEST-----\n")
    refused("exclude_addon", exclude_addon="yes")
    refused("san_domains", san_domains="a.example.test")
    refused("wildcard", csr=make_csr("*.stplace.example.test")[1])
    assert st.call("order/place", "GET", **base).status_code == 405  # place is POST only
    st.error(403, "order/place", "POST", **dict(base, order_token="nope"))
    review = st.review(token)
    assert review["order_status"] == "Order Placed" and review["dv_auth_dns_string"] == ""
    assert st.review(token)["certificate"] == "" and review["ca_certs"] == {"certificate_info": []}
    # the wildcard product wants a wildcard CSR, and no FILE validation
    wild = st.token("ref-place-wild", "RapidSSLWildcard-12")
    refused("wildcard", order_token=wild)
    refused("wildcard", order_token=wild, csr=make_csr("*.stplace.example.test")[1], dv_auth_method="FILE")
    # approverlist: admin, administrator, hostmaster, postmaster, webmaster @ the base domain
    approvers = st.ok("order/approverlist", domain_name="www.stplace.example.test")["approver_email"]
    assert [a["email"] for a in approvers] == ["%s@stplace.example.test" % p for p in
                                               ("admin", "administrator", "hostmaster", "postmaster", "webmaster")]
    st.error(400, "order/approverlist")
    # productfields
    fields = st.ok("order/productfields", order_token=token)["product_fields"]
    assert fields[:2] == ["RapidSSL-12", "RapidSSL - 1 Years"]
    merged = {k: v for f in fields[2:] for k, v in f.items()}
    assert merged["dv_auth_method"]["options"] == ["EMAIL", "DNS", "FILE", "SFILE"]
    assert merged["tech_contact_first_name"]["required"] is True and merged["csr"]["required"] is True
    # finally a good place; a second one is refused
    placed = st.place(token, csr, "DNS")
    assert set(placed) == {"success", "reseller_order_id", "invite_url", "dns_string"}
    assert placed["success"] == "Order placed"
    assert "already been placed" in st.error(400, "order/place", "POST", **base)
    assert st.ok("order/showtokens", api_key=st.key)["used_tokens"]["order_token"][0]["token"] == token


def test_dns_flow_issues_leaf_from_own_ca(st: St) -> None:
    sb = st.sb
    token = st.token("ref-dns")
    body = st.ok("order/generatetoken", api_key=st.key, st_product_code="PositiveSSL-12", end_customer_email="none",
                 reseller_unique_reference="ref-dns-unused")
    assert body["order_token"] != token
    key, csr = make_csr("stdns.example.test", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    placed = st.place(token, csr, "DNS", exclude_addon="0")
    review = st.review(token)
    assert review["order_status"] == "Awaiting Customer Verification"
    assert review["dv_auth_method"] == "DNS" and review["dv_auth_dns_type"] == "TXT"
    assert review["dv_auth_dns_name"] == "stdns.example.test"
    assert review["dv_auth_dns_string"] == placed["dns_string"] and len(placed["dns_string"]) >= 16
    assert review["dv_auth_file_name"] == "fileauth.txt" and review["dv_auth_file_contents"]
    assert review["domain_name"] == "stdns.example.test"
    assert review["additional_sans"] == ["www.stdns.example.test"]
    assert review["certificate"] == "" and review["ca_certs"] == {"certificate_info": []}
    assert review["reissued_certificates"] == {"certificate_info": []}
    assert review["tech_contact"]["email"] == "tech@example.test" and review["admin_contact"]["title"] == "Engineer"
    assert review["organisation_info"]["name"] == "RCL"
    events = [m["event_name"] for m in review["modifications"]["modification"]]
    assert events[:2] == ["Order Token Generated", "Order Placed"]
    # not published yet: pollauth checks and the order stays
    assert st.ok("order/pollauth", order_token=token) == {"success": "Order Polled"}
    review = st.review(token)
    assert review["order_status"] == "Awaiting Customer Verification"
    assert "No TXT record" in review["order_state_further_info"]
    # publish (next to an SPF value: the client adds to the set) via RFC 2136, then poll
    sb.txt_set("example.test", "stdns", ["v=spf1 -all", placed["dns_string"]])
    try:
        assert st.ok("order/pollauth", order_token=token)["success"] == "Order Polled"
        review = st.review(token)
    finally:
        sb.txt_delete("example.test", "stdns")
    assert review["order_status"] == "Completed", review["order_state_further_info"]
    leaf, inters, roots = leaf_and_chain(review)
    assert [i["type"] for i in review["ca_certs"]["certificate_info"]] == ["INTERMEDIATE", "ROOT"]
    openssl_verify(leaf, inters, sb.env["servertastic_roots"])
    with open(sb.env["servertastic_roots"], "rb") as fh:
        assert x509.load_pem_x509_certificate(fh.read()) == roots[0]
    assert key_matches(key, leaf)
    assert sans(leaf) == ["stdns.example.test", "www.stdns.example.test"]
    assert re.match(DATE_RE, review["expiry_date"]) and re.match(DATE_RE, review["order_date"])
    expiry = dt.datetime.strptime(review["expiry_date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    assert abs((expiry - leaf.not_valid_after_utc).total_seconds()) < 1
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert dt.timedelta(days=89, hours=23) < lifetime <= dt.timedelta(days=90, minutes=2)
    assert "BEGIN PKCS7" in review["pkcs7"]
    # the account: 10 + 8 points spent, one completed order, one active (unplaced) token
    account = st.ok("account/review", api_key=st.key)
    assert account["purchased_points"] == 1000 - 10 - 8
    assert [o["reseller_order_id"] for o in account["completed_orders"]["completed_order"]] == [
        review["reseller_order_id"]]
    assert len(account["active_orders"]["active_order"]) == 1
    # pollauth after completion is harmless; expiring / modifiedorders see the order
    assert st.ok("order/pollauth", order_token=token)["success"] == "Order Polled"
    expiring = st.ok("order/expiring", api_key=st.key, days=91)["orders"]["order"]
    assert [o["domain_name"] for o in expiring] == ["stdns.example.test"]
    assert st.ok("order/expiring", api_key=st.key)["orders"]["order"] == []  # default 60 days
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    modified = st.ok("order/modifiedorders", api_key=st.key, date=since)
    assert {o["reseller_order_id"] for o in modified["orders"]["order"]} >= {review["reseller_order_id"]}
    assert re.match(DATE_RE, modified["data_accuracy"])
    st.error(400, "order/modifiedorders", api_key=st.key, date="yesterday")


def test_file_flow_and_sfile(st: St) -> None:
    sb = st.sb
    folder = os.path.join(sb.env["webroot"], ".well-known", "pki-validation")
    path = os.path.join(folder, "fileauth.txt")
    token = st.token("ref-file")
    key, csr = make_csr("www.stfile.example.test")
    placed = st.place(token, csr, "FILE", exclude_addon="0")
    assert set(placed) == {"success", "reseller_order_id", "invite_url", "file_name", "file_contents"}
    assert placed["file_name"] == "fileauth.txt"
    review = st.review(token)
    assert review["dv_auth_dns_name"] == "stfile.example.test"  # the base domain
    assert review["dv_auth_file_contents"] == placed["file_contents"]
    polled = st.ok("order/pollauth", order_token=token)
    assert "not found" in polled["status"].lower()
    try:
        with open(path, "w") as fh:
            fh.write(placed["file_contents"] + "\n")
        # the sandbox's http01 responder serves it for any Host
        resp = requests.get("http://127.0.0.1:%d/.well-known/pki-validation/fileauth.txt" % sb.env["http01_port"],
                            headers={"Host": "www.stfile.example.test"}, timeout=5)
        assert resp.status_code == 200 and resp.text.strip() == placed["file_contents"]
        assert resp.headers["Content-Type"].startswith("text/plain")
        polled = st.ok("order/pollauth", order_token=token)
        assert "match" in polled["status"]
        review = st.review(token)
        assert review["order_status"] == "Completed"
        leaf, inters, _roots = leaf_and_chain(review)
        openssl_verify(leaf, inters, sb.env["servertastic_roots"])
        assert key_matches(key, leaf)
        assert sans(leaf) == ["www.stfile.example.test", "stfile.example.test"]
        # SFILE (HTTPS file auth; the sandbox checks it over plain HTTP), exclude_addon=1: only the CSR name
        token2 = st.token("ref-sfile", "SSL123-12")
        key2, csr2 = make_csr("stsfile.example.test")
        placed2 = st.place(token2, csr2, "SFILE")
        with open(path, "w") as fh:
            fh.write("something else")
        assert "do not match" in st.ok("order/pollauth", order_token=token2)["status"]
        with open(path, "w") as fh:
            fh.write(placed2["file_contents"])
        review2 = st.review(token2)  # review checks too
    finally:
        if os.path.exists(path):
            os.unlink(path)
    assert review2["order_status"] == "Completed"
    leaf2, _inters, _roots = leaf_and_chain(review2)
    assert key_matches(key2, leaf2) and sans(leaf2) == ["stsfile.example.test"]


def test_email_flow_admin_approve_queue_and_changes(st: St) -> None:
    sb = st.sb
    token = st.token("ref-mail")
    key, csr = make_csr("stmail.example.test")
    placed = st.place(token, csr, "EMAIL", approver_email_address="admin@stmail.example.test")
    assert set(placed) == {"success", "reseller_order_id", "invite_url"}
    review = st.review(token)
    assert review["order_status"] == "Awaiting Customer Verification"
    assert review["approver_email_address"] == "admin@stmail.example.test"
    assert re.match(DATE_RE, review["approver_notified_date"])
    st.error(400, "order/pollauth", order_token=token)  # EMAIL orders are not polled
    assert st.ok("order/changeapproveremail", order_token=token, email="webmaster@stmail.example.test")["success"]
    st.error(400, "order/changeapproveremail", order_token=token, email="root@stmail.example.test")
    resent = st.ok("order/resendemail", order_token=token, email_type="Approver")
    assert resent["type"] == "Approver" and resent["email_sent_to"]["approver_email"] == "webmaster@stmail.example.test"
    st.error(400, "order/resendemail", order_token=token, email_type="Fulfillment")  # not completed yet
    # nothing to approve
    for body in ({"domain": "nothing.example.test"}, {"reference": "no-such-ref"}, {}):
        resp = requests.post(sb.admin + "/servertastic/approve", json=body, timeout=10)
        assert resp.status_code == 400, body
    # approve by domain, with a Queued phase of 1.5 s
    sb.settings(servertastic_queue_seconds=1.5)
    approved = st.approve(domain="stmail.example.test")["approved"]
    assert [a["reference"] for a in approved] == ["ref-mail"]
    assert st.review(token)["order_status"] == "Queued"

    def completed() -> dict | None:
        current = st.review(token)
        return current if current["order_status"] == "Completed" else None

    review = wait_until(completed, timeout=10)
    leaf, inters, _roots = leaf_and_chain(review)
    openssl_verify(leaf, inters, sb.env["servertastic_roots"])
    assert key_matches(key, leaf) and sans(leaf) == ["stmail.example.test"]
    resent = st.ok("order/resendemail", order_token=token, email_type="Fulfillment")
    assert resent["email_sent_to"]["tech_contact_email"] == "tech@example.test"
    resp = requests.post(sb.admin + "/servertastic/approve", json={"order_token": token}, timeout=10)
    assert resp.status_code == 400  # already done
    # changeauthmethod: DNS -> EMAIL, then approved by reference
    token2 = st.token("ref-mail-2")
    st.place(token2, make_csr("stmail2.example.test")[1], "DNS")
    st.error(400, "order/changeauthmethod", order_token=token2, dv_auth_method="FILE")
    assert st.ok("order/changeauthmethod", order_token=token2,
                 email_address="hostmaster@stmail2.example.test")["success"] == "DV Auth Method Updated"
    review2 = st.review(token2)
    assert review2["dv_auth_method"] == "EMAIL"
    assert review2["approver_email_address"] == "hostmaster@stmail2.example.test"
    st.approve(reference="ref-mail-2")
    assert wait_until(lambda: st.review(token2)["order_status"] == "Completed", timeout=10)
    orders = {o["reference"]: o for o in sb.admin_call("GET", "/servertastic/orders")}
    assert orders["ref-mail"]["status"] == "Completed" and orders["ref-mail"]["order_token"] == token
    assert orders["ref-mail"]["dv_auth_method"] == "EMAIL"


def test_cancel_gives_points_back(st: St) -> None:
    token = st.token("ref-cancel", "QuickSSLPremium-12")
    assert st.points() == 970
    assert st.ok("order/cancel", order_token=token)["success"] == "Order cancelled - ref-cancel"
    assert st.points() == 1000
    assert st.review(token)["order_status"] == "Cancelled"
    st.error(400, "order/cancel", order_token=token)
    fields = dict(CONTACTS, order_token=token, dv_auth_method="DNS", csr=make_csr("stcancel.example.test")[1])
    st.error(400, "order/place", "POST", **fields)
    # a placed, pending order can be cancelled as well; completed ones within 30 days
    token2 = st.token("ref-cancel-2")
    st.place(token2, make_csr("stcancel2.example.test")[1], "DNS")
    st.ok("order/cancel", order_token=token2)
    token3, _key = st.emailed("ref-cancel-3", "stcancel3.example.test")
    st.ok("order/cancel", order_token=token3)
    assert st.points() == 1000
    records = st.ok("account/pointsaudit", api_key=st.key)["record"]
    assert [r["PointsAdjustment"] for r in records] == [-30, 30, -10, 10, -10, 10]


def test_reissue(st: St) -> None:
    token, key = st.emailed("ref-reissue", "streissue.example.test")
    first = st.review(token)
    old_leaf = x509.load_pem_x509_certificate(first["certificate"].encode())
    st.error(400, "order/reissue", "POST", order_token=token, csr=make_csr("other.example.test")[1])  # other domain
    assert st.call("order/reissue", "GET", order_token=token).status_code == 405
    new_key, new_csr = make_csr("streissue.example.test")
    body = st.ok("order/reissue", "POST", order_token=token, csr=new_csr)
    assert set(body) == {"success", "dns_name", "dns_string", "file_name", "file_contents", "csr", "private_key"}
    assert body["private_key"] == "" and body["dns_name"] == "streissue.example.test"
    review = st.review(token)
    assert review["order_status"] == "Awaiting Customer Verification" and review["certificate"] == ""
    assert review["dv_auth_dns_string"] == body["dns_string"] != first["dv_auth_dns_string"]
    reissued = review["reissued_certificates"]["certificate_info"]
    assert len(reissued) == 1 and x509.load_pem_x509_certificate(reissued[0]["certificate"].encode()) == old_leaf
    st.error(400, "order/reissue", "POST", order_token=token, csr=new_csr)  # not completed now
    st.approve(order_token=token)
    review = st.review(token)
    assert review["order_status"] == "Completed"
    leaf, inters, _roots = leaf_and_chain(review)
    assert key_matches(new_key, leaf) and not key_matches(key, leaf)
    openssl_verify(leaf, inters, st.sb.env["servertastic_roots"])
    # without a CSR the API makes key + CSR and shows the key once; DNS this time
    body = st.ok("order/reissue", "POST", order_token=token, dv_auth_method="DNS")
    assert "PRIVATE KEY" in body["private_key"] and "CERTIFICATE REQUEST" in body["csr"]
    made_key = serialization.load_pem_private_key(body["private_key"].encode(), None)
    st.sb.txt_set("example.test", "streissue", [body["dns_string"]])
    try:
        st.ok("order/pollauth", order_token=token)
    finally:
        st.sb.txt_delete("example.test", "streissue")
    review = st.review(token)
    assert review["order_status"] == "Completed" and review["dv_auth_method"] == "DNS"
    assert key_matches(made_key, leaf_and_chain(review)[0])
    assert len(review["reissued_certificates"]["certificate_info"]) == 2


def test_advanceorder_and_invite(st: St) -> None:
    token = st.token("ref-advance")
    st.error(400, "order/advanceorder", order_token=token)  # not placed
    st.place(token, make_csr("stadvance.example.test")[1], "DNS")
    st.sb.settings(servertastic_queue_seconds=600)
    assert st.ok("order/advanceorder", order_token=token)["success"].startswith("Order was pushed")
    assert st.review(token)["order_status"] == "Queued"
    st.ok("order/advanceorder", order_token=token)
    assert st.review(token)["order_status"] == "Completed"
    st.error(400, "order/advanceorder", order_token=token)
    page = st.sb.get(st.url + "/token/" + token)
    assert page.status_code == 200 and "Completed" in page.text
    assert st.sb.get(st.url + "/token/unknown0").status_code == 404


def test_faults(st: St) -> None:
    sb = st.sb
    # 503 on review, then success
    token, key = st.emailed("ref-fault-503", "stfault.example.test")
    sb.fault(endpoint="servertastic.review", kind="status", status=503)
    assert st.call("order/review", order_token=token).status_code == 503
    assert st.review(token)["order_status"] == "Completed"
    # mismatched_key: one review carries a leaf with another key, the next one is right again
    sb.fault(endpoint="servertastic.review", kind="mismatched_key")
    bad = leaf_and_chain(st.review(token))[0]
    assert not key_matches(key, bad) and sans(bad) == ["stfault.example.test"]
    assert key_matches(key, leaf_and_chain(st.review(token))[0])
    # malformed_json on generatetoken: the token exists (points spent), the reply is broken
    sb.fault(endpoint="servertastic.generatetoken", kind="malformed_json")
    before = st.points()
    resp = st.call("order/generatetoken", api_key=st.key, st_product_code="RapidSSL-12", end_customer_email="none",
                   reseller_unique_reference="ref-fault-lost")
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()
    assert st.points() == before - 10
    unused = st.ok("order/showtokens", api_key=st.key)["unused_tokens"]["order_token"]
    assert [t["reseller_unique_reference"] for t in unused] == ["ref-fault-lost"]
    # stuck_pending: validation passes, the order never completes
    sb.fault(endpoint="servertastic.place", kind="stuck_pending")
    stuck = st.token("ref-fault-stuck")
    st.place(stuck, make_csr("ststuck.example.test")[1], "EMAIL", approver_email_address="admin@ststuck.example.test")
    st.approve(order_token=stuck)
    for _i in range(2):
        assert st.review(stuck)["order_status"] == "Awaiting Provider Approval"
        st.ok("order/advanceorder", order_token=stuck)
        time.sleep(0.2)
    assert st.review(stuck)["certificate"] == ""
    orders = {o["reference"]: o for o in sb.admin_call("GET", "/servertastic/orders")}
    assert orders["ref-fault-stuck"]["stuck_pending"] is True
    # challenge_fail: the record is published, validation still fails
    sb.fault(endpoint="servertastic.place", kind="challenge_fail")
    failing = st.token("ref-fault-fail")
    placed = st.place(failing, make_csr("stfail.example.test")[1], "DNS")
    sb.txt_set("example.test", "stfail", [placed["dns_string"]])
    try:
        st.ok("order/pollauth", order_token=failing)
        review = st.review(failing)
    finally:
        sb.txt_delete("example.test", "stfail")
    assert review["order_status"] == "Awaiting Customer Verification"
    assert "failed" in review["order_state_further_info"]
    st.error(400, "order/advanceorder", order_token=failing)
    # semantic kinds only where they apply; wire kinds anywhere
    resp = requests.post(sb.admin + "/faults", json={"endpoint": "servertastic.review", "kind": "stuck_pending"},
                         timeout=10)
    assert resp.status_code == 400
    sb.fault(endpoint="servertastic.listproducts", kind="rate_limit", retry_after=2)
    resp = st.call("product/listproducts", api_key=st.key)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    sb.fault(endpoint="servertastic.pollauth", kind="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        st.call("order/pollauth", order_token=failing)


def test_request_log(st: St) -> None:
    sb = st.sb
    sb.admin_call("DELETE", "/requests")
    token = st.token("ref-log")
    st.call("order/review", order_token="wrong")
    st.call("order/nope")
    st.call("order/review", order_token=token)
    log = sb.admin_call("GET", "/requests")
    got = [(e["method"], e["endpoint"], e["status"]) for e in log]
    assert got == [("GET", "servertastic.generatetoken", 200), ("GET", "servertastic.review", 403),
                   ("GET", "unknown", 404), ("GET", "servertastic.review", 200)]
    assert log[0]["path"] == "/servertastic/order/generatetoken.json"


def test_ca_is_kept_across_restarts(tmp_path: Any) -> None:
    """In process: a second emulator instance on the same services_dir loads the same CA."""
    sys.path.insert(0, HERE)
    from rclemu.faults import Faults
    from rclemu.servertastic import ServertasticEmulator

    class FakeEmu:
        settings: dict[str, Any] = {}
        faults = Faults()
        base_url = "https://127.0.0.1:1"

    first = ServertasticEmulator(FakeEmu(), {"services_dir": str(tmp_path)})  # type: ignore[arg-type]
    second = ServertasticEmulator(FakeEmu(), {"services_dir": str(tmp_path)})  # type: ignore[arg-type]
    assert first.root.cert == second.root.cert and first.intermediate.cert == second.intermediate.cert
    assert os.path.exists(os.path.join(str(tmp_path), "servertastic", "root.pem"))
    assert first.points == 1000
