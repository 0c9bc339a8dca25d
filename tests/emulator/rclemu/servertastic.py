"""The Servertastic reseller API v2 (seed 004, PROVIDERS.md section 2), emulated under ``PATH_SERVERTASTIC``.

``/servertastic/<service>/<call>.json`` with services ``order``, ``account`` and ``product``. Parameters come
from the query string (GET) or an ``application/x-www-form-urlencoded`` body (POST); the two credentials
(``api_key`` for account calls, ``order_token`` for order calls) are parameters too. Errors are JSON
``{"error": {"code": N, "message": "..."}}`` with HTTP status ``N``: 400 (bad or missing parameter, duplicate
reference, wrong state, too few points), 403 (missing or unknown key or token), 500 (a bug here).

Domain control validation is real: DNS asks the sandbox's BIND for the TXT record at ``dv_auth_dns_name`` (the
base domain), FILE/SFILE fetch ``/.well-known/pki-validation/fileauth.txt`` from the sandbox's ``http01``
responder (plain HTTP for SFILE too: the sandbox has no HTTPS web server), EMAIL orders complete only through
``POST /admin/servertastic/approve``. ``pollauth`` and ``review`` run the check. Issued leaves come from the
emulator's own CA (root + intermediate in ``<services_dir>/servertastic/``, kept across restarts), with the
CSR's public key. The order state lives in memory (every sandbox start is a clean slate).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import html
import http.client
import logging
import os
import re
import secrets
import string
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import pki
from .common import PATH_SERVERTASTIC, SERVERTASTIC_API_KEY, random_secret, utcnow

if TYPE_CHECKING:  # pragma: no cover
    from .api import Emulator, Reply, Request

log = logging.getLogger("rclemu.servertastic")

# (service, call, endpoint name, methods); the path is PATH_SERVERTASTIC/<service>/<call>.json
CALLS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("order", "generatetoken", "servertastic.generatetoken", ("GET", "POST")),
    ("order", "productfields", "servertastic.productfields", ("GET", "POST")),
    ("order", "approverlist", "servertastic.approverlist", ("GET", "POST")),
    ("order", "place", "servertastic.place", ("POST",)),
    ("order", "review", "servertastic.review", ("GET", "POST")),
    ("order", "pollauth", "servertastic.pollauth", ("GET", "POST")),
    ("order", "changeauthmethod", "servertastic.changeauthmethod", ("GET", "POST")),
    ("order", "changeapproveremail", "servertastic.changeapproveremail", ("GET", "POST")),
    ("order", "resendemail", "servertastic.resendemail", ("GET", "POST")),
    ("order", "cancel", "servertastic.cancel", ("GET", "POST")),
    ("order", "reissue", "servertastic.reissue", ("POST",)),
    ("order", "showtokens", "servertastic.showtokens", ("GET", "POST")),
    ("order", "expiring", "servertastic.expiring", ("GET", "POST")),
    ("order", "modifiedorders", "servertastic.modifiedorders", ("GET", "POST")),
    ("order", "advanceorder", "servertastic.advanceorder", ("GET", "POST")),
    ("account", "review", "servertastic.account_review", ("GET", "POST")),
    ("account", "pointsaudit", "servertastic.pointsaudit", ("GET", "POST")),
    ("account", "addtestpoints", "servertastic.addtestpoints", ("GET", "POST")),
    ("account", "emptytestpoints", "servertastic.emptytestpoints", ("GET", "POST")),
    ("account", "regenerateapikey", "servertastic.regenerateapikey", ("GET", "POST")),
    ("product", "listproducts", "servertastic.listproducts", ("GET", "POST")),
)
INVITE_ENDPOINT = "servertastic.invite"  # GET /servertastic/token/<order_token>: the review/invite URL

# Endpoint names for faults and the request log (all start with "servertastic.").
ENDPOINTS: tuple[str, ...] = tuple(c[2] for c in CALLS) + (INVITE_ENDPOINT,)
# semantic fault kind -> the endpoints where it takes effect
SEMANTIC_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "stuck_pending": ("servertastic.place", "servertastic.reissue"),  # validation passes, never completes
    "challenge_fail": ("servertastic.place", "servertastic.reissue"),  # validation never passes
    "mismatched_key": ("servertastic.review",),  # the returned leaf carries another public key
}

# order_status values (PROVIDERS.md "Status lifecycle")
ORDER_PLACED = "Order Placed"
AWAITING = "Awaiting Customer Verification"
PROVIDER_APPROVAL = "Awaiting Provider Approval"
QUEUED = "Queued"
COMPLETED = "Completed"
CANCELLED = "Cancelled"

AUTH_METHODS = ("EMAIL", "DNS", "FILE", "SFILE")
APPROVER_PREFIXES = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")
HASHING_ALGORITHMS = ("SHA-256", "SHA-256-FULL-CHAIN", "SHA2-256", "SHA2-256-FULL-CHAIN")
CONTACT_FIELDS = ("first_name", "last_name", "phone", "email", "title")
FILE_NAME = "fileauth.txt"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # GMT, as modifiedorders' `date` parameter
CANCEL_WINDOW = _dt.timedelta(days=30)

# The DV products (S-gh "Further Field Definitions" + seed 004's SectigoSSL); points are the emulator's own.
# code: (product_name, validation, product_points, min_san_count, max_san_count, base_san_points, wildcard)
PRODUCTS: dict[str, tuple[str, str, int, int, int, int, bool]] = {
    "RapidSSL-12": ("RapidSSL - 1 Years", "DV", 10, 0, 0, 0, False),
    "RapidSSL-24": ("RapidSSL - 2 Years", "DV", 18, 0, 0, 0, False),
    "RapidSSLWildcard-12": ("RapidSSL Wildcard - 1 Years", "DV", 80, 0, 0, 0, True),
    "QuickSSLPremium-12": ("QuickSSL Premium - 1 Years", "DV", 30, 0, 0, 0, False),
    "QuickSSLPremiumMD-12": ("QuickSSL Premium Multi Domain - 1 Years", "DV", 60, 4, 4, 0, False),
    "SSL123-12": ("Thawte SSL123 - 1 Years", "DV", 25, 0, 0, 0, False),
    "PositiveSSL-12": ("Sectigo PositiveSSL - 1 Years", "DV", 8, 0, 0, 0, False),
    "PositiveSSLWildcard-12": ("Sectigo PositiveSSL Wildcard - 1 Years", "DV", 60, 0, 0, 0, True),
    "PositiveSSLMultiDomain-12": ("Sectigo PositiveSSL Multi-Domain - 1 Years", "DV", 20, 2, 248, 4, False),
    "SectigoSSL-12": ("Sectigo SSL - 1 Years", "DV", 7, 0, 0, 0, False),
}

_HOST_RE = re.compile(r"^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class StError(Exception):
    """An API error: HTTP status = error.code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fmt(value: _dt.datetime | None) -> str:
    return value.astimezone(_dt.timezone.utc).strftime(DATE_FORMAT) if value else ""


def base_domain(name: str) -> str:
    """The domain minus a leading ``*.`` or ``www.`` (PROVIDERS.md: the DNS record's name)."""
    name = name.strip().lower().rstrip(".")
    for prefix in ("*.", "www."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def approvers(domain: str) -> list[str]:
    base = base_domain(domain)
    return ["%s@%s" % (prefix, base) for prefix in APPROVER_PREFIXES]


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def parse_csr(text: str) -> x509.CertificateSigningRequest:
    """PEM (also CRLF, the old NEW CERTIFICATE REQUEST header) or bare base64 DER."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    try:
        if "-----BEGIN" in text:
            text = text.replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST")
            csr = x509.load_pem_x509_csr(text.encode("ascii", "replace") + b"\n")
        else:
            csr = x509.load_der_x509_csr(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise StError(400, "The CSR could not be decoded: %s" % exc) from None
    if not csr.is_signature_valid:
        raise StError(400, "The CSR signature is not valid")
    return csr


def csr_names(csr: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    """(common name, SAN DNS names) of a CSR, lower case; the CN falls back to the first SAN."""
    cns = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = [str(n).lower().rstrip(".") for n in ext.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        sans = []
    cn = str(cns[0]).strip().lower().rstrip(".") if cns else (sans[0] if sans else "")
    if not cn:
        raise StError(400, "The CSR has no common name")
    return cn, sans


def _check_host(name: str, what: str) -> str:
    name = name.strip().lower().rstrip(".")
    if not _HOST_RE.match(name) or len(name) > 253:
        raise StError(400, "%s is not a valid domain name: %r" % (what, name[:80]))
    return name


class ServertasticEmulator:
    name = "servertastic"

    def __init__(self, emu: "Emulator", config: dict[str, Any]) -> None:
        self.emu = emu
        self.config = config
        emu.settings.setdefault("servertastic_queue_seconds", 0.0)
        emu.settings.setdefault("servertastic_validity_days", 90.0)
        emu.settings.setdefault("servertastic_start_points", 1000)
        self._lock = threading.RLock()
        self.orders: dict[str, dict[str, Any]] = {}  # order_token -> order
        self.points = int(emu.settings["servertastic_start_points"])
        self.audit: list[dict[str, Any]] = []
        self._next_order_id = 1000001
        self._next_event_id = 1
        services = config.get("services_dir") or os.path.join(config.get("state_dir") or ".", "services")
        self.ca_dir = os.path.join(services, "servertastic")
        self.root, self.intermediate = self._load_ca()

    # ------------------------------------------------------------------ CA
    def _load_ca(self) -> tuple[pki.CA, pki.CA]:
        """Root + intermediate, created once and kept in ``ca_dir`` (renewed only when close to expiry)."""
        os.makedirs(self.ca_dir, exist_ok=True)
        names = ("root.pem", "root.key", "intermediate.pem", "intermediate.key")
        paths = {n: os.path.join(self.ca_dir, n) for n in names}
        soon = utcnow() + _dt.timedelta(days=60)
        if all(os.path.exists(p) for p in paths.values()):
            root = pki.CA.load(paths["root.pem"], paths["root.key"])
            inter = pki.CA.load(paths["intermediate.pem"], paths["intermediate.key"])
            if root.cert.not_valid_after_utc > soon and inter.cert.not_valid_after_utc > soon:
                return root, inter
        root = pki.make_root_ca("RCL Sandbox Servertastic Root CA")
        inter = pki.make_intermediate_ca(root, "RCL Sandbox Servertastic DV CA")
        root.save(paths["root.pem"], paths["root.key"])
        inter.save(paths["intermediate.pem"], paths["intermediate.key"])
        return root, inter

    @property
    def root_path(self) -> str:
        return os.path.join(self.ca_dir, "root.pem")

    def _leaf(self, public_key: Any, names: list[str]) -> x509.Certificate:
        now = utcnow()
        days = max(float(self.emu.settings.get("servertastic_validity_days", 90)), 1.0 / 1440)
        not_after = min(now + _dt.timedelta(days=days), self.intermediate.cert.not_valid_after_utc)
        is_rsa = isinstance(public_key, rsa.RSAPublicKey)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.intermediate.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=1))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=is_rsa,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate.key.public_key()),
                           critical=False)
            .sign(self.intermediate.key, hashes.SHA256())
        )

    # ------------------------------------------------------------------ routing
    def routes(self) -> list[tuple[str, str, str, Any]]:
        """(method, path regex below the server root, endpoint, handler(emu, req) -> Reply)."""
        table: list[tuple[str, str, str, Any]] = []
        prefix = re.escape(PATH_SERVERTASTIC)
        for service, call, endpoint, methods in CALLS:
            fn = getattr(self, "_%s_%s" % (service, call))
            for method in methods:
                table.append((method, r"%s/%s/%s\.json" % (prefix, service, call), endpoint, self._wrap(fn, endpoint)))
        table.append(("GET", prefix + r"/token/(?P<token>[A-Za-z0-9]+)", INVITE_ENDPOINT, self._invite))
        return table

    def _wrap(self, fn: Callable[[dict[str, str]], dict[str, Any]], endpoint: str) -> Callable[..., "Reply"]:
        def handler(emu: "Emulator", req: "Request") -> "Reply":
            from .api import json_reply

            try:
                return json_reply(fn(self._params(req)))
            except StError as exc:
                return json_reply({"error": {"code": exc.code, "message": exc.message}}, exc.code)
            except Exception as exc:  # noqa: BLE001 - a bug: answer like the vendor's 5xx, keep serving
                log.error("%s failed:\n%s", endpoint, traceback.format_exc())
                return json_reply({"error": {"code": 500, "message": "Internal error in the emulator: %s" % exc}},
                                  500)

        return handler

    @staticmethod
    def _params(req: "Request") -> dict[str, str]:
        params = {k: v[0] for k, v in req.query.items() if v}
        if req.method == "POST" and req.body.strip():
            ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype not in ("", "application/x-www-form-urlencoded"):
                raise StError(400, "Send the parameters as application/x-www-form-urlencoded (got %s)" % ctype)
            try:
                form = parse_qs(req.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
            except UnicodeDecodeError:
                raise StError(400, "The request body is not UTF-8") from None
            params.update({k: v[0] for k, v in form.items() if v})
        return params

    # ------------------------------------------------------------------ helpers
    def _account(self, params: dict[str, str]) -> None:
        key = params.get("api_key") or ""
        if not key:
            raise StError(403, "api_key is missing")
        if not secrets.compare_digest(key.encode(), SERVERTASTIC_API_KEY.encode()):
            raise StError(403, "Invalid api_key")

    def _order(self, params: dict[str, str]) -> dict[str, Any]:
        token = params.get("order_token") or ""
        if not token:
            raise StError(403, "order_token is missing")
        order = self.orders.get(token)
        if order is None:
            raise StError(403, "Invalid order_token")
        return order

    @staticmethod
    def _int(params: dict[str, str], name: str, default: int, low: int = 0, high: int = 10 ** 9) -> int:
        raw = params.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise StError(400, "%s must be a whole number" % name) from None
        if not low <= value <= high:
            raise StError(400, "%s must be between %d and %d" % (name, low, high))
        return value

    @staticmethod
    def _flag(params: dict[str, str], name: str) -> bool:
        raw = (params.get(name) or "0").strip()
        if raw not in ("0", "1"):
            raise StError(400, "%s must be 0 or 1" % name)
        return raw == "1"

    def _event(self, order: dict[str, Any], name: str) -> None:
        now = utcnow()
        order["modifications"].append({"timestamp": _fmt(now), "event_id": self._next_event_id, "event_name": name})
        self._next_event_id += 1
        order["modified"] = now

    def _record(self, adjustment: int, description: str, order: dict[str, Any] | None = None, notes: str = "") -> None:
        self.audit.append({
            "Timestamp": _fmt(utcnow()), "PointsAdjustment": adjustment, "NewPointsTotal": self.points,
            "Description": description, "OrderDate": _fmt(order["order_date"]) if order else "",
            "OrderReference": order["reference"] if order else "", "OrderToken": order["token"] if order else "",
            "Notes": notes,
        })

    def _url(self, token: str) -> str:
        return "%s%s/token/%s" % (self.emu.base_url, PATH_SERVERTASTIC, token)

    @staticmethod
    def _new_dcv(order: dict[str, Any]) -> None:
        order["dns_name"] = base_domain(order["domain_name"])
        order["dns_string"] = random_secret(32, string.ascii_lowercase + string.digits)
        order["file_name"] = FILE_NAME
        order["file_contents"] = random_secret(40, string.ascii_lowercase + string.digits)
        order["dcv_generation"] = order.get("dcv_generation", 0) + 1

    def _take(self, endpoint: str, kind: str) -> bool:
        return self.emu.faults.take(endpoint, (kind,)) is not None

    # ------------------------------------------------------------------ state machine
    def _passed(self, order: dict[str, Any], how: str) -> None:
        """Domain control validated: Queued (or stuck at the provider), then Completed."""
        self._event(order, "Domain Validation Completed (%s)" % how)
        if order["stuck"]:
            order["status"] = PROVIDER_APPROVAL
            order["further_info"] = "Domain validated; the order is undergoing moderation by the certificate provider"
            return
        order["status"] = QUEUED
        order["further_info"] = "Domain validated; the order is queued by the certificate issuer"
        order["queued_until"] = time.time() + float(self.emu.settings.get("servertastic_queue_seconds", 0) or 0)
        self._event(order, "Order Queued")
        self._tick(order)

    def _tick(self, order: dict[str, Any]) -> None:
        if order["status"] != QUEUED or order["stuck"] or time.time() < order["queued_until"]:
            return
        leaf = self._leaf(order["public_key"], order["names"])
        order["leaf"] = leaf
        order["status"] = COMPLETED
        order["completed_at"] = utcnow()
        order["further_info"] = "Certificate issued"
        self._event(order, "Order Completed")
        log.info("servertastic: order %s (%s) completed, serial %x", order["reseller_order_id"],
                 order["domain_name"], leaf.serial_number)

    def _tick_all(self) -> None:
        for order in self.orders.values():
            self._tick(order)

    def _check(self, token: str) -> str | None:
        """Run the DNS/FILE check of an order awaiting verification (network I/O outside the lock).

        Returns the check's free-text result, or None when there was nothing to check."""
        with self._lock:
            order = self.orders[token]
            if order["status"] != AWAITING or order["method"] not in ("DNS", "FILE", "SFILE"):
                return None
            snap = {k: order[k] for k in ("method", "dns_name", "dns_string", "file_name", "file_contents",
                                          "domain_name", "fail", "dcv_generation")}
        if snap["method"] == "DNS":
            ok, info = self._check_dns(snap["dns_name"], snap["dns_string"])
        else:
            ok, info = self._check_file(snap["domain_name"], snap["file_name"], snap["file_contents"])
        if snap["fail"]:
            ok, info = False, "Domain control validation failed for %s: the CA could not confirm the %s check" % (
                snap["domain_name"], snap["method"])
        with self._lock:
            current = self.orders.get(token)
            if current is None or current["status"] != AWAITING or current["dcv_generation"] != snap["dcv_generation"]:
                return info
            order = current
            order["last_check"] = info
            if ok:
                self._passed(order, snap["method"])
            else:
                order["further_info"] = info
        return info

    def _check_dns(self, name: str, value: str) -> tuple[bool, str]:
        import dns.flags
        import dns.message
        import dns.query
        import dns.rdatatype

        addr, port = self.config.get("dns_addr"), int(self.config.get("dns_port") or 53)
        if not addr:
            return False, "DNS check impossible: no DNS server configured"
        query = dns.message.make_query(name.rstrip(".") + ".", dns.rdatatype.TXT)
        try:
            resp = dns.query.udp(query, addr, port=port, timeout=3)
            if resp.flags & dns.flags.TC:
                resp = dns.query.tcp(query, addr, port=port, timeout=3)
        except Exception as exc:  # noqa: BLE001 - any failure is a failed check
            return False, "DNS query for TXT %s failed: %s" % (name, exc)
        found = [b"".join(rd.strings).decode("utf-8", "replace").strip()
                 for rrset in resp.answer if rrset.rdtype == dns.rdatatype.TXT for rd in rrset]
        if value in found:
            return True, "TXT record found at %s" % name
        return False, "No TXT record at %s holds the DNS string (%d TXT value(s) found)" % (name, len(found))

    def _check_file(self, host: str, file_name: str, contents: str) -> tuple[bool, str]:
        port = int(self.config.get("http01_port") or 0)
        if not port:
            return False, "File check impossible: no web server configured"
        url = "http://%s/.well-known/pki-validation/%s" % (host, file_name)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        try:
            conn.request("GET", "/.well-known/pki-validation/" + file_name, headers={"Host": host})
            resp = conn.getresponse()
            body = resp.read(65536)
        except (OSError, http.client.HTTPException) as exc:
            return False, "File not found: %s could not be fetched (%s)" % (url, exc)
        finally:
            conn.close()
        if resp.status != 200:
            return False, "File not found: %s answered HTTP %d" % (url, resp.status)
        if body.decode("utf-8", "replace").strip() != contents.strip():
            return False, "File found at %s but its contents do not match" % url
        return True, "File found at %s and its contents match" % url

    # ------------------------------------------------------------------ rendering
    def _summary(self, order: dict[str, Any]) -> dict[str, Any]:
        leaf = order["leaf"]
        return {"reseller_order_id": order["reseller_order_id"], "order_status": order["status"],
                "order_date": _fmt(order["order_date"]), "domain_name": order["domain_name"],
                "order_points": order["points"], "expiry_date": _fmt(leaf.not_valid_after_utc) if leaf else "",
                "st_product_code": order["product"]}

    def _review(self, order: dict[str, Any], leaf: x509.Certificate | None = None) -> dict[str, Any]:
        leaf = leaf or order["leaf"]
        csr_subject = order.get("subject") or {}
        ca_certs: list[dict[str, str]] = []
        pkcs7_text = ""
        if leaf is not None:
            ca_certs = [{"type": "INTERMEDIATE", "certificate": _pem(self.intermediate.cert)},
                        {"type": "ROOT", "certificate": _pem(self.root.cert)}]
            pkcs7_text = pkcs7.serialize_certificates([leaf, self.intermediate.cert],
                                                      serialization.Encoding.PEM).decode("ascii")
        placed = bool(order["dns_name"])
        return {
            "success": "Review Order",
            "reseller_order_id": order["reseller_order_id"],
            "provider_order_id": order["provider_order_id"],
            "st_product_code": order["product"],
            "order_status": order["status"],
            "order_state_further_info": order["further_info"],
            "domain_name": order["domain_name"],
            "san_count": order["san_count"],
            "additional_sans": list(order["names"][1:]),
            "server_count": order["server_count"],
            "invite_url": self._url(order["token"]),
            "end_customer_email": order["end_customer_email"],
            "order_date": _fmt(order["order_date"]),
            "expiry_date": _fmt(leaf.not_valid_after_utc) if leaf else "",
            "organisation_info": {"name": csr_subject.get("O", ""), "division": csr_subject.get("OU", ""),
                                  "address": {"city": csr_subject.get("L", ""), "region": csr_subject.get("ST", ""),
                                              "country": csr_subject.get("C", "")}},
            "approver_notified_date": _fmt(order["approver_notified"]),
            "approver_email_address": order["approver_email"],
            "admin_contact": dict(order["admin_contact"]),
            "tech_contact": dict(order["tech_contact"]),
            "modifications": {"modification": [dict(m) for m in order["modifications"]]},
            "dv_auth_method": order["method"],
            "dv_auth_dns_type": "TXT" if placed else "",
            "dv_auth_dns_name": order["dns_name"],
            "dv_auth_dns_string": order["dns_string"],
            "dv_auth_file_name": order["file_name"],
            "dv_auth_file_contents": order["file_contents"],
            "certificate": _pem(leaf) if leaf is not None else "",
            "pkcs7": pkcs7_text,
            "ca_certs": {"certificate_info": ca_certs},
            "reissued_certificates": {"certificate_info": [
                {"hash": order["hashing_algorithm"] or "SHA2-256",
                 "encryption": "RSA" if isinstance(old.public_key(), rsa.RSAPublicKey) else "ECC",
                 "certificate": _pem(old)} for old in order["reissued"]]},
        }

    # ------------------------------------------------------------------ order service
    def _order_generatetoken(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        code = (params.get("st_product_code") or "").strip()
        if not code:
            raise StError(400, "st_product_code is required")
        if code not in PRODUCTS:
            raise StError(400, "Invalid st_product_code: %s" % code[:60])
        _name, _validation, product_points, min_san, max_san, san_points, _wild = PRODUCTS[code]
        email = (params.get("end_customer_email") or "").strip()
        if not email:
            raise StError(400, "end_customer_email is required")
        if email.lower() != "none" and not _EMAIL_RE.match(email):
            raise StError(400, "end_customer_email must be an email address or 'none'")
        reference = (params.get("reseller_unique_reference") or "").strip()
        if not reference:
            raise StError(400, "reseller_unique_reference is required")
        if len(reference) > 35:
            raise StError(400, "reseller_unique_reference must be 35 characters or fewer")
        server_count = self._int(params, "server_count", 1, 1, 1)
        san_count = self._int(params, "san_count", min_san, min_san, max_san)
        cost = product_points + max(0, san_count - min_san) * san_points
        with self._lock:
            if any(o["reference"] == reference for o in self.orders.values()):
                raise StError(400, "Duplicate reseller_unique_reference: %s" % reference)
            if self.points < cost:
                raise StError(400, "Insufficient points: %s costs %d, the account has %d" % (code, cost, self.points))
            token = random_secret(32)
            now = utcnow()
            order: dict[str, Any] = {
                "token": token, "reference": reference, "reseller_order_id": self._next_order_id,
                "provider_order_id": "", "product": code, "end_customer_email": email,
                "server_count": server_count, "san_count": san_count, "points": cost,
                "status": ORDER_PLACED, "further_info": "Awaiting order details", "order_date": now, "modified": now,
                "domain_name": "", "names": [""], "subject": {}, "exclude_addon": False, "renewal": False,
                "san_domains": [], "hashing_algorithm": "", "method": "", "approver_email": "",
                "approver_notified": None, "dns_name": "", "dns_string": "", "file_name": "", "file_contents": "",
                "dcv_generation": 0, "tech_contact": {f: "" for f in ("title",) + CONTACT_FIELDS[:4]},
                "admin_contact": {f: "" for f in ("title",) + CONTACT_FIELDS[:4]}, "modifications": [],
                "csr": "", "public_key": None, "leaf": None, "reissued": [], "queued_until": 0.0,
                "completed_at": None, "stuck": False, "fail": False, "last_check": "",
            }
            self._next_order_id += 1
            self.points -= cost
            self.orders[token] = order
            self._event(order, "Order Token Generated")
            self._record(-cost, "Order token generated: %s" % code, order)
            log.info("servertastic: token for %s (%s), %d points, %d left", reference, code, cost, self.points)
            return {"success": "Order token generated", "order_token": token,
                    "reseller_order_id": order["reseller_order_id"], "review_url": self._url(token),
                    "product_code": code}

    def _order_productfields(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            order = self._order(params)
            code = order["product"]
        name, _validation, _points, _min_san, max_san, _san_points, _wild = PRODUCTS[code]

        def field(required: bool, input_type: str, options: list[str] | None = None,
                  required_if: list[str] | None = None) -> dict[str, Any]:
            return {"required": required, "input_type": input_type, "options": options or [],
                    "required_if": required_if or []}

        fields: list[Any] = [code, name,
                             {"dv_auth_method": field(True, "select", list(AUTH_METHODS))},
                             {"approver_email_address": field(False, "select", [], ["dv_auth_method=EMAIL"])},
                             {"csr": field(True, "textarea")},
                             {"exclude_addon": field(False, "select", ["0", "1"])},
                             {"renewal": field(False, "select", ["0", "1"])}]
        if max_san:
            fields.append({"san_domains": field(True, "text")})
        for prefix in ("tech_contact_", "admin_contact_"):
            for suffix in CONTACT_FIELDS:
                fields.append({prefix + suffix: field(True, "email" if suffix == "email" else "text")})
        fields.append({"hashing_algorithm": field(False, "select", ["SHA-256", "SHA-256-FULL-CHAIN"])})
        return {"success": "Product Fields", "product_fields": fields}

    def _order_approverlist(self, params: dict[str, str]) -> dict[str, Any]:
        # S-php sends only domain_name; a credential, when given, must be valid
        with self._lock:
            if params.get("order_token"):
                self._order(params)
            elif params.get("api_key"):
                self._account(params)
        domain = params.get("domain_name") or ""
        if not domain.strip():
            raise StError(400, "domain_name is required")
        domain = _check_host(domain, "domain_name")
        return {"success": "ApproverList", "approver_email": [{"email": e} for e in approvers(domain)]}

    def _contacts(self, params: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        out = []
        for prefix in ("tech_contact_", "admin_contact_"):
            contact = {}
            for suffix in ("title",) + CONTACT_FIELDS[:4]:
                value = (params.get(prefix + suffix) or "").strip()
                if not value:
                    raise StError(400, "%s%s is required" % (prefix, suffix))
                if suffix == "email" and not _EMAIL_RE.match(value):
                    raise StError(400, "%s%s must be a valid email address" % (prefix, suffix))
                contact[suffix] = value
            out.append(contact)
        return out[0], out[1]

    def _names(self, code: str, cn: str, csr_sans: list[str], san_domains: list[str], exclude_addon: bool) -> list[str]:
        _name, _v, _p, _min_san, max_san, _sp, wildcard = PRODUCTS[code]
        if wildcard and not cn.startswith("*."):
            raise StError(400, "%s needs a wildcard CSR (common name *.domain)" % code)
        if not wildcard and cn.startswith("*."):
            raise StError(400, "%s is not a wildcard product; the CSR's common name is %s" % (code, cn))
        _check_host(cn, "The CSR's common name")
        names = [cn]
        for name in csr_sans + san_domains:
            name = _check_host(name, "SAN")
            if name.startswith("*.") and not wildcard:
                raise StError(400, "%s cannot cover the wildcard name %s" % (code, name))
            names.append(name)
        if not exclude_addon and not max_san:
            if cn.startswith("*."):
                names.append(cn[2:])
            elif cn.startswith("www."):
                names.append(cn[4:])
            else:
                names.append("www." + cn)
        return list(dict.fromkeys(names))

    def _method(self, params: dict[str, str], domain: str, default: str = "") -> tuple[str, str]:
        method = (params.get("dv_auth_method") or default).strip()
        if not method:
            raise StError(400, "dv_auth_method is required")
        if method not in AUTH_METHODS:
            raise StError(400, "dv_auth_method must be one of %s" % ", ".join(AUTH_METHODS))
        approver = ""
        if method == "EMAIL":
            approver = (params.get("approver_email_address") or "").strip().lower()
            if not approver:
                raise StError(400, "approver_email_address is required when dv_auth_method is EMAIL")
            if approver not in approvers(domain):
                raise StError(400, "approver_email_address must be one of the approverlist addresses for %s"
                              % base_domain(domain))
        elif domain.startswith("*.") and method in ("FILE", "SFILE"):
            raise StError(400, "File authentication is not available for wildcard certificates; use DNS or EMAIL")
        return method, approver

    @staticmethod
    def _hashing(params: dict[str, str], default: str = "") -> str:
        value = (params.get("hashing_algorithm") or default).strip()
        if value and value not in HASHING_ALGORITHMS:
            raise StError(400, "hashing_algorithm must be one of %s" % ", ".join(HASHING_ALGORITHMS))
        return value

    @staticmethod
    def _subject(csr: x509.CertificateSigningRequest) -> dict[str, str]:
        oids = {"O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "L": NameOID.LOCALITY_NAME,
                "ST": NameOID.STATE_OR_PROVINCE_NAME, "C": NameOID.COUNTRY_NAME}
        out = {}
        for key, oid in oids.items():
            attrs = csr.subject.get_attributes_for_oid(oid)
            if attrs:
                out[key] = str(attrs[0].value)
        return out

    def _order_place(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            order = self._order(params)
            if order["status"] != ORDER_PLACED:
                raise StError(400, "The order has already been placed (status: %s)" % order["status"])
            code = order["product"]
        max_san = PRODUCTS[code][4]
        csr_text = params.get("csr") or ""
        if not csr_text.strip():
            raise StError(400, "csr is required (the emulator does not generate CSRs from domain_name)")
        csr = parse_csr(csr_text)
        cn, csr_sans = csr_names(csr)
        exclude_addon = self._flag(params, "exclude_addon")
        renewal = self._flag(params, "renewal")
        san_domains = [s.strip().lower() for s in (params.get("san_domains") or "").split(",") if s.strip()]
        if san_domains and not max_san:
            raise StError(400, "san_domains is only for multi-domain products")
        if len(san_domains) > order["san_count"]:
            raise StError(400, "san_domains lists %d names; the token allows %d (san_count)"
                          % (len(san_domains), order["san_count"]))
        names = self._names(code, cn, csr_sans, san_domains, exclude_addon)
        method, approver = self._method(params, cn)
        hashing = self._hashing(params)
        tech, admin = self._contacts(params)
        stuck = self._take("servertastic.place", "stuck_pending")
        fail = self._take("servertastic.place", "challenge_fail")
        with self._lock:
            if order["status"] != ORDER_PLACED:  # a concurrent place won
                raise StError(400, "The order has already been placed (status: %s)" % order["status"])
            order.update({
                "status": AWAITING, "provider_order_id": "%d" % (10000000 + secrets.randbelow(89999999)),
                "domain_name": cn, "names": names, "subject": self._subject(csr), "exclude_addon": exclude_addon,
                "renewal": renewal, "san_domains": san_domains, "hashing_algorithm": hashing, "method": method,
                "approver_email": approver, "approver_notified": utcnow() if method == "EMAIL" else None,
                "tech_contact": tech, "admin_contact": admin,
                "csr": csr.public_bytes(serialization.Encoding.PEM).decode("ascii"), "public_key": csr.public_key(),
                "stuck": stuck, "fail": fail,
            })
            self._new_dcv(order)
            order["further_info"] = ("Awaiting approval by %s" % approver if method == "EMAIL"
                                     else "Awaiting domain control validation (%s)" % method)
            self._event(order, "Order Placed")
            log.info("servertastic: order %s placed for %s (%s)%s%s", order["reseller_order_id"], cn, method,
                     " [stuck_pending]" if stuck else "", " [challenge_fail]" if fail else "")
            reply: dict[str, Any] = {"success": "Order placed", "reseller_order_id": order["reseller_order_id"],
                                     "invite_url": self._url(order["token"])}
            if method == "DNS":
                reply["dns_string"] = order["dns_string"]
            elif method in ("FILE", "SFILE"):
                reply["file_name"] = order["file_name"]
                reply["file_contents"] = order["file_contents"]
            return reply

    def _order_review(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            token = self._order(params)["token"]
        self._check(token)
        with self._lock:
            order = self.orders[token]
            self._tick(order)
            leaf = None
            if order["leaf"] is not None and self._take("servertastic.review", "mismatched_key"):
                other = pki.new_key("rsa2048" if isinstance(order["public_key"], rsa.RSAPublicKey) else "ec256")
                leaf = self._leaf(other.public_key(), order["names"])
            return self._review(order, leaf)

    def _order_pollauth(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            order = self._order(params)
            token, status, method = order["token"], order["status"], order["method"]
            if status in (ORDER_PLACED, CANCELLED):
                raise StError(400, "The order cannot be polled (status: %s)" % status)
            if method not in ("DNS", "FILE", "SFILE"):
                raise StError(400, "pollauth is only for DNS or FILE authentication (this order uses %s)" % method)
        info = self._check(token)
        with self._lock:
            order = self.orders[token]
            self._tick(order)
            reply: dict[str, Any] = {"success": "Order Polled"}
            if method in ("FILE", "SFILE"):
                reply["status"] = info or "Domain already validated (status: %s)" % order["status"]
            return reply

    def _awaiting(self, order: dict[str, Any], call: str) -> None:
        if order["status"] != AWAITING:
            raise StError(400, "%s is only possible while the order awaits verification (status: %s)"
                          % (call, order["status"]))

    def _order_changeauthmethod(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            order = self._order(params)
            self._awaiting(order, "changeauthmethod")
            wanted = (params.get("dv_auth_method") or "EMAIL").strip()
            if wanted != "EMAIL":
                raise StError(400, "The method can only be changed to EMAIL; FILE and DNS need a new order")
            if order["method"] == "EMAIL":
                raise StError(400, "The order already uses EMAIL authentication; use changeapproveremail")
            email = (params.get("email_address") or params.get("approver_email_address") or params.get("email")
                     or approvers(order["domain_name"])[0]).strip().lower()
            if email not in approvers(order["domain_name"]):
                raise StError(400, "email_address must be one of the approverlist addresses for %s"
                              % base_domain(order["domain_name"]))
            order.update({"method": "EMAIL", "approver_email": email, "approver_notified": utcnow(),
                          "further_info": "Awaiting approval by %s" % email})
            order["dcv_generation"] += 1
            self._event(order, "DV Auth Method Changed to EMAIL")
            return {"success": "DV Auth Method Updated"}

    def _order_changeapproveremail(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            order = self._order(params)
            self._awaiting(order, "changeapproveremail")
            if order["method"] != "EMAIL":
                raise StError(400, "The order uses %s authentication, not EMAIL" % order["method"])
            email = (params.get("email") or "").strip().lower()
            if not email:
                raise StError(400, "email is required")
            if email not in approvers(order["domain_name"]):
                raise StError(400, "email must be one of the approverlist addresses for %s"
                              % base_domain(order["domain_name"]))
            order.update({"approver_email": email, "approver_notified": utcnow(),
                          "further_info": "Awaiting approval by %s" % email})
            self._event(order, "Approver Email Changed")
            return {"success": "Change Approver Email Reset"}

    def _order_resendemail(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            order = self._order(params)
            kind = (params.get("email_type") or "").strip()
            if kind not in ("Approver", "Fulfillment"):
                raise StError(400, "email_type must be Approver or Fulfillment")
            sent = {"approver_email": "", "admin_contact_email": "", "tech_contact_email": ""}
            if kind == "Approver":
                self._awaiting(order, "Resending the approver email")
                if order["method"] != "EMAIL":
                    raise StError(400, "The order uses %s authentication, not EMAIL" % order["method"])
                sent["approver_email"] = order["approver_email"]
                order["approver_notified"] = utcnow()
            else:
                self._tick(order)
                if order["status"] != COMPLETED:
                    raise StError(400, "The fulfillment email needs a completed order (status: %s)" % order["status"])
                sent["admin_contact_email"] = order["admin_contact"]["email"]
                sent["tech_contact_email"] = order["tech_contact"]["email"]
            self._event(order, "%s Email Resent" % kind)
            return {"success": "Email resent", "type": kind, "email_sent_to": sent}

    def _order_cancel(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            order = self._order(params)
            self._tick(order)
            if order["status"] == CANCELLED:
                raise StError(400, "The order is already cancelled")
            if order["status"] == COMPLETED and utcnow() - order["completed_at"] > CANCEL_WINDOW:
                raise StError(400, "Completed orders can only be cancelled within 30 days of completion")
            order["status"] = CANCELLED
            order["further_info"] = "Cancelled by the reseller"
            self.points += order["points"]
            self._event(order, "Order Cancelled")
            self._record(order["points"], "Order cancelled: %s" % order["product"], order)
            return {"success": "Order cancelled - %s" % order["reference"]}

    def _order_reissue(self, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            order = self._order(params)
            self._tick(order)
            if order["status"] != COMPLETED:
                raise StError(400, "Only completed orders can be reissued (status: %s)" % order["status"])
            snap = {k: order[k] for k in ("product", "domain_name", "san_domains", "exclude_addon", "method",
                                          "approver_email", "hashing_algorithm", "names")}
        csr_text = params.get("csr") or ""
        private_key = ""
        if csr_text.strip():
            csr = parse_csr(csr_text)
            cn, csr_sans = csr_names(csr)
            if cn != snap["domain_name"]:
                raise StError(400, "A reissue keeps the domain: the CSR names %s, the order %s"
                              % (cn, snap["domain_name"]))
        else:
            key = pki.new_key("rsa2048")
            csr = x509.load_pem_x509_csr(pki.build_csr(key, snap["names"]))
            cn, csr_sans = csr_names(csr)
            private_key = pki.key_pem(key).decode("ascii")
        names = self._names(snap["product"], cn, csr_sans, snap["san_domains"], snap["exclude_addon"])
        previous = {"dv_auth_method": snap["method"]}
        if params.get("dv_auth_method") in (None, "", snap["method"]) and snap["method"] == "EMAIL" \
                and not params.get("approver_email_address"):
            previous["approver_email_address"] = snap["approver_email"]
        method, approver = self._method(dict(previous, **{k: v for k, v in params.items() if v}), cn)
        hashing = self._hashing(params, snap["hashing_algorithm"])
        stuck = self._take("servertastic.reissue", "stuck_pending")
        fail = self._take("servertastic.reissue", "challenge_fail")
        csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
        with self._lock:
            if order["status"] != COMPLETED:
                raise StError(400, "Only completed orders can be reissued (status: %s)" % order["status"])
            order["reissued"].append(order["leaf"])
            order.update({
                "status": AWAITING, "leaf": None, "names": names, "subject": self._subject(csr), "method": method,
                "approver_email": approver, "approver_notified": utcnow() if method == "EMAIL" else None,
                "hashing_algorithm": hashing, "csr": csr_pem, "public_key": csr.public_key(), "stuck": stuck,
                "fail": fail, "queued_until": 0.0, "last_check": "",
            })
            self._new_dcv(order)
            order["further_info"] = ("Reissue: awaiting approval by %s" % approver if method == "EMAIL"
                                     else "Reissue: awaiting domain control validation (%s)" % method)
            self._event(order, "Reissue Requested")
            return {"success": "Reissue requested", "dns_name": order["dns_name"], "dns_string": order["dns_string"],
                    "file_name": order["file_name"], "file_contents": order["file_contents"], "csr": csr_pem,
                    "private_key": private_key}

    def _order_showtokens(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        with self._lock:
            unused: list[dict[str, str]] = []
            used: list[dict[str, str]] = []
            for order in self.orders.values():
                item = {"token": order["token"], "reseller_unique_reference": order["reference"]}
                (unused if order["status"] == ORDER_PLACED else used).append(item)
        return {"success": "Order tokens", "unused_tokens": {"order_token": unused},
                "used_tokens": {"order_token": used}}

    def _order_expiring(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        days = self._int(params, "days", 60, 0, 3650)
        limit = utcnow() + _dt.timedelta(days=days)
        with self._lock:
            self._tick_all()
            orders = [self._summary(o) for o in self.orders.values()
                      if o["status"] == COMPLETED and o["leaf"] is not None
                      and utcnow() <= o["leaf"].not_valid_after_utc <= limit]
        return {"success": "Expiring Orders", "orders": {"order": orders}}

    def _order_modifiedorders(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        raw = (params.get("date") or "").strip()
        if not raw:
            raise StError(400, "date is required (YYYY-MM-DD HH:MM:SS, GMT)")
        try:
            since = _dt.datetime.strptime(raw, DATE_FORMAT).replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            raise StError(400, "date must be YYYY-MM-DD HH:MM:SS (GMT)") from None
        with self._lock:
            self._tick_all()
            now = utcnow()
            orders = []
            for order in self.orders.values():
                if order["modified"] >= since:
                    item = self._review(order)
                    item.pop("success", None)
                    orders.append(item)
        return {"success": "Modified Orders", "orders": {"order": orders}, "data_accuracy": _fmt(now)}

    def _order_advanceorder(self, params: dict[str, str]) -> dict[str, Any]:
        """Test host only: push the order on (validation counts as passed; Queued completes now)."""
        with self._lock:
            order = self._order(params)
            status = order["status"]
            if status == ORDER_PLACED:
                raise StError(400, "The order has not been placed yet")
            if status in (COMPLETED, CANCELLED):
                raise StError(400, "There is nothing to advance (status: %s)" % status)
            if status == AWAITING:
                if order["fail"]:
                    raise StError(400, "The order cannot be advanced: domain control validation failed")
                self._passed(order, "advanceorder")
            elif status == QUEUED:
                order["queued_until"] = 0.0
                self._tick(order)
            return {"success": "Order was pushed. Please wait up to 3 minutes for the status to update - STR_%d_%s"
                    % (order["reseller_order_id"], utcnow().strftime("%Y%m%d%H%M"))}

    # ------------------------------------------------------------------ account + product services
    def _account_review(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        with self._lock:
            self._tick_all()
            active = [self._summary(o) for o in self.orders.values() if o["status"] not in (COMPLETED, CANCELLED)]
            done = [self._summary(o) for o in self.orders.values() if o["status"] == COMPLETED]
            return {"success": "Reseller Overview", "purchased_points": self.points,
                    "active_orders": {"active_order": active}, "completed_orders": {"completed_order": done}}

    def _account_pointsaudit(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        with self._lock:
            return {"success": "PointsAudit", "record": [dict(r) for r in self.audit]}

    def _account_addtestpoints(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        if not (params.get("points") or "").strip():
            raise StError(400, "points is required")
        points = self._int(params, "points", 0, 1, 1000000)
        with self._lock:
            self.points += points
            self._record(points, "Test points added")
            return {"success": "Points total updated", "new_total": self.points}

    def _account_emptytestpoints(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        with self._lock:
            adjustment, self.points = -self.points, 0
            self._record(adjustment, "Test points emptied")
            return {"success": "Points total updated", "new_total": 0}

    def _account_regenerateapikey(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        raise StError(403, "regenerateapikey is disabled in the sandbox (the key is fixed)")

    def _product_listproducts(self, params: dict[str, str]) -> dict[str, Any]:
        self._account(params)
        group = (params.get("product_group") or "All").strip()
        if group.lower() not in ("ssl", "smartertools", "all"):
            raise StError(400, "product_group must be SSL, SmarterTools or All")
        products = []
        if group.lower() != "smartertools":
            for code, (name, validation, points, min_san, max_san, san_points, _wild) in PRODUCTS.items():
                products.append({"st_product_code": code, "product_name": name,
                                 "html_description": "<p>%s</p>" % html.escape(name), "max_server_count": 1,
                                 "min_san_count": min_san, "max_san_count": max_san, "base_san_points": san_points,
                                 "product_validation": validation, "product_points": points})
        return {"success": "Product list", "products": products}

    def _invite(self, emu: "Emulator", req: "Request") -> "Reply":
        from .api import Reply

        with self._lock:
            order = self.orders.get(req.params.get("token", ""))
            if order is None:
                return Reply(404, b"<html><body><p>Unknown order token.</p></body></html>\n",
                             "text/html; charset=utf-8")
            self._tick(order)
            text = "<html><body><h1>Order %d</h1><p>%s</p><p>%s</p></body></html>\n" % (
                order["reseller_order_id"], html.escape(order["status"]), html.escape(order["domain_name"]))
        return Reply(200, text.encode("utf-8"), "text/html; charset=utf-8")

    # ------------------------------------------------------------------ admin
    def _admin_order(self, order: dict[str, Any]) -> dict[str, Any]:
        leaf = order["leaf"]
        return {
            "order_token": order["token"], "reference": order["reference"],
            "reseller_order_id": order["reseller_order_id"], "provider_order_id": order["provider_order_id"],
            "st_product_code": order["product"], "points": order["points"], "status": order["status"],
            "further_info": order["further_info"], "domain_name": order["domain_name"],
            "names": order["names"] if order["domain_name"] else [], "dv_auth_method": order["method"],
            "approver_email_address": order["approver_email"], "dns_name": order["dns_name"],
            "dns_string": order["dns_string"], "file_name": order["file_name"],
            "file_contents": order["file_contents"], "last_check": order["last_check"],
            "stuck_pending": order["stuck"], "challenge_fail": order["fail"],
            "order_date": _fmt(order["order_date"]), "modified": _fmt(order["modified"]),
            "serial": "%x" % leaf.serial_number if leaf else None,
            "not_after": leaf.not_valid_after_utc.isoformat() if leaf else None,
            "reissued": len(order["reissued"]),
        }

    def admin(self, method: str, sub: str, query: dict[str, list[str]], body: Any) -> "Reply":
        from .api import json_reply

        body = body if isinstance(body, dict) else {}
        if sub in ("/", "/orders") and method == "GET":
            with self._lock:
                self._tick_all()
                return json_reply([self._admin_order(o) for o in self.orders.values()])
        if sub == "/approve" and method == "POST":
            return self._admin_approve(body)
        if sub == "/points":
            if method == "GET":
                with self._lock:
                    return json_reply({"points": self.points})
            if method == "POST":
                points = body.get("points")
                if not isinstance(points, int) or isinstance(points, bool) or points < 0:
                    return json_reply({"error": "points: a non-negative integer"}, 400)
                with self._lock:
                    adjustment, self.points = points - self.points, points
                    self._record(adjustment, "Adjustment by Servertastic")
                    return json_reply({"points": self.points})
        if sub == "/reset" and method == "POST":
            with self._lock:
                cleared = len(self.orders)
                self.orders.clear()
                self.audit.clear()
                self.points = int(self.emu.settings.get("servertastic_start_points", 1000))
                return json_reply({"cleared": cleared, "points": self.points})
        if sub == "/ca" and method == "GET":
            return json_reply({"root_path": self.root_path, "root": _pem(self.root.cert),
                               "intermediate": _pem(self.intermediate.cert)})
        return json_reply({"error": "no such admin endpoint: %s /admin/servertastic%s" % (method, sub)}, 404)

    def _admin_approve(self, body: dict[str, Any]) -> "Reply":
        from .api import json_reply

        token, reference, domain = body.get("order_token"), body.get("reference"), body.get("domain")
        if not any(isinstance(v, str) and v for v in (token, reference, domain)):
            return json_reply({"error": "approve: give order_token, reference or domain"}, 400)
        with self._lock:
            matches = []
            for order in self.orders.values():
                if token and order["token"] != token:
                    continue
                if reference and order["reference"] != reference:
                    continue
                if domain and domain.strip().lower().rstrip(".") not in ([order["domain_name"]] + order["names"]):
                    continue
                matches.append(order)
            pending = [o for o in matches if o["status"] == AWAITING and o["method"] == "EMAIL"]
            if not pending:
                states = ", ".join("%s %s (%s)" % (o["reference"], o["status"], o["method"] or "-") for o in matches)
                return json_reply({"error": "nothing to approve: no matching EMAIL order awaits verification%s"
                                   % ("; matching: " + states if states else "")}, 400)
            failing = [o for o in pending if o["fail"]]
            if failing and len(failing) == len(pending):
                for order in failing:
                    order["further_info"] = "The approval email was not confirmed (challenge_fail)"
                return json_reply({"error": "approval refused: the order fails validation (challenge_fail fault)"},
                                  400)
            approved = []
            for order in pending:
                if order["fail"]:
                    continue
                self._passed(order, "EMAIL approved by %s" % order["approver_email"])
                approved.append(self._admin_order(order))
            return json_reply({"approved": approved})
