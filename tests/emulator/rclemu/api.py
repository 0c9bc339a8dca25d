"""The emulated RCL SSL API: V7, V6 (+ Azure AD token endpoint), V8 and file downloads.

Each handler gets a parsed ``Request`` and returns a ``Reply`` or raises
``ApiError`` (a text/plain error reply). Fault injection and the request log
live in server.py; the semantic faults (truncated_pfx, mismatched_key,
stuck_pending, challenge_fail) are taken here, where they take effect.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import pki
from .acmeops import AcmeFailure, AcmeService, Outcome
from .common import PATH_V6, PATH_V7, PATH_V8, V6_SCOPE, api_date, utcnow
from .faults import Faults
from .seed import Seed, SeedError, san_names_for
from .store import Store

log = logging.getLogger("rclemu.api")

DEFAULT_SETTINGS: dict[str, Any] = {
    "validation_timeout": 15.0,  # V7 finalize / V8 schedule: wait for Pebble's validation
    "finalize_timeout": 30.0,  # wait for Pebble to issue after finalization
    "download_ttl": 3600.0,  # download links expire after this many seconds
    "token_ttl": 3599,  # V6 access token lifetime (expires_in)
    "schedule_delay": 1.0,  # V8 schedule/create: issuance starts this much later
    "key_type": "rsa2048",  # fresh certificate keys: rsa2048 | ec256
    # Servertastic (servertastic.py): Queued -> Completed delay, leaf lifetime, account points at start / reset
    "servertastic_queue_seconds": 0.0,
    "servertastic_validity_days": 90.0,
    "servertastic_start_points": 1000,
    # Certifire (certifire.py SETTINGS): RSA key size, delay before the worker writes an order's contents
    "certifire_key_bits": 4096,
    "certifire_write_delay": 1.0,
}

# name of the download file -> (suffix, content type, what)
DOWNLOADS = [
    ("txtUrl", "-certdownload.txt", "text/plain; charset=utf-8", "fullchain"),
    ("certCrtUrl", "-cert.crt", "application/x-x509-ca-cert", "leaf"),
    ("cabundleCrtUrl", "-cabundle.crt", "application/x-x509-ca-cert", "chain"),
    ("fullchainCrtUrl", "-fullchain.crt", "application/x-x509-ca-cert", "fullchain"),
    ("pemUrl", ".pem", "application/x-pem-file", "fullchain"),
    ("pfxUrl", ".pfx", "application/x-pkcs12", "pfx"),
    ("cerUrl", ".cer", "application/pkix-cert", "leaf_der"),
    ("crtUrl", ".crt", "application/x-x509-ca-cert", "fullchain"),
    ("keyUrl", ".key", "application/x-pem-file", "key"),
    ("keyTxtUrl", ".txt", "text/plain; charset=utf-8", "key"),
]
URL_KEYS = ["pemUrl", "pfxUrl", "cerUrl", "crtUrl", "txtUrl", "keyUrl", "keyTxtUrl", "certCrtUrl",
            "cabundleCrtUrl", "fullchainCrtUrl"]


def st(resource: Any) -> str:
    """The status of an ACME resource body as a plain string (pending, ready, valid, ...)."""
    status = resource.status
    return str(getattr(status, "name", status))


class ApiError(Exception):
    def __init__(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers or {}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def q(self, name: str) -> str | None:
        for key, values in self.query.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            raise ApiError(400, "The request body is empty.")
        try:
            data = json.loads(self.body)
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return data


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    is_json: bool = False


def text_reply(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, text.encode("utf-8"), "text/plain; charset=utf-8", dict(headers or {}))


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(obj).encode("utf-8"), "application/json; charset=utf-8", is_json=True)


Handler = Callable[["Emulator", Request], Reply]
Route = tuple[str, re.Pattern[str], str, Handler]


class Emulator:
    def __init__(self, store: Store, acme: AcmeService, faults: Faults, base_url: str,
                 seed_issuer: pki.CA, seed_chain: list[x509.Certificate], settings: dict[str, Any],
                 services_config: dict[str, Any] | None = None) -> None:
        self.store = store
        self.acme = acme
        self.faults = faults
        self.base_url = base_url.rstrip("/")
        self.seed_issuer = seed_issuer
        self.seed_chain = seed_chain
        self.settings = dict(DEFAULT_SETTINGS)
        self.settings.update(settings)
        self.secret = secrets.token_bytes(32)
        self.jobs: list[dict[str, Any]] = []
        self._jobs_lock = threading.Lock()
        # The other ordering systems (certifire.py, servertastic.py): each adds its routes and admin calls.
        from .certifire import CertifireEmulator
        from .servertastic import ServertasticEmulator

        self.certifire = CertifireEmulator(self, services_config or {})
        self.servertastic = ServertasticEmulator(self, services_config or {})
        self.routes: list[Route] = self._routes()

    # ------------------------------------------------------------------ routing
    def _routes(self) -> list[Route]:
        seg = r"(?P<%s>[^/]*)"
        v7 = re.escape(PATH_V7) + r"/v1/subscription/" + seg % "sid" + r"/core/certificate/" + seg % "name"
        v6o = re.escape(PATH_V6) + r"/order/subscription/" + seg % "sid"
        v6c = re.escape(PATH_V6) + r"/certificate/subscription/" + seg % "sid"
        v8 = re.escape(PATH_V8) + "/" + seg % "sid"
        table = [
            ("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", "token", Emulator.token),
            ("GET", v7 + r"/order", "v7.create_order", Emulator.v7_create_order),
            ("GET", v7 + r"/finalize", "v7.finalize", Emulator.v7_finalize),
            ("GET", v7, "v7.get_certificate", Emulator.v7_get_certificate),
            ("POST", v6o + r"/create", "v6.create_order", Emulator.v6_create_order),
            ("POST", v6o + r"/get", "v6.get_order", Emulator.v6_get_order),
            ("POST", v6o + r"/validate", "v6.validate", Emulator.v6_validate),
            ("POST", v6o + r"/finalize", "v6.finalize", Emulator.v6_finalize),
            ("GET", v6c + r"/get/all", "v6.list_certificates", Emulator.v6_list_certificates),
            ("GET", v6c + r"/get", "v6.get_certificate", Emulator.v6_get_certificate),
            ("DELETE", v6c + r"/delete", "v6.delete_certificate", Emulator.v6_delete_certificate),
            ("POST", v8 + r"/order/create", "v8.create_order", Emulator.v8_create_order),
            ("POST", v8 + r"/schedule/create", "v8.schedule", Emulator.v8_schedule),
            ("GET", v8 + r"/get/certificatename/" + seg % "name", "v8.get_certificate", Emulator.v8_get_certificate),
            ("DELETE", v8 + r"/delete/certificatename/" + seg % "name", "v8.delete_certificate",
             Emulator.v8_delete_certificate),
            ("GET", r"/download/(?P<token>[A-Za-z0-9_-]+)/(?P<file>[^/]+)", "download", Emulator.download),
        ]
        # (method, path regex, endpoint name, handler(emu, req) -> Reply); endpoint names start with
        # "certifire." / "servertastic." so faults and the request log can target them.
        table += self.certifire.routes() + self.servertastic.routes()
        return [(m, re.compile("^" + p + "/?$"), e, h) for m, p, e, h in table]

    def route(self, method: str, path: str) -> tuple[str, Handler | None, dict[str, str]]:
        """(endpoint name, handler or None, params); unknown paths -> ("unknown", None)."""
        method_mismatch = None
        for m, rx, endpoint, handler in self.routes:
            match = rx.match(path)
            if not match:
                continue
            if m != method and not (method == "HEAD" and m == "GET"):
                method_mismatch = endpoint
                continue
            return endpoint, handler, {k: unquote(v) for k, v in match.groupdict().items()}
        if method_mismatch:
            return method_mismatch, None, {"_method_not_allowed": "1"}
        return "unknown", None, {}

    # ------------------------------------------------------------------ auth
    @staticmethod
    def _bearer(req: Request) -> str | None:
        value = req.headers.get("Authorization") or ""
        parts = value.strip().split(None, 1)
        if len(parts) == 2 and parts[0].lower() == "bearer" and parts[1].strip():
            return parts[1].strip()
        return None

    def _auth_key(self, req: Request) -> str:
        sid = req.params.get("sid", "")
        key = self._bearer(req)
        if key is None:
            raise ApiError(401, "Access denied due to missing API key. Send 'Authorization: Bearer <API key>'.")
        sub = self.store.subscription_by_key(key)
        if sub is None or sub["id"] != sid:
            raise ApiError(401, "Access denied due to invalid API key for subscription '%s'." % sid)
        return sid

    def _auth_token(self, req: Request) -> str:
        sid = req.params.get("sid", "")
        token = self._bearer(req)
        if token is None:
            raise ApiError(401, "Access denied due to missing access token. Send 'Authorization: Bearer <token>'.")
        row = self.store.token(token)
        if row is None:
            raise ApiError(401, "Access denied due to invalid access token.")
        if row["expires_at"] <= time.time():
            raise ApiError(401, "Access denied: the access token has expired.")
        if row["subscription_id"] != sid:
            raise ApiError(401, "Access denied: the API client is not registered for subscription '%s'." % sid)
        return sid

    # ------------------------------------------------------------------ token (Azure AD)
    def token(self, req: Request) -> Reply:
        tenant = req.params["tenant"]

        def aad(status: int, error: str, code: str, text: str) -> Reply:
            body = {"error": error, "error_description": "%s: %s" % (code, text), "error_codes": [int(code[len("AADSTS"):])],
                    "timestamp": utcnow().strftime("%Y-%m-%d %H:%M:%SZ"), "trace_id": str(uuid.uuid4()),
                    "correlation_id": str(uuid.uuid4())}
            return json_reply(body, status)

        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        form = parse_qs(req.body.decode("utf-8", "replace")) if ctype == "application/x-www-form-urlencoded" else {}
        f = {k: v[0] for k, v in form.items() if v}
        if "grant_type" not in f:
            return aad(400, "invalid_request", "AADSTS900144",
                       "The request body must contain the following parameter: 'grant_type'.")
        if f["grant_type"] != "client_credentials":
            return aad(400, "unsupported_grant_type", "AADSTS70003",
                       "The app requested an unsupported grant type '%s'." % f["grant_type"])
        if not f.get("client_id"):
            return aad(400, "invalid_request", "AADSTS900144",
                       "The request body must contain the following parameter: 'client_id'.")
        if not f.get("scope"):
            return aad(400, "invalid_request", "AADSTS900144",
                       "The request body must contain the following parameter: 'scope'.")
        client = self.store.client(f["client_id"])
        tenants = {c["tenant_id"] for s in self.store.subscriptions() for c in self.store.clients(s["id"])}
        if tenant not in tenants:
            return aad(400, "invalid_request", "AADSTS90002", "Tenant '%s' not found." % tenant)
        if client is None or client["tenant_id"] != tenant:
            return aad(400, "unauthorized_client", "AADSTS700016",
                       "Application with identifier '%s' was not found in the directory '%s'."
                       % (f["client_id"], tenant))
        if not f.get("client_secret"):
            return aad(401, "invalid_client", "AADSTS7000218",
                       "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        if not hmac.compare_digest(f["client_secret"], client["client_secret"]):
            return aad(401, "invalid_client", "AADSTS7000215",
                       "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                       "secret value, not the client secret ID, for a secret added to app '%s'." % f["client_id"])
        if f["scope"] != V6_SCOPE:
            return aad(400, "invalid_scope", "AADSTS70011",
                       "The provided request must include a 'scope' input parameter. The provided value for the "
                       "input parameter 'scope' is not valid. The scope %s is not valid." % f["scope"])
        ttl = int(self.settings["token_ttl"])
        now = int(time.time())
        token = self._jwt({"aud": V6_SCOPE.split("/", maxsplit=1)[0], "iss": "https://sts.windows.net/%s/" % tenant,
                           "iat": now, "nbf": now, "exp": now + ttl, "appid": client["client_id"],
                           "tid": tenant, "sub": client["client_id"], "jti": secrets.token_urlsafe(12)})
        self.store.add_token(token, client["client_id"], client["subscription_id"], tenant, time.time() + ttl)
        return json_reply({"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": token})

    def _jwt(self, claims: dict[str, Any]) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        head = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = b64(json.dumps(claims).encode())
        sig = hmac.new(self.secret, ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
        return "%s.%s.%s" % (head, body, b64(sig))

    # ------------------------------------------------------------------ certificates and downloads
    def _links(self, cert: dict[str, Any]) -> dict[str, str]:
        token = secrets.token_urlsafe(24)
        self.store.add_download(token, cert["file_id"], time.time() + float(self.settings["download_ttl"]))
        base = "%s/download/%s/%s" % (self.base_url, token, cert["file_id"])
        by_key = {item[0]: base + item[1] for item in DOWNLOADS}
        return {key: by_key[key] for key in URL_KEYS}

    def _pfx_b64(self, cert: dict[str, Any], endpoint: str) -> str:
        mat = self.store.material(cert["file_id"])
        assert mat is not None
        pfx = bytes(mat["pfx"])
        fault = self.faults.take(endpoint, ("truncated_pfx", "mismatched_key"))
        if fault and fault["kind"] == "truncated_pfx":
            pfx = pfx[: len(pfx) // 2]
        elif fault and fault["kind"] == "mismatched_key":
            pfx = self._mismatched_pfx(mat)
        return base64.b64encode(pfx).decode()

    def _mismatched_pfx(self, mat: dict[str, Any]) -> bytes:
        """A PKCS#12 holding the certificate and chain with a private key that is not the
        certificate's. (OpenSSL-based readers, cryptography included, then return the key with
        no matching certificate and the leaf among the additional certificates.)"""
        certs = pki.load_certs(mat["cert_pem"])
        return pki.make_pfx(mat["name"], self._other_key(mat), None, certs + pki.load_certs(mat["chain_pem"]),
                            mat["password"])

    @staticmethod
    def _other_key(mat: dict[str, Any]) -> pki.PrivateKey:
        old = pki.load_key(mat["key_pem"])
        return pki.new_key("rsa2048" if isinstance(old, rsa.RSAPrivateKey) else "ec256")

    def _cert_v7(self, cert: dict[str, Any], endpoint: str) -> dict[str, Any]:
        return {
            "certificateName": cert["name"], "rootDomain": cert["root_domain"], "email": cert["email"],
            "challengeType": cert["challenge_type"], "orderUri": cert["order_uri"],
            "issueDate": cert["issue_date"], "expiryDate": cert["expiry_date"], "id": cert["id"],
            "password": cert["password"], "pfxString": self._pfx_b64(cert, endpoint),
            "certificateDownloadUrl": self._links(cert),
        }

    def _cert_v6(self, cert: dict[str, Any], endpoint: str) -> dict[str, Any]:
        return {
            "certificateName": cert["name"], "issueDate": cert["issue_date"], "expiryDate": cert["expiry_date"],
            "pfxPassword": cert["password"], "pfxString": self._pfx_b64(cert, endpoint),
            "certificateDownloadUrls": self._links(cert),
        }

    def _cert_v8(self, cert: dict[str, Any], endpoint: str) -> dict[str, Any]:
        return {
            "certificateName": cert["name"], "rootDomain": cert["root_domain"],
            "challengeType": cert["challenge_type"].lower(), "email": cert["email"], "password": cert["password"],
            "target": cert["target"], "isSAN": cert["is_san"], "orderUri": cert["order_uri"],
            "subscriptionId": cert["subscription_id"], "tokens": [],
            "pfxString": self._pfx_b64(cert, endpoint), "certificateDownloadUrl": self._links(cert),
            "issueDate": cert["issue_date"], "expiryDate": cert["expiry_date"], "id": cert["id"],
        }

    def store_certificate(self, *, sid: str, name: str, root: str, challenge: str, is_san: bool, names: list[str],
                          email: str | None, password: str, target: str | None, order_uri: str | None,
                          issuer: str, key: pki.PrivateKey, leaf: x509.Certificate,
                          chain: list[x509.Certificate]) -> dict[str, Any]:
        file_id = str(uuid.uuid4())
        pfx = pki.make_pfx(name, key, leaf, chain, password)
        self.store.add_material(file_id, name, password, pki.key_pem(key).decode(), pki.cert_pem(leaf).decode(),
                                "".join(pki.cert_pem(c).decode() for c in chain), pfx, issuer)
        not_after = leaf.not_valid_after_utc
        not_before = leaf.not_valid_before_utc
        row = {
            "subscription_id": sid, "name": name.lower(), "root_domain": root, "challenge_type": challenge,
            "is_san": int(is_san), "names": names, "email": email, "password": password, "target": target,
            "order_uri": order_uri, "issuer": issuer, "file_id": file_id,
            "issue_date": api_date(utcnow()),
            # the vendor keeps its own clock: a date within the last second before notAfter
            "expiry_date": api_date(not_after.replace(microsecond=0) - _dt.timedelta(seconds=1),
                                    fraction=secrets.randbelow(10 ** 7)),
            "not_before": not_before.isoformat(), "not_after": not_after.isoformat(),
        }
        return self.store.put_certificate(row)

    def download(self, req: Request) -> Reply:
        link = self.store.download(req.params["token"])
        if link is None:
            raise ApiError(404, "The specified resource does not exist.")
        if link["expires_at"] <= time.time():
            raise ApiError(403, "This download link has expired.")
        mat = self.store.material(link["file_id"])
        fname = req.params["file"]
        if mat is None or not fname.startswith(link["file_id"]):
            raise ApiError(404, "The specified resource does not exist.")
        rest = fname[len(link["file_id"]):]
        for _key, suffix, ctype, what in DOWNLOADS:
            if rest == suffix:
                break
        else:
            raise ApiError(404, "The specified resource does not exist.")
        leaf_pem = mat["cert_pem"]
        chain_pem = mat["chain_pem"]
        fault = None
        if what == "pfx":
            fault = self.faults.take("download", ("truncated_pfx", "mismatched_key"))
        elif what == "key":
            fault = self.faults.take("download", ("mismatched_key",))
        if what == "leaf":
            data = leaf_pem.encode()
        elif what == "chain":
            data = chain_pem.encode()
        elif what == "fullchain":
            data = (leaf_pem + chain_pem).encode()
        elif what == "leaf_der":
            data = pki.load_certs(leaf_pem)[0].public_bytes(serialization.Encoding.DER)
        elif what == "key":
            data = mat["key_pem"].encode()
            if fault:
                data = pki.key_pem(self._other_key(mat))
        else:
            data = bytes(mat["pfx"])
            if fault and fault["kind"] == "truncated_pfx":
                data = data[: len(data) // 2]
            elif fault:
                data = self._mismatched_pfx(mat)
        headers = {"Content-Disposition": 'attachment; filename="%s"' % fname, "x-ms-blob-type": "BlockBlob"}
        return Reply(200, data, ctype, headers)

    # ------------------------------------------------------------------ orders: shared
    @staticmethod
    def _names(host: str, root: str, challenge: str, is_san: bool) -> list[str]:
        if not host:
            raise ApiError(400, "Host name is not defined.")
        if not root:
            raise ApiError(400, "Root domain is not defined.")
        if "," in host or " " in host:
            raise ApiError(400, "Host name '%s' is not valid: give one host name." % host)
        if is_san and (host != root or "*" in host):
            raise ApiError(400, "A SAN certificate's host name must be the root domain '%s' (no '*'), not '%s'."
                           % (root, host))
        if host != root and not host.endswith("." + root):
            raise ApiError(400, "Host name '%s' is not in the root domain '%s'." % (host, root))
        if "*" in host and challenge != "DNS":
            raise ApiError(400, "Wildcard certificates need the DNS challenge.")
        if "*" in host and (not host.startswith("*.") or "*" in host[2:]):
            raise ApiError(400, "Host name '%s' is not valid." % host)
        try:
            return san_names_for(host, root, challenge, is_san)[1]
        except SeedError as exc:
            raise ApiError(400, str(exc)) from exc

    def _order_mode(self, order: dict[str, Any], endpoint: str) -> str:
        """normal | stuck | fail: flags set at creation, or a fault taken now."""
        if order.get("stuck"):
            return "stuck"
        if order.get("fail"):
            return "fail"
        fault = self.faults.take(endpoint, ("stuck_pending", "challenge_fail"))
        if fault is None:
            return "normal"
        flag = "stuck" if fault["kind"] == "stuck_pending" else "fail"
        self.store.update_order(order["order_uri"], **{flag: 1})
        return flag

    def _create_order(self, sid: str, api: str, name: str, root: str, challenge: str, is_san: bool,
                      names: list[str], endpoint: str, email: str | None = None, password: str | None = None,
                      target: str | None = None) -> tuple[dict[str, Any], Any, list[Any], list[dict[str, Any]]]:
        fault = self.faults.take(endpoint, ("stuck_pending", "challenge_fail"))
        try:
            order_uri = self.acme.new_order(sid, names)
            body, authzs = self.acme.fetch(sid, order_uri)
            tokens = self.acme.tokens(sid, authzs, challenge, root)
        except AcmeFailure as exc:
            raise ApiError(400, str(exc)) from exc
        row = {"order_uri": order_uri, "subscription_id": sid, "api": api, "certificate_name": name.lower(),
               "root_domain": root, "challenge_type": challenge, "is_san": is_san, "names": names, "email": email,
               "password": password, "target": target,
               "stuck": bool(fault and fault["kind"] == "stuck_pending"),
               "fail": bool(fault and fault["kind"] == "challenge_fail")}
        self.store.add_order(row)
        return row, body, authzs, tokens

    def _order(self, sid: str, order_uri: str | None) -> dict[str, Any]:
        if not order_uri or not order_uri.strip():
            raise ApiError(400, "Order uri is not defined.")
        order = self.store.order(order_uri.strip())
        if order is None or order["subscription_id"] != sid:
            raise ApiError(404, "Order '%s' was not found." % order_uri)
        return order

    def _live(self, order: dict[str, Any]) -> tuple[Any, list[Any], list[dict[str, Any]]]:
        try:
            body, authzs = self.acme.fetch(order["subscription_id"], order["order_uri"])
            tokens = self.acme.tokens(order["subscription_id"], authzs, order["challenge_type"], order["root_domain"])
        except AcmeFailure as exc:
            raise ApiError(400, str(exc)) from exc
        return body, authzs, tokens

    def _invalid_text(self, order: dict[str, Any], authzs: list[Any], body: Any) -> str:
        outcome = self.acme.wait(order["subscription_id"], authzs, order["challenge_type"], 0)
        details = [text for _d, text in outcome.failures]
        if not details and body.error is not None:
            details = [str(getattr(body.error, "detail", body.error))]
        return "Order '%s' is invalid: %s" % (order["order_uri"], "; ".join(details) or "no detail")

    def _validate_and_wait(self, order: dict[str, Any], mode: str) -> None:
        """Answer the challenges and wait (bounded) for Pebble's verdict; ApiError(400) unless valid."""
        body, authzs, _tokens = self._live(order)
        if st(body) == "invalid":
            raise ApiError(400, self._invalid_text(order, authzs, body))
        if st(body) in ("ready", "valid", "processing"):
            return
        try:
            self.acme.answer(order["subscription_id"], authzs, order["challenge_type"], mode)
            timeout = float(self.settings["validation_timeout"])
            outcome: Outcome = self.acme.wait(order["subscription_id"], authzs, order["challenge_type"], timeout)
        except AcmeFailure as exc:
            raise ApiError(400, str(exc)) from exc
        if outcome.status == "invalid":
            raise ApiError(400, "; ".join(text for _d, text in outcome.failures))
        if outcome.status == "pending":
            raise ApiError(400, "Order '%s' is still pending: validation of %s did not complete within %g seconds."
                           % (order["order_uri"], ", ".join(outcome.pending), timeout))

    def _finalize(self, order: dict[str, Any], *, name: str, password: str, email: str | None,
                  target: str | None, subject: dict[str, str] | None = None,
                  cert_record: dict[str, Any] | None = None) -> dict[str, Any]:
        sid = order["subscription_id"]
        try:
            key, leaf, chain, cert_url = self.acme.finalize(sid, order["order_uri"], order["names"],
                                                            str(self.settings["key_type"]),
                                                            float(self.settings["finalize_timeout"]), subject)
        except AcmeFailure as exc:
            raise ApiError(400, str(exc)) from exc
        self.store.update_order(order["order_uri"], certificate_uri=cert_url)
        rec = cert_record or {}
        return self.store_certificate(
            sid=sid, name=name, root=rec.get("root_domain", order["root_domain"]),
            challenge=rec.get("challenge_type", order["challenge_type"]),
            is_san=bool(rec.get("is_san", order["is_san"])), names=order["names"], email=email,
            password=password, target=target, order_uri=order["order_uri"], issuer="pebble", key=key, leaf=leaf,
            chain=chain)

    @staticmethod
    def _status_of(body: Any) -> str:
        return st(body)

    # ------------------------------------------------------------------ V7
    def _v7_name(self, req: Request) -> str:
        name = req.params.get("name", "").strip().lower()
        if not name:
            raise ApiError(400, "Certificate name is not defined.")
        return name

    def _portal_cert(self, sid: str, name: str) -> dict[str, Any]:
        cert = self.store.certificate(sid, name)
        if cert is None:
            raise ApiError(404, "Certificate '%s' was not found." % name)
        return cert

    def v7_get_certificate(self, req: Request) -> Reply:
        sid = self._auth_key(req)
        cert = self._portal_cert(sid, self._v7_name(req))
        return json_reply(self._cert_v7(cert, "v7.get_certificate"))

    @staticmethod
    def _tokens_out(tokens: list[dict[str, Any]], ctype_case: str, with_domain: bool = True) -> list[dict[str, Any]]:
        out = []
        for t in tokens:
            item = {"tokenName": t["tokenName"], "tokenValue": t["tokenValue"],
                    "challengeType": t["challengeType"].lower() if ctype_case == "lower" else t["challengeType"]}
            if with_domain:
                item["domain"] = t["domain"]
            out.append(item)
        return out

    def v7_create_order(self, req: Request) -> Reply:
        sid = self._auth_key(req)
        cert = self._portal_cert(sid, self._v7_name(req))
        _row, body, _authzs, tokens = self._create_order(
            sid, "v7", cert["name"], cert["root_domain"], cert["challenge_type"], cert["is_san"], cert["names"],
            "v7.create_order", email=cert["email"], password=cert["password"], target=cert["target"])
        return json_reply({"status": self._status_of(body), "validationTokens": self._tokens_out(tokens, "upper"),
                           "orderUri": _row["order_uri"], "certificateUri": None})

    def v7_finalize(self, req: Request) -> Reply:
        sid = self._auth_key(req)
        name = self._v7_name(req)
        order_uri = req.q("orderuri")
        if not order_uri or not order_uri.strip():
            raise ApiError(400, "Order uri is not defined.")
        cert = self._portal_cert(sid, name)
        order = self._order(sid, order_uri)
        if order["certificate_name"] != name:
            raise ApiError(400, "Order '%s' was created for certificate '%s', not '%s'."
                           % (order_uri, order["certificate_name"], name))
        body, authzs, _tokens = self._live(order)
        if st(body) == "valid":
            raise ApiError(400, "Order '%s' is already finalized (status valid). Create a new order." % order_uri)
        if st(body) == "pending":
            self._validate_and_wait(order, self._order_mode(order, "v7.finalize"))
        elif st(body) == "invalid":
            raise ApiError(400, self._invalid_text(order, authzs, body))
        new = self._finalize(order, name=name, password=cert["password"], email=cert["email"],
                             target=cert["target"], cert_record=cert)
        return json_reply(self._cert_v7(new, "v7.finalize"))

    # ------------------------------------------------------------------ V6
    @staticmethod
    def _challenge(value: Any, case: str) -> str:
        allowed = ("DNS", "HTTP") if case == "upper" else ("dns", "http")
        if value is None or value == "":
            raise ApiError(400, "Challenge type is not defined.")
        if value not in allowed:
            raise ApiError(400, "Challenge type '%s' is not valid: use %s or %s." % (value, allowed[0], allowed[1]))
        return str(value).upper()

    @staticmethod
    def _bool(value: Any, what: str) -> bool:
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        raise ApiError(400, "%s must be true or false." % what)

    def _order_v6(self, order: dict[str, Any], body: Any, authzs: list[Any], tokens: list[dict[str, Any]]) -> dict:
        challenges = [{"challengeType": t["acmeType"], "status": t["status"], "token": t["acmeToken"]} for t in tokens]
        return {"status": self._status_of(body),
                "validationTokens": self._tokens_out(tokens, "upper", with_domain=False),
                "challenges": challenges, "orderUri": order["order_uri"],
                "certificateUri": body.certificate if st(body) == "valid" else None}

    def v6_create_order(self, req: Request) -> Reply:
        sid = self._auth_token(req)
        data = req.json()
        host = str(data.get("hostName") or "").strip().lower()
        root = str(data.get("rootDomain") or "").strip().lower()
        challenge = self._challenge(data.get("challengeType"), "upper")
        is_san = self._bool(data.get("isSAN"), "isSAN")
        names = self._names(host, root, challenge, is_san)
        row, body, authzs, tokens = self._create_order(sid, "v6", host, root, challenge, is_san, names,
                                                       "v6.create_order", email=data.get("email"))
        return json_reply(self._order_v6(row, body, authzs, tokens))

    def v6_get_order(self, req: Request) -> Reply:
        sid = self._auth_token(req)
        data = req.json()
        order = self._order(sid, data.get("orderUri"))
        body, authzs, tokens = self._live(order)
        return json_reply(self._order_v6(order, body, authzs, tokens))

    def v6_validate(self, req: Request) -> Reply:
        sid = self._auth_token(req)
        data = req.json()
        order = self._order(sid, data.get("orderUri"))
        if data.get("challengeType") is not None:
            challenge = self._challenge(data.get("challengeType"), "upper")
            if challenge != order["challenge_type"]:
                raise ApiError(400, "Order '%s' uses the %s challenge, not %s."
                               % (order["order_uri"], order["challenge_type"], challenge))
        body, authzs, _tokens = self._live(order)
        if st(body) != "pending":
            raise ApiError(400, "Only a pending order can be validated; order '%s' is %s."
                           % (order["order_uri"], st(body)))
        mode = self._order_mode(order, "v6.validate")
        try:
            self.acme.answer(sid, authzs, order["challenge_type"], mode)
        except AcmeFailure as exc:
            raise ApiError(400, str(exc)) from exc
        return Reply(200)

    def v6_finalize(self, req: Request) -> Reply:
        sid = self._auth_token(req)
        data = req.json()
        order = self._order(sid, data.get("orderUri"))
        host = str(data.get("hostName") or "").strip().lower()
        if not host:
            raise ApiError(400, "Host name is not defined.")
        if host != order["certificate_name"]:
            raise ApiError(400, "Order '%s' was created for host name '%s', not '%s'."
                           % (order["order_uri"], order["certificate_name"], host))
        password = data.get("password")
        if not isinstance(password, str) or not password:
            raise ApiError(400, "Password is not defined.")
        body, _authzs, _tokens = self._live(order)
        if st(body) == "valid":
            raise ApiError(400, "Order '%s' is already finalized (status valid). Create a new order."
                           % order["order_uri"])
        if st(body) != "ready":
            raise ApiError(400, "Only a ready order can be finalized; order '%s' is %s."
                           % (order["order_uri"], st(body)))
        csr_info = data.get("csrInfo") if isinstance(data.get("csrInfo"), dict) else None
        self._finalize(order, name=host, password=password, email=data.get("email") or order["email"],
                       target=None, subject=csr_info)
        body, authzs, tokens = self._live(order)
        return json_reply(self._order_v6(order, body, authzs, tokens))

    def _v6_name(self, req: Request) -> str:
        name = (req.q("name") or "").strip().lower()
        if not name:
            raise ApiError(400, "Certificate name is not defined.")
        return name

    def v6_get_certificate(self, req: Request) -> Reply:
        sid = self._auth_token(req)
        cert = self._portal_cert(sid, self._v6_name(req))
        return json_reply(self._cert_v6(cert, "v6.get_certificate"))

    def v6_list_certificates(self, req: Request) -> Reply:
        sid = self._auth_token(req)
        return json_reply([{"certificateName": c["name"], "issueDate": c["issue_date"], "expiryDate": c["expiry_date"]}
                           for c in self.store.certificates(sid)])

    def v6_delete_certificate(self, req: Request) -> Reply:
        sid = self._auth_token(req)
        name = self._v6_name(req)
        if not self.store.delete_certificate(sid, name):
            raise ApiError(404, "Certificate '%s' was not found." % name)
        return Reply(200)

    # ------------------------------------------------------------------ V8
    def v8_create_order(self, req: Request) -> Reply:
        sid = self._auth_key(req)
        data = req.json()
        name = str(data.get("certificateName") or "").strip().lower()
        if not name:
            raise ApiError(400, "Certificate name is not defined.")
        root = str(data.get("rootDomain") or "").strip().lower()
        challenge = self._challenge(data.get("challengeType"), "lower")
        is_san = self._bool(data.get("isSAN"), "isSAN")
        names = self._names(name, root, challenge, is_san)
        row, body, _authzs, tokens = self._create_order(
            sid, "v8", name, root, challenge, is_san, names, "v8.create_order", email=data.get("email"),
            password=data.get("password"), target=data.get("target"))
        reply = dict(data)
        reply.update({"certificateName": name, "rootDomain": root, "challengeType": challenge.lower(),
                      "isSAN": is_san, "orderUri": row["order_uri"], "subscriptionId": sid,
                      "tokens": self._tokens_out(tokens, "lower"), "pfxString": None,
                      "certificateDownloadUrl": None, "issueDate": None, "expiryDate": None,
                      "id": data.get("id") or 0, "status": self._status_of(body)})
        return json_reply(reply)

    def v8_schedule(self, req: Request) -> Reply:
        sid = self._auth_key(req)
        data = req.json()
        name = str(data.get("certificateName") or "").strip().lower()
        if not name:
            raise ApiError(400, "Certificate name is not defined.")
        order = self._order(sid, data.get("orderUri"))
        if order["certificate_name"] != name:
            raise ApiError(400, "Order '%s' was created for certificate '%s', not '%s'."
                           % (order["order_uri"], order["certificate_name"], name))
        body, authzs, _tokens = self._live(order)
        if st(body) == "valid":
            raise ApiError(400, "Order '%s' is already finalized (status valid). Create a new order."
                           % order["order_uri"])
        if st(body) == "invalid":
            raise ApiError(400, self._invalid_text(order, authzs, body))
        mode = self._order_mode(order, "v8.schedule") if st(body) == "pending" else "normal"
        password = data.get("password") or order.get("password") or ""
        job = {"id": str(uuid.uuid4()), "subscription_id": sid, "certificate_name": name,
               "order_uri": order["order_uri"], "status": "scheduled", "error": None, "created": time.time(),
               "mode": mode}
        with self._jobs_lock:
            self.jobs.append(job)
            del self.jobs[:-200]
        thread = threading.Thread(target=self._run_job, name="v8-job", daemon=True,
                                  args=(job, order, mode, str(password), data))
        thread.start()
        return Reply(200)

    def _run_job(self, job: dict[str, Any], order: dict[str, Any], mode: str, password: str,
                 data: dict[str, Any]) -> None:
        time.sleep(float(self.settings["schedule_delay"]))
        job["status"] = "running"
        try:
            self._validate_and_wait(order, mode)
            self._finalize(order, name=order["certificate_name"], password=password,
                           email=data.get("email") or order.get("email"),
                           target=data.get("target") or order.get("target"))
            job["status"] = "done"
        except ApiError as exc:
            job["status"], job["error"] = "failed", exc.text
        except Exception as exc:  # noqa: BLE001 - recorded for the admin API
            job["status"], job["error"] = "failed", "%s\n%s" % (exc, traceback.format_exc())
        job["finished"] = time.time()
        log.info("v8 job %s: %s %s", job["id"], job["status"], job["error"] or "")

    def v8_get_certificate(self, req: Request) -> Reply:
        sid = self._auth_key(req)
        cert = self._portal_cert(sid, self._v7_name(req))
        return json_reply(self._cert_v8(cert, "v8.get_certificate"))

    def v8_delete_certificate(self, req: Request) -> Reply:
        sid = self._auth_key(req)
        name = self._v7_name(req)
        if not self.store.delete_certificate(sid, name):
            raise ApiError(404, "Certificate '%s' was not found." % name)
        return Reply(200)

    # ------------------------------------------------------------------ seeding and admin views
    def apply_seed(self, seed: Seed) -> list[dict[str, Any]]:
        if seed.replace:
            self.store.wipe()
            self.acme.forget()
        for sub in seed.subscriptions:
            self.store.upsert_subscription(sub.id, sub.api_key, sub.email)
            for c in sub.clients:
                self.store.upsert_client(c.client_id, c.client_secret, c.tenant_id, sub.id)
            for cs in sub.certificates:
                key = pki.new_key(str(self.settings["key_type"]))
                leaf = pki.issue_leaf(self.seed_issuer, key, cs.names, cs.not_before, cs.not_after)
                self.store_certificate(sid=sub.id, name=cs.name, root=cs.root_domain, challenge=cs.challenge_type,
                                       is_san=cs.is_san, names=cs.names, email=cs.email, password=cs.password,
                                       target=cs.target, order_uri=None, issuer="seed", key=key, leaf=leaf,
                                       chain=self.seed_chain)
                assert leaf.not_valid_after_utc == cs.not_after.astimezone(_dt.timezone.utc)
        return self.certificate_summaries()

    def certificate_summaries(self) -> list[dict[str, Any]]:
        out = []
        for c in self.store.certificates():
            mat = self.store.material(c["file_id"]) or {}
            leaf = pki.load_certs(mat.get("cert_pem", ""))
            out.append({
                "subscription_id": c["subscription_id"], "id": c["id"], "name": c["name"],
                "root_domain": c["root_domain"], "challenge_type": c["challenge_type"], "is_san": c["is_san"],
                "san": c["names"], "expiry_date": c["expiry_date"], "issue_date": c["issue_date"],
                "not_before": c["not_before"], "not_after": c["not_after"], "issuer": c["issuer"],
                "order_uri": c["order_uri"], "password": c["password"], "email": c["email"],
                "serial": format(leaf[0].serial_number, "x") if leaf else None,
            })
        return out

    def subscription_summaries(self) -> list[dict[str, Any]]:
        out = []
        for s in self.store.subscriptions():
            out.append({"id": s["id"], "api_key": s["api_key"], "email": s["email"],
                        "acme_account_uri": s["acme_account_uri"],
                        "clients": [{"client_id": c["client_id"], "client_secret": c["client_secret"],
                                     "tenant_id": c["tenant_id"]} for c in self.store.clients(s["id"])]})
        return out

    def set_settings(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ApiError(400, "settings: a JSON object")
        for key, value in data.items():
            if key not in DEFAULT_SETTINGS:
                raise ApiError(400, "unknown setting %r; known: %s" % (key, ", ".join(DEFAULT_SETTINGS)))
            if key == "key_type":
                if value not in ("rsa2048", "ec256"):
                    raise ApiError(400, "key_type: rsa2048 or ec256")
            elif not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ApiError(400, "%s: a non-negative number" % key)
        self.settings.update(data)
        return dict(self.settings)
