"""The Certifire "ACME Orders" API (seed 003, PROVIDERS.md section 1), emulated under ``PATH_CERTIFIRE``.

Certifire is a Flask service in front of an ACME CA: it holds the ACME account keys, makes the
certificate keys (RSA) and runs order, DNS-01 / HTTP-01 validation, finalization and download in a
background thread per order run. Here:

- the CA is the sandbox Pebble (any ``server`` works whose ``directory`` or ``dir`` is an ACME
  directory; Pebble's is ``/dir``). **Deviation:** an account without ``server`` goes to the sandbox
  Pebble, not to Let's Encrypt staging as in the real ``config.py``;
- provider ``route53`` = the sandbox BIND, updated by RFC 2136 with the sandbox TSIG key
  (``_acme-challenge.<name>`` TXT, TTL 10, deleted again after the run);
- an ``sftp`` destination whose ``host`` is in a sandbox zone (or localhost) is "on the emulator
  host": the SSH login test passes when a ``password`` is given (the key login is broken in the
  real service too), HTTP-01 files go to ``<webroot>/.well-known/acme-challenge/<token>`` (served by
  the sandbox http01 server, whatever ``challengeDestinationPath`` says) and the issued files to
  ``<services_dir>/certifire/destinations/<id>/<certDestinationPath>/<host>/``;
- reply codes and bodies follow PROVIDERS.md, quirks included: HTML (Werkzeug) pages for
  ``abort()``/crashes, JSON ``{"status"}`` otherwise, ``id`` 0 for an unknown provider, 500 for
  ``type`` other than dns/sftp or a lone ``csr``, 500 on ``GET /api/order[/<id>]`` until the
  worker has written ``contents`` (setting ``certifire_write_delay``), ``Location`` headers with
  ``http://`` (``url_for(_external=True)`` behind a TLS proxy), 201 for revoking a revoked
  certificate, no failure status (a failed run leaves the order ``Pending``/``valid``/``revoked``
  and only ``contents.status`` tells).

Not reproduced: the real service's sleeps (5 s per HTTP-01 file, Route 53 INSYNC waits), SFTP
itself, Werkzeug's debugger pages, a database (all state is in memory: every sandbox start is a
clean slate), the apex + wildcard collision of the real code (it keys the challenges by
identifier, so ``example.test`` + ``*.example.test`` never validates; here both TXT values are
published). Settings: ``certifire_key_bits`` (RSA size of the service-made certificate and
account keys, default 4096 as the real one), ``certifire_write_delay`` (seconds before the worker
writes ``contents``, default 1.0).
"""

from __future__ import annotations

import base64
import datetime as _dt
import email.parser
import email.policy
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs, urljoin, urlsplit

import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import josepy as jose
import requests
from acme import client, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .common import CERTIFIRE_PASSWORD, CERTIFIRE_USERNAME, PATH_CERTIFIRE, write_file

if TYPE_CHECKING:  # pragma: no cover
    from .api import Emulator, Reply, Request

log = logging.getLogger("rclemu.certifire")

# Endpoint names for faults and the request log (all start with "certifire.").
ENDPOINTS: tuple[str, ...] = (
    "certifire.resource", "certifire.token", "certifire.create_user", "certifire.get_user",
    "certifire.acme", "certifire.get_account", "certifire.list_accounts", "certifire.delete_account",
    "certifire.create_order", "certifire.get_order", "certifire.list_orders", "certifire.reissue",
    "certifire.get_certificate", "certifire.list_certificates", "certifire.revoke_certificate",
    "certifire.purge_certificate",
    "certifire.create_destination", "certifire.get_destination", "certifire.list_destinations",
    "certifire.update_destination", "certifire.delete_destination",
    "certifire.unknown",
)
# semantic fault kind -> the endpoints where it takes effect
SEMANTIC_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "stuck_pending": ("certifire.create_order", "certifire.reissue"),
    "challenge_fail": ("certifire.create_order", "certifire.reissue"),
    "mismatched_key": ("certifire.get_certificate", "certifire.list_certificates"),
}

SETTINGS: dict[str, Any] = {
    "certifire_key_bits": 4096,  # RSA size of the certificate keys (and generated account keys)
    "certifire_write_delay": 1.0,  # seconds before the worker writes contents (GET order is 500 until then)
}

VALID_DNS_PROVIDERS = ("route53",)
# config.py defaults for the CSR subject
DEFAULT_SUBJECT = {"organization": "certifire", "organizational_unit": "testing", "country": "IN", "state": "KL",
                   "location": "QLN"}
SUBJECT_FIELDS = ("organization", "organizational_unit", "country", "state", "location")
JWT_SECRET = b"loremipsum"  # the real default when SECRET is unset (quirk 6)
TOKEN_DURATION = 600
POLL_INTERVAL = 0.2

# Werkzeug 1.0 (Flask 1.1, the 2021 stack) default error pages
_HTML_ERRORS = {
    400: ("Bad Request", "The browser (or proxy) sent a request that this server could not understand."),
    404: ("Not Found", "The requested URL was not found on the server. If you entered the URL manually please "
                       "check your spelling and try again."),
    405: ("Method Not Allowed", "The method is not allowed for the requested URL."),
    500: ("Internal Server Error", "The server encountered an internal error and was unable to complete your "
                                   "request. Either the server is overloaded or there is an error in the "
                                   "application."),
}


class _Abort(Exception):
    """Werkzeug's abort(status): an HTML error page."""

    def __init__(self, status: int, reason: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(reason or str(status))
        self.status = status
        self.reason = reason
        self.headers = headers or {}


class _Crash(RuntimeError):
    """Where the real view crashes (an HTML 500): the reason goes to the log and X-Emulator-Reason."""


class _Superseded(Exception):
    """A newer run of the same order (or a reset) took over."""


@dataclass
class User:
    id: int
    username: str
    password: str
    is_admin: bool = False


@dataclass
class Account:
    id: int
    user_id: int
    email: str
    key: str  # PEM (TraditionalOpenSSL)
    uri: str
    server: str
    directory_uri: str
    organization: str | None
    organizational_unit: str | None
    country: str | None
    state: str | None
    location: str | None

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "key": self.key, "uri": self.uri, "server": self.server,
                "directory_uri": self.directory_uri, "organization": self.organization,
                "organizational_unit": self.organizational_unit, "country": self.country, "state": self.state,
                "location": self.location, "user_id": self.user_id}


@dataclass
class Order:
    id: int
    user_id: int
    account_id: int
    destination_id: int | None
    hash: str
    type: str
    provider: str
    domains: list[str]
    email: str | None
    subject: dict[str, str | None]
    csr: str
    key: str
    status: str = "Pending"
    uri: str | None = None
    contents: dict[str, Any] | None = None
    resolved_cert_id: int | None = None
    run: int = 0  # generation of the current worker run
    runs: list[dict[str, Any]] = field(default_factory=list)  # admin only

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "hash": self.hash, "contents": self.contents, "uri": self.uri, "type": self.type,
                "provider": self.provider, "key": self.key, "csr": self.csr, "domains": list(self.domains),
                "account_id": self.account_id, "user_id": self.user_id, "status": self.status,
                "resolved_cert_id": self.resolved_cert_id,
                **{k: self.subject.get(k) for k in SUBJECT_FIELDS}}


@dataclass
class Certificate:
    id: int
    order_id: int
    user_id: int
    status: str
    body: str
    intermediate: str | None
    chain: str
    key: str
    csr: str
    expiry: str
    fingerprint: str
    serial: str = ""  # admin only

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "fingerprint": self.fingerprint, "expiry": self.expiry, "body": self.body,
                "intermediate": self.intermediate, "chain": self.chain, "key": self.key, "csr": self.csr,
                "order_id": self.order_id, "user_id": self.user_id, "status": self.status}


@dataclass
class Destination:
    id: int
    user_id: int
    host: str
    port: int
    user: str
    password: str | None
    ssh_priv_key: str | None
    ssh_priv_key_pass: str | None
    challengeDestinationPath: str  # noqa: N815 - the API's field names
    certDestinationPath: str  # noqa: N815
    exportFormat: str  # noqa: N815

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "port": self.port, "user": self.user, "password": self.password,
                "ssh_priv_key": self.ssh_priv_key, "ssh_priv_key_pass": self.ssh_priv_key_pass,
                "challengeDestinationPath": self.challengeDestinationPath,
                "certDestinationPath": self.certDestinationPath, "exportFormat": self.exportFormat,
                "user_id": self.user_id}


# ---------------------------------------------------------------------- replies
def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> "Reply":
    from .api import Reply

    return Reply(status, json.dumps(obj, sort_keys=True).encode("utf-8"), "application/json", dict(headers or {}),
                 is_json=True)


def _html(status: int, reason: str = "", headers: dict[str, str] | None = None) -> "Reply":
    from .api import Reply

    title, text = _HTML_ERRORS.get(status, ("Error", ""))
    body = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<title>%d %s</title>\n<h1>%s</h1>\n<p>%s</p>\n'
            % (status, title, title, text))
    hdrs = dict(headers or {})
    if reason:  # not in the real reply: what the emulator's "crash" was (one line, latin-1)
        hdrs["X-Emulator-Reason"] = reason.replace("\r", " ").replace("\n", " ")[:300].encode(
            "latin-1", "replace").decode("latin-1")
    return Reply(status, body.encode("utf-8"), "text/html; charset=utf-8", hdrs)


def _unauthorized() -> "Reply":
    from .api import Reply

    return Reply(401, b"Unauthorized Access", "text/html; charset=utf-8",
                 {"WWW-Authenticate": 'Basic realm="Authentication Required"'})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """PEM as the real crypto.export_private_key: TraditionalOpenSSL ("BEGIN RSA PRIVATE KEY")."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode("ascii")


def _load_key(pem: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """crypto.load_private_key: RSA >= 2048 or EC, else ValueError (a 500 in the views)."""
    key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError("Key is not a private RSA or EC key.")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise ValueError("The key must be 2048 bits or longer.")
    return key


def _build_csr(key: rsa.RSAPrivateKey, domains: list[str], owner: str | None,
               subject: dict[str, str | None]) -> str:
    """crypto.create_csr: CN = first domain, emailAddress, O/OU/C/ST/L when set, SAN = all domains."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, domains[0])]
    if owner:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, owner))
    for name, oid in (("organization", NameOID.ORGANIZATION_NAME),
                      ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
                      ("country", NameOID.COUNTRY_NAME), ("state", NameOID.STATE_OR_PROVINCE_NAME),
                      ("location", NameOID.LOCALITY_NAME)):
        value = subject.get(name)
        if isinstance(value, str) and value.strip():
            attrs.append(x509.NameAttribute(oid, value))  # a bad country code raises: 500, as the real one
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name(attrs))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _body_json(body: Any) -> dict[str, Any]:
    """An ACME resource body as plain JSON."""
    data = json.loads(body.json_dumps())
    return data if isinstance(data, dict) else {}


def _int(value: Any) -> int | None:
    """An id as SQLAlchemy's query.get takes it (int or digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _status(resource: Any) -> str:
    status = resource.status
    return str(getattr(status, "name", status))


# ---------------------------------------------------------------------- ACME client per Certifire account
class _CaClient:
    """One ACME account at the CA (the ``acme`` library); every network call holds ``lock``."""

    def __init__(self, directory_uri: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, verify: str | bool,
                 uri: str | None = None) -> None:
        self.lock = threading.RLock()
        if isinstance(key, rsa.RSAPrivateKey):
            self.jwk: jose.JWK = jose.JWKRSA(key=key)
            alg = jose.RS256
        else:
            self.jwk = jose.JWKEC(key=key)
            alg = {256: jose.ES256, 384: jose.ES384, 521: jose.ES512}.get(key.curve.key_size, jose.ES256)
        # verify_ssl is handed to requests as `verify`: a CA file path works (typed as bool upstream)
        self.net = client.ClientNetwork(self.jwk, alg=alg, verify_ssl=verify,  # type: ignore[arg-type]
                                        user_agent="rcl-certifire-emulator", timeout=10)
        self.client = client.ClientV2(client.ClientV2.get_directory(directory_uri, self.net), self.net)
        self.regr: messages.RegistrationResource | None = None
        if uri:
            self.regr = messages.RegistrationResource(uri=uri, body=messages.Registration())
            self.net.account = self.regr

    def register(self, email: str) -> str:
        reg = messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)
        with self.lock:
            try:
                self.regr = self.client.new_account(reg)
            except errors.ConflictError as exc:  # the key is registered already: use that account
                self.regr = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
                self.net.account = self.regr
        return str(self.regr.uri)

    def post_as_get(self, url: str) -> requests.Response:
        with self.lock:
            return self.net.post(url, None, new_nonce_url=getattr(self.client.directory, "newNonce"))

    def new_order(self, csr_pem: str) -> messages.OrderResource:
        with self.lock:
            return self.client.new_order(csr_pem.encode("ascii"))

    def authorization(self, url: str) -> messages.Authorization:
        return messages.Authorization.from_json(self.post_as_get(url).json())

    def order(self, url: str) -> messages.Order:
        return messages.Order.from_json(self.post_as_get(url).json())

    def answer(self, challb: messages.ChallengeBody) -> None:
        with self.lock:
            self.client.answer_challenge(challb, challb.chall.response(self.jwk))

    def begin_finalization(self, orderr: messages.OrderResource) -> None:
        with self.lock:
            self.client.begin_finalization(orderr)

    def revoke(self, cert: x509.Certificate) -> None:
        with self.lock:
            self.client.revoke(cert, 0)

    def deactivate(self) -> bool:
        if self.regr is None:
            return False
        with self.lock:
            regr = self.client.deactivate_registration(self.regr)
        return _status(regr.body) == "deactivated"


# ---------------------------------------------------------------------- the emulator
Handler = Callable[["Emulator", "Request"], "Reply"]


class CertifireEmulator:
    name = "certifire"

    def __init__(self, emu: "Emulator", config: dict[str, Any]) -> None:
        self.emu = emu
        self.config = config
        for key, value in SETTINGS.items():
            emu.settings.setdefault(key, value)
        self.lock = threading.RLock()
        self._register_lock = threading.Lock()
        self._reset_state()

    def _reset_state(self) -> None:
        with self.lock:
            self.epoch = getattr(self, "epoch", 0) + 1
            self.users: dict[int, User] = {1: User(1, CERTIFIRE_USERNAME, CERTIFIRE_PASSWORD, True)}
            self.accounts: dict[int, Account] = {}
            self.orders: dict[int, Order] = {}
            self.certificates: dict[int, Certificate] = {}
            self.destinations: dict[int, Destination] = {}
            self._ca: dict[int, _CaClient] = {}
            self._next = {"user": 2, "account": 1, "order": 1, "certificate": 1, "destination": 1}

    def _new_id(self, kind: str) -> int:
        with self.lock:
            value = self._next[kind]
            self._next[kind] = value + 1
            return value

    # ------------------------------------------------------------------ routing
    def routes(self) -> list[tuple[str, str, str, Any]]:
        """(method, path regex below the server root, endpoint, handler(emu, req) -> Reply)."""
        api = re.escape(PATH_CERTIFIRE) + r"/api"
        idp = r"/(?P<id>\d+)"
        table: list[tuple[str, str, str, Any]] = [
            ("GET", api + r"/resource", "certifire.resource", self._wrap(self.resource)),
            ("GET", api + r"/token", "certifire.token", self._wrap(self.token)),
            ("POST", api + r"/users", "certifire.create_user", self._wrap(self.create_user)),
            ("GET", api + r"/users" + idp, "certifire.get_user", self._wrap(self.get_user, auth=False)),
            ("POST", api + r"/acme", "certifire.acme", self._wrap(self.create_account)),
            ("GET", api + r"/acme", "certifire.list_accounts", self._wrap(self.list_accounts)),
            ("GET", api + r"/acme" + idp, "certifire.get_account", self._wrap(self.get_account)),
            ("DELETE", api + r"/acme" + idp, "certifire.delete_account", self._wrap(self.delete_account)),
            ("POST", api + r"/order", "certifire.create_order", self._wrap(self.create_order)),
            ("GET", api + r"/order", "certifire.list_orders", self._wrap(self.list_orders)),
            ("GET", api + r"/order" + idp, "certifire.get_order", self._wrap(self.get_order)),
            ("COPY", api + r"/order" + idp, "certifire.reissue", self._wrap(self.reissue)),
            ("GET", api + r"/certificate", "certifire.list_certificates", self._wrap(self.list_certificates)),
            ("GET", api + r"/certificate" + idp, "certifire.get_certificate", self._wrap(self.get_certificate)),
            ("DELETE", api + r"/certificate" + idp, "certifire.revoke_certificate",
             self._wrap(self.revoke_certificate)),
            ("PURGE", api + r"/certificate" + idp, "certifire.purge_certificate", self._wrap(self.purge_certificate)),
            ("POST", api + r"/destination", "certifire.create_destination", self._wrap(self.create_destination)),
            ("GET", api + r"/destination", "certifire.list_destinations", self._wrap(self.list_destinations)),
            ("GET", api + r"/destination" + idp, "certifire.get_destination", self._wrap(self.get_destination)),
            ("PATCH", api + r"/destination" + idp, "certifire.update_destination",
             self._wrap(self.update_destination)),
            ("DELETE", api + r"/destination" + idp, "certifire.delete_destination",
             self._wrap(self.delete_destination)),
        ]
        known = [(m, re.compile("^" + p + "/?$")) for m, p, _e, _h in table]

        def not_found(_emu: "Emulator", req: "Request") -> "Reply":
            allowed = sorted({m for m, rx in known if rx.match(req.path)})
            if allowed:  # Werkzeug: 405 with Allow (HEAD and OPTIONS come with GET)
                if "GET" in allowed:
                    allowed = sorted(set(allowed) | {"HEAD", "OPTIONS"})
                return _html(405, headers={"Allow": ", ".join(allowed)})
            return _html(404)

        # Werkzeug's routing errors (before authentication): unknown paths, non-integer ids, wrong methods
        catch_all = re.escape(PATH_CERTIFIRE) + r"(?:/.*)?"
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "COPY", "PURGE"):
            table.append((method, catch_all, "certifire.unknown", not_found))
        return table

    def _wrap(self, fn: Callable[["Request", User | None], "Reply"], auth: bool = True) -> Handler:
        def handler(_emu: "Emulator", req: "Request") -> "Reply":
            user = None
            if auth:
                user = self._authenticate(req)
                if user is None:
                    return _unauthorized()
            try:
                return fn(req, user)
            except _Abort as exc:
                return _html(exc.status, exc.reason, exc.headers)
            except _Crash as exc:
                log.info("certifire %s %s: 500 (%s)", req.method, req.path, exc)
                return _html(500, str(exc))
            except Exception as exc:  # noqa: BLE001 - the real service crashes with an HTML 500
                log.warning("certifire %s %s: 500 (%s)\n%s", req.method, req.path, exc, traceback.format_exc())
                return _html(500, "%s: %s" % (type(exc).__name__, exc))

        return handler

    def _external(self, path: str) -> str:
        """url_for(_external=True) behind a TLS-terminating proxy: http://<host>/... (quirk 3)."""
        return "http://%s%s%s" % (urlsplit(self.emu.base_url).netloc, PATH_CERTIFIRE, path)

    # ------------------------------------------------------------------ auth and users
    def _jwt(self, user: User) -> str:
        head = _b64url(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = _b64url(json.dumps({"id": user.id, "exp": time.time() + TOKEN_DURATION}).encode())
        sig = hmac.new(JWT_SECRET, ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
        return "%s.%s.%s" % (head, body, _b64url(sig))

    def _user_from_token(self, token: str) -> User | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            sig = hmac.new(JWT_SECRET, ("%s.%s" % (parts[0], parts[1])).encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(sig, _b64url_decode(parts[2])):
                return None
            claims = json.loads(_b64url_decode(parts[1]))
            if float(claims.get("exp", 0)) < time.time():
                return None
            with self.lock:
                return self.users.get(int(claims["id"]))
        except (ValueError, KeyError, TypeError):
            return None

    def _authenticate(self, req: "Request") -> User | None:
        """flask-httpauth + users.verify_password: the token as username first, then username/password."""
        scheme, _sep, value = (req.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _sep, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        user = self._user_from_token(username)
        if user is not None:
            return user
        with self.lock:
            for candidate in self.users.values():
                if candidate.username == username:
                    return candidate if hmac.compare_digest(candidate.password.encode(), password.encode()) else None
        return None

    @staticmethod
    def _force_json(req: "Request") -> Any:
        """request.get_json(force=True): any content type; undecodable -> 400 HTML."""
        try:
            return json.loads(req.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise _Abort(400, "Failed to decode JSON object") from None

    @staticmethod
    def _form(req: "Request") -> dict[str, str]:
        """request.form: url-encoded or multipart bodies only."""
        ctype = req.headers.get("Content-Type") or ""
        main = ctype.split(";")[0].strip().lower()
        if main == "application/x-www-form-urlencoded":
            return {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if main == "multipart/form-data":
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + req.body)
            out: dict[str, str] = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if isinstance(name, str) and not part.get_filename():
                    payload = part.get_payload(decode=True)
                    out.setdefault(name, payload.decode("utf-8", "replace") if isinstance(payload, bytes) else "")
            return out
        return {}

    def resource(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        return _json({"data": "Hello, %s!" % user.username})

    def token(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        token = self._jwt(user)
        return _json({"token": token, "duration": TOKEN_DURATION}, 200, {"token": token})

    def create_user(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        if not user.is_admin:
            raise _Abort(400, "only an admin creates users")
        form = self._form(req)
        username, password = form.get("username"), form.get("password")
        if username is None or password is None:
            data = self._force_json(req)
            username, password = data.get("username"), data.get("password")
            if username is None or password is None:
                raise _Abort(400, "username and password are required")
        with self.lock:
            if any(u.username == username for u in self.users.values()):
                return _json({"status": "Username %s already exists" % username}, 400)
            new = User(self._new_id("user"), str(username), str(password))
            self.users[new.id] = new
        return _json({"username": new.username}, 201, {"Location": self._external("/api/users/%d" % new.id)})

    def get_user(self, req: "Request", _user: User | None) -> "Reply":
        with self.lock:
            found = self.users.get(int(req.params["id"]))
        if found is None:
            raise _Abort(400, "no such user")
        return _json({"username": found.username})

    # ------------------------------------------------------------------ ACME accounts
    def _default_server(self) -> str:
        directory = str(self.config.get("acme_directory") or "")
        return directory[: -len("dir")] if directory.endswith("/dir") else urljoin(directory, "/")

    def _verify(self) -> str | bool:
        return str(self.config.get("pebble_ca_path") or "") or True

    def _directory_for(self, server: str) -> str:
        """urljoin(server, "directory"); Pebble serves its directory at /dir, so fall back to that on 404."""
        directory = urljoin(server, "directory")
        try:
            resp = requests.get(directory, verify=self._verify(), timeout=10)
        except requests.RequestException:
            return directory  # the registration fails with the real error
        if resp.status_code == 404:
            return urljoin(server, "dir")
        return directory

    def _ca_client(self, account: Account) -> _CaClient:
        with self.lock:
            ca = self._ca.get(account.id)
        if ca is None:
            ca = _CaClient(account.directory_uri, _load_key(account.key), self._verify(), account.uri)
            with self.lock:
                self._ca.setdefault(account.id, ca)
        return ca

    def _account(self, value: Any) -> Account:
        """Account.query.get(value): unknown or missing -> 500 (the real view crashes)."""
        acct_id = _int(value)
        with self.lock:
            acct = self.accounts.get(acct_id) if acct_id is not None else None
        if acct is None:
            raise _Crash("no ACME account %r: 'NoneType' object has no attribute 'user_id'" % value)
        return acct

    def create_account(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        data: Any = self._form(req)
        if not data.get("email"):
            data = self._force_json(req)
        email = data.get("email")
        if email is None:
            raise _Abort(400, "email is required")
        server = data.get("server") or self._default_server()
        subject = {k: data.get(k) or DEFAULT_SUBJECT[k] for k in SUBJECT_FIELDS}
        with self._register_lock:  # plugin.register: find or create per (email, server, user)
            with self.lock:
                for acct in self.accounts.values():
                    if acct.email == email and acct.server == server and acct.user_id == user.id:
                        return self._account_reply(acct.id, created=False)
            key = _load_key(data["key"]) if data.get("key") else rsa.generate_private_key(
                65537, self._key_bits())
            directory = self._directory_for(server)
            ca = _CaClient(directory, key, self._verify())
            uri = ca.register(str(email))  # in the request: a CA failure is a 500
            with self.lock:
                acct = Account(self._new_id("account"), user.id, str(email), _key_pem(key), uri, server, directory,
                               **subject)
                self.accounts[acct.id] = acct
                self._ca[acct.id] = ca
        log.info("certifire account %d for %s at %s: %s", acct.id, email, directory, uri)
        return self._account_reply(acct.id, created=True)

    def _account_reply(self, acct_id: int, created: bool) -> "Reply":
        headers = {"Location": self._external("/api/acme/%d" % acct_id), "account_id": str(acct_id)}
        if created:
            return _json({"status": "New account created", "id": acct_id}, 201, headers)
        return _json({"status": "Account already exists", "id": acct_id}, 200, headers)

    def _owned_account(self, req: "Request", user: User) -> Account | "Reply":
        with self.lock:
            acct = self.accounts.get(int(req.params["id"]))
        if acct is None:
            raise _Abort(400, "no such account")
        if acct.user_id != user.id:
            return _json({"status": "This account does not belong to you!"}, 400)
        return acct

    def get_account(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        acct = self._owned_account(req, user)
        if not isinstance(acct, Account):
            return acct
        return _json(acct.view())

    def list_accounts(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        with self.lock:
            return _json({str(a.id): a.view() for a in self.accounts.values() if a.user_id == user.id})

    def delete_account(self, req: "Request", user: User | None) -> "Reply":
        """plugin.deregister: revoke the resolved certificates of its orders, deactivate at the CA, delete."""
        assert user is not None
        acct = self._owned_account(req, user)
        if not isinstance(acct, Account):
            return acct
        with self.lock:
            cert_ids = [o.resolved_cert_id for o in self.orders.values()
                        if o.account_id == acct.id and o.resolved_cert_id]
        for cert_id in cert_ids:
            self._revoke(acct, cert_id, delete=False)
        if self._ca_client(acct).deactivate():
            with self.lock:
                self.accounts.pop(acct.id, None)
                self._ca.pop(acct.id, None)
        return _json({"status": "Done"})

    # ------------------------------------------------------------------ orders
    def _key_bits(self) -> int:
        return max(2048, int(self.emu.settings.get("certifire_key_bits", 4096)))

    def create_order(self, req: "Request", user: User | None) -> "Reply":
        """views.new_order + plugin.create_order, checks in the real order."""
        assert user is not None
        data = self._force_json(req)
        domains = data.get("domains")
        destination_id = data.get("destination")
        dest: Destination | None = None
        if not destination_id:
            if domains is None or domains == []:
                return _json({"status": "Provide atleast one domain or destination"}, 400)
        else:
            dest_id = _int(destination_id)
            with self.lock:
                dest = self.destinations.get(dest_id) if dest_id is not None else None
            if dest is None:
                raise _Crash("no destination %r: 'NoneType' object has no attribute 'user_id'" % destination_id)
            if dest.user_id != user.id:
                return _json({"status": "This destination does not belong to you!"}, 400)
        acct = self._account(data.get("account"))
        if acct.user_id != user.id:
            return _json({"status": "This account does not belong to you!"}, 400)
        if data.get("key"):
            _load_key(str(data["key"]))  # parsed, then ignored (quirk 2)
        csr_given = bool(data.get("csr"))
        if csr_given:
            x509.load_pem_x509_csr(str(data["csr"]).encode("utf-8"))
        otype = data.get("type") or "dns"
        provider = data.get("provider") or "route53"
        owner = data.get("email") or acct.email
        subject = {k: data.get(k) or getattr(acct, k) for k in SUBJECT_FIELDS}
        if otype == "dns" and provider not in VALID_DNS_PROVIDERS:  # create_order returns (False, 0)
            return _json({"status": "Order already exists", "id": 0}, 200,
                         {"Location": self._external("/api/order/0")})
        if otype not in ("dns", "sftp"):
            raise _Crash("local variable 'acme' referenced before assignment (type %r)" % otype)
        if isinstance(domains, str):
            domains = list(domains)  # a string is split into characters
        if domains and (not isinstance(domains, list) or not all(isinstance(d, str) for d in domains)):
            raise TypeError("domains must be a list of strings")
        names: list[str] = list(domains or [])
        if dest is not None and dest.host not in names:
            names = [dest.host] + names
        digest = hashlib.sha256("_".join(names).encode("ascii")).hexdigest()
        reissue = bool(data.get("reissue"))
        with self.lock:
            existing = next((o for o in self.orders.values() if o.hash == digest and o.email == owner
                             and o.type == otype and o.account_id == acct.id), None)
        if existing is not None:
            if dest is not None:
                with self.lock:
                    existing.destination_id = dest.id
            self._start(existing, reissue=reissue, endpoint="certifire.create_order")
            return _json({"status": "Order already exists", "id": existing.id}, 200,
                         {"Location": self._external("/api/order/%d" % existing.id)})
        if csr_given and not data.get("key"):
            raise _Crash("can't adapt type 'CertificateSigningRequest' (the csr quirk)")
        key = rsa.generate_private_key(65537, self._key_bits())
        csr = _build_csr(key, names, owner, subject)
        with self.lock:
            order = Order(self._new_id("order"), acct.user_id, acct.id, dest.id if dest else None, digest, otype,
                          provider, names, owner, subject, csr, _key_pem(key))
            self.orders[order.id] = order
        self._start(order, reissue=False, endpoint="certifire.create_order")
        return _json({"status": "New order created, Please wait some time before acessing the order",
                      "id": order.id}, 201, {"Location": self._external("/api/order/%d" % order.id)})

    def _owned_order(self, req: "Request", user: User) -> Order | "Reply":
        with self.lock:
            order = self.orders.get(int(req.params["id"]))
        if order is None:
            raise _Abort(400, "no such order")
        if order.user_id != user.id:
            return _json({"status": "This order does not belong to you!"}, 400)
        return order

    def get_order(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        order = self._owned_order(req, user)
        if not isinstance(order, Order):
            return order
        with self.lock:
            if order.contents is None:
                raise _Crash("the worker has not written the order yet: the JSON object must be str, "
                             "bytes or bytearray, not NoneType")
            view = order.view()
        headers = {}
        if view["resolved_cert_id"]:
            headers["Certificate"] = "%s%s/api/certificate/%d" % (self.emu.base_url, PATH_CERTIFIRE,
                                                                  view["resolved_cert_id"])
        return _json(view, 200, headers)

    def list_orders(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        with self.lock:
            mine = [o for o in self.orders.values() if o.user_id == user.id]
            if any(o.contents is None for o in mine):
                raise _Crash("an order has not been written yet: the JSON object must be str, bytes or "
                             "bytearray, not NoneType")
            return _json({str(o.id): o.view() for o in mine})

    def reissue(self, req: "Request", user: User | None) -> "Reply":
        """COPY: plugin.reorder -> a run with reissue=True (a valid order first has its certificate revoked)."""
        assert user is not None
        order = self._owned_order(req, user)
        if not isinstance(order, Order):
            return order
        with self.lock:
            acct = self.accounts.get(order.account_id)
        if acct is None:
            raise _Crash("'NoneType' object has no attribute 'id' (the order's account is gone)")
        self._start(order, reissue=True, endpoint="certifire.reissue")
        return _json({"status": "Reordering", "id": order.id})

    # ------------------------------------------------------------------ the worker
    def _start(self, order: Order, reissue: bool, endpoint: str) -> None:
        fault = self.emu.faults.take(endpoint, ("stuck_pending", "challenge_fail"))
        mode = {"stuck_pending": "stuck", "challenge_fail": "fail"}.get(fault["kind"], "normal") if fault else "normal"
        with self.lock:
            order.run += 1
            run = {"run": order.run, "reissue": reissue, "mode": mode, "started": time.time(), "finished": None,
                   "result": "running", "error": None, "epoch": self.epoch}
            order.runs.append(run)
            del order.runs[:-20]
        thread = threading.Thread(target=self._run, name="certifire-order-%d" % order.id, daemon=True,
                                  args=(order, run))
        thread.start()

    def _check(self, order: Order, run: dict[str, Any]) -> None:
        with self.lock:
            if self.orders.get(order.id) is not order or order.run != run["run"] or self.epoch != run["epoch"]:
                raise _Superseded()

    def _run(self, order: Order, run: dict[str, Any]) -> None:
        cleanup: list[Callable[[], None]] = []
        try:
            run["result"] = self._issue(order, run, cleanup)
        except _Superseded:
            run["result"] = "superseded"
        except Exception as exc:  # noqa: BLE001 - the real worker thread dies silently; kept for the admin API
            run["result"], run["error"] = "failed", "%s: %s" % (type(exc).__name__, exc)
            log.warning("certifire order %d run %d failed: %s\n%s", order.id, run["run"], exc,
                        traceback.format_exc())
        finally:
            for undo in cleanup:
                try:
                    undo()
                except Exception as exc:  # noqa: BLE001
                    log.warning("certifire order %d: clean-up failed: %s", order.id, exc)
            run["finished"] = time.time()
            log.info("certifire order %d run %d (%s, reissue=%s): %s %s", order.id, run["run"], run["mode"],
                     run["reissue"], run["result"], run["error"] or "")

    def _issue(self, order: Order, run: dict[str, Any], cleanup: list[Callable[[], None]]) -> str:
        """handlers.Acme{Dns,Http}Handler.create_order against Pebble."""
        reissue, mode = bool(run["reissue"]), str(run["mode"])
        with self.lock:
            acct = self.accounts.get(order.account_id)
            status, resolved = order.status, order.resolved_cert_id
        if acct is None:
            raise RuntimeError("the order's ACME account is gone")
        if status == "revoked" and not reissue:
            return "not reissued: the order's certificate is revoked (COPY or reissue: true reissues it)"
        if status == "valid" and reissue and resolved:
            self._revoke(acct, resolved, delete=False)
        ca = self._ca_client(acct)
        orderr = ca.new_order(order.csr)
        acme_type = "dns-01" if order.type == "dns" else "http-01"
        pending = []
        for authzr in orderr.authorizations:
            for challb in authzr.body.challenges:
                if challb.chall.typ == acme_type and _status(challb) == "pending":
                    pending.append((authzr, challb))
        time.sleep(float(self.emu.settings.get("certifire_write_delay", 1.0)))
        self._check(order, run)
        if not pending and not reissue:
            return "no pending challenges: the CA reused its authorizations, nothing issued"
        with self.lock:
            self._check(order, run)
            order.uri = str(orderr.uri)
            order.contents = _body_json(orderr.body)
        if mode == "stuck":
            return "stuck_pending: the challenges are never answered"
        if pending:
            self._publish(order, ca, pending, mode, cleanup)
            for _authzr, challb in pending:
                ca.answer(challb)
            deadline = time.monotonic() + 10 * len(pending)  # the real 10 s x challenges finalize deadline
            if not self._wait_authorizations(order, run, ca, orderr, deadline):
                contents = _body_json(ca.order(str(orderr.uri)))
                with self.lock:
                    self._check(order, run)
                    order.contents = contents
                return "validation failed: contents.status %s" % contents.get("status")
        else:
            deadline = time.monotonic() + 10
        pem = self._finalize(ca, orderr, order.csr, deadline)
        with self.lock:
            self._check(order, run)
            order.contents = _body_json(ca.order(str(orderr.uri)))
            order.status = "ready"
        for undo in cleanup:
            undo()
        cleanup.clear()
        cert_id = self._store_certificate(order, run, pem)
        return "issued certificate %d" % cert_id

    def _wait_authorizations(self, order: Order, run: dict[str, Any], ca: _CaClient,
                             orderr: messages.OrderResource, deadline: float) -> bool:
        urls = [a.uri for a in orderr.authorizations]
        while True:
            self._check(order, run)
            states = [_status(ca.authorization(url)) for url in urls]
            if any(s not in ("pending", "valid") for s in states):
                return False
            if all(s == "valid" for s in states):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)

    def _finalize(self, ca: _CaClient, orderr: messages.OrderResource, csr: str, deadline: float) -> str:
        uri = str(orderr.uri)
        while True:
            body = ca.order(uri)
            if _status(body) == "ready":
                break
            if _status(body) != "pending" or time.monotonic() >= deadline:
                raise RuntimeError("the order is %s, not ready" % _status(body))
            time.sleep(POLL_INTERVAL)
        ca.begin_finalization(messages.OrderResource(body=body, uri=uri, csr_pem=csr.encode("ascii")))
        while True:
            body = ca.order(uri)
            if _status(body) == "valid" and body.certificate:
                return str(ca.post_as_get(body.certificate).text)
            if _status(body) == "invalid":
                raise RuntimeError("the CA did not issue: %s" % body.error)
            if time.monotonic() >= deadline:
                raise errors.TimeoutError()
            time.sleep(POLL_INTERVAL)

    def _publish(self, order: Order, ca: _CaClient, pending: list[tuple[Any, messages.ChallengeBody]], mode: str,
                 cleanup: list[Callable[[], None]]) -> None:
        """Put the validations where the CA looks: TXT records in BIND (route53), files in the webroot (sftp)."""
        if order.type == "dns":
            records = []
            for authzr, challb in pending:
                value = challb.chall.validation(ca.jwk)
                if mode == "fail":
                    value = _b64url(hashlib.sha256(b"wrong" + value.encode()).digest())
                records.append((challb.chall.validation_domain_name(authzr.body.identifier.value), value))
            self._txt(records, add=True)
            cleanup.append(lambda: self._txt(records, add=False))
            return
        with self.lock:
            dest = self.destinations.get(order.destination_id) if order.destination_id else None
        if dest is None:
            raise RuntimeError("'NoneType' object has no attribute 'upload_acme_token' (sftp without destination)")
        folder = os.path.join(str(self.config.get("webroot") or "."), ".well-known", "acme-challenge")
        os.makedirs(folder, exist_ok=True)
        paths = []
        for _authzr, challb in pending:
            path = os.path.join(folder, challb.chall.encode("token"))
            content = challb.chall.key_authorization(ca.jwk)
            write_file(path, "wrong-" + content if mode == "fail" else content, 0o644)
            paths.append(path)

        def remove() -> None:
            for path in paths:
                if os.path.exists(path):
                    os.unlink(path)

        cleanup.append(remove)

    def _zone(self, fqdn: str) -> str | None:
        name = fqdn.rstrip(".").lower()
        zones = sorted((str(z).rstrip(".").lower() for z in self.config.get("zones") or ()), key=len, reverse=True)
        return next((z for z in zones if name == z or name.endswith("." + z)), None)

    def _txt(self, records: list[tuple[str, str]], add: bool) -> None:
        """RFC 2136 with the sandbox TSIG key: add (or delete) these TXT values."""
        tsig = self.config.get("tsig") or {}
        keyring = dns.tsigkeyring.from_text({tsig["name"]: (tsig["algorithm"], tsig["secret"])})
        by_zone: dict[str, list[tuple[str, str]]] = {}
        for name, value in records:
            zone = self._zone(name)
            if zone is None:
                raise RuntimeError("route53: no hosted zone for %s (sandbox zones: %s)"
                                   % (name, ", ".join(self.config.get("zones") or ())))
            by_zone.setdefault(zone, []).append((name, value))
        for zone, items in by_zone.items():
            upd = dns.update.Update(zone + ".", keyring=keyring, keyalgorithm=tsig["algorithm"])
            for name, value in items:
                if add:
                    upd.add(name.rstrip(".") + ".", 10, "TXT", '"%s"' % value)
                else:
                    upd.delete(name.rstrip(".") + ".", "TXT", '"%s"' % value)
            resp = dns.query.tcp(upd, str(self.config.get("dns_addr")), port=int(self.config.get("dns_port") or 53),
                                 timeout=5)
            if resp.rcode() != dns.rcode.NOERROR:
                raise RuntimeError("route53: DNS update of %s refused: %s" % (zone, dns.rcode.to_text(resp.rcode())))

    def _store_certificate(self, order: Order, run: dict[str, Any], fullchain: str) -> int:
        """handlers.issue_certificate: leaf + the FIRST intermediate only; key and CSR from the order."""
        certs = x509.load_pem_x509_certificates(fullchain.encode("ascii"))
        leaf = certs[0]
        body = leaf.public_bytes(serialization.Encoding.PEM).decode("ascii")
        intermediate = certs[1].public_bytes(serialization.Encoding.PEM).decode("ascii") if len(certs) > 1 else ""
        with self.lock:
            self._check(order, run)
            cert = Certificate(self._new_id("certificate"), order.id, order.user_id, "valid", body, intermediate,
                               body + intermediate, order.key, order.csr,
                               leaf.not_valid_after_utc.strftime("%Y-%m-%d"),
                               leaf.fingerprint(hashes.SHA256()).hex(), format(leaf.serial_number, "x"))
            self.certificates[cert.id] = cert
            order.status = "valid"
            order.resolved_cert_id = cert.id
            dest = self.destinations.get(order.destination_id) if order.destination_id else None
        if dest is not None and dest.certDestinationPath:
            self._upload(dest, cert)
        return cert.id

    def _upload(self, dest: Destination, cert: Certificate) -> None:
        """Destination.upload: <certDestinationPath>/<host>/<host>.key, .pem (+ .ca.bundle.pem for Apache)."""
        base = os.path.join(str(self.config.get("services_dir") or "."), "certifire", "destinations", str(dest.id))
        folder = os.path.join(base, dest.certDestinationPath.lstrip("/"), dest.host)
        os.makedirs(folder, exist_ok=True)
        pem = cert.body
        if cert.intermediate and dest.exportFormat == "NGINX":
            pem += cert.intermediate
        elif cert.intermediate and dest.exportFormat == "Apache":
            write_file(os.path.join(folder, dest.host + ".ca.bundle.pem"), cert.intermediate, 0o644)
        write_file(os.path.join(folder, dest.host + ".key"), cert.key, 0o644)
        write_file(os.path.join(folder, dest.host + ".pem"), pem, 0o644)

    # ------------------------------------------------------------------ certificates
    def _revoke(self, acct: Account | None, cert_id: int, delete: bool) -> tuple[bool, str]:
        """plugin.revoke_certificate + handlers.revoke_certificate (the order becomes "revoked" too)."""
        with self.lock:
            cert = self.certificates.get(cert_id)
            order = self.orders.get(cert.order_id) if cert else None
        if cert is None:
            return False, "Certificate with id: %d does not exist" % cert_id
        if cert.status == "revoked":
            if delete:
                with self.lock:
                    self.certificates.pop(cert.id, None)
                    if order is not None:
                        order.resolved_cert_id = None
                return True, "Deleted already revoked certificate"
            return False, "This certificate is already revoked"
        if acct is None:
            raise _Crash("'NoneType' object has no attribute 'id' (the order's account is gone)")
        try:
            self._ca_client(acct).revoke(x509.load_pem_x509_certificate(cert.body.encode("ascii")))
        except OSError:
            return False, "Revoke failed"
        with self.lock:
            cert.status = "revoked"
            if order is not None:
                order.status = "revoked"
            if delete:
                self.certificates.pop(cert.id, None)
                if order is not None:
                    order.resolved_cert_id = None
        return True, "Revoked"

    def _owned_certificate(self, req: "Request", user: User) -> Certificate | "Reply":
        with self.lock:
            cert = self.certificates.get(int(req.params["id"]))
        if cert is None:
            return _json({"status": "There is no such certificate!"}, 400)
        if cert.user_id != user.id:
            return _json({"status": "This certificate does not belong to you!"}, 400)
        return cert

    def _cert_view(self, cert: Certificate, endpoint: str) -> dict[str, Any]:
        view = cert.view()
        if self.emu.faults.take(endpoint, ("mismatched_key",)):
            view["key"] = _key_pem(rsa.generate_private_key(65537, 2048))
        return view

    def get_certificate(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        cert = self._owned_certificate(req, user)
        if not isinstance(cert, Certificate):
            return cert
        return _json(self._cert_view(cert, "certifire.get_certificate"))

    def list_certificates(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        with self.lock:
            mine = [c for c in self.certificates.values() if c.user_id == user.id]
        return _json({str(c.id): self._cert_view(c, "certifire.list_certificates") for c in mine})

    def _revoke_reply(self, req: "Request", user: User, delete: bool) -> "Reply":
        cert = self._owned_certificate(req, user)
        if not isinstance(cert, Certificate):
            return cert
        with self.lock:
            order = self.orders.get(cert.order_id)
            acct = self.accounts.get(order.account_id) if order else None
        if order is None:
            return _json({"status": "Order for this certificate not found"}, 400)
        ok, status = self._revoke(acct, cert.id, delete)
        return _json({"status": status}, 200 if ok else 201)

    def revoke_certificate(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        return self._revoke_reply(req, user, delete=False)

    def purge_certificate(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        return self._revoke_reply(req, user, delete=True)

    # ------------------------------------------------------------------ destinations
    def _local_host(self, host: str) -> bool:
        """A destination "on the emulator host": every name in the sandbox zones resolves to 127.0.0.1."""
        return host in ("localhost", "127.0.0.1") or self._zone(host) is not None

    @staticmethod
    def _dest_fields(data: Any) -> dict[str, Any]:
        return {k: data.get(k) for k in ("host", "port", "user", "password", "ssh_priv_key", "ssh_priv_key_pass",
                                         "challengeDestinationPath", "certDestinationPath", "exportFormat")}

    def _ssh_ok(self, dest: Destination) -> bool:
        """The SSH login test: only password logins work (the key path is broken in the real service)."""
        return bool(dest.password) and self._local_host(dest.host)

    def create_destination(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        data: Any = self._form(req)
        if not data.get("host"):
            data = self._force_json(req)
        f = self._dest_fields(data)
        if f["host"] is None:
            return _json({"status": "host field missing"}, 400)
        if f["password"] is None and f["ssh_priv_key"] is None:
            return _json({"status": "password and ssh_priv_key fields missing. Provide atleast one"}, 400)
        if f["ssh_priv_key"]:
            _load_key(str(f["ssh_priv_key"]))
        dest = Destination(0, user.id, str(f["host"]), int(f["port"] or 22), str(f["user"] or "root"), f["password"],
                           f["ssh_priv_key"], f["ssh_priv_key_pass"],
                           str(f["challengeDestinationPath"] or "/var/www/html"),
                           str(f["certDestinationPath"] or "/etc/nginx/certs"), str(f["exportFormat"] or "NGINX"))
        if not self._ssh_ok(dest):
            view = dest.view()
            view["id"] = None
            view["status"] = "Error creating destination with given data. Check hostname, password, private key"
            return _json(view, 400)
        with self.lock:
            dest.id = self._new_id("destination")
            self.destinations[dest.id] = dest
        return _json({"status": "New destination created", "id": dest.id}, 201,
                     {"Location": self._external("/api/destination/%d" % dest.id), "destination_id": str(dest.id)})

    def _owned_destination(self, req: "Request", user: User) -> Destination | "Reply":
        with self.lock:
            dest = self.destinations.get(int(req.params["id"]))
        if dest is None:
            return _json({"status": "There is no such destination!"}, 404)
        if dest.user_id != user.id:
            return _json({"status": "This destination does not belong to you!"}, 401)
        return dest

    def get_destination(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        dest = self._owned_destination(req, user)
        if not isinstance(dest, Destination):
            return dest
        view = dest.view()
        if self._ssh_ok(dest):
            view["status"] = "SSH Connection OK"
            return _json(view)
        view["status"] = "SSH Connection Failed"
        return _json(view, 205)

    def list_destinations(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        with self.lock:
            return _json({str(d.id): d.view() for d in self.destinations.values() if d.user_id == user.id})

    def update_destination(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        dest = self._owned_destination(req, user)
        if not isinstance(dest, Destination):
            return dest
        data: Any = self._form(req)
        if not any(data.get(k) for k in self._dest_fields(data)):
            data = self._force_json(req)
        f = self._dest_fields(data)
        if f["ssh_priv_key"]:
            _load_key(str(f["ssh_priv_key"]))
        updated = Destination(**{**asdict(dest), **{k: v for k, v in f.items() if v}})
        updated.port = int(updated.port)
        if not self._ssh_ok(updated):
            view = dest.view()
            view["status"] = "Error updating destination with given data. Check hostname, password, private key"
            return _json(view, 400)
        with self.lock:
            self.destinations[dest.id] = updated
        return _json({"status": "Destination updated", "id": dest.id}, 202,
                     {"Location": self._external("/api/destination/%d" % dest.id), "destination_id": str(dest.id)})

    def delete_destination(self, req: "Request", user: User | None) -> "Reply":
        assert user is not None
        dest = self._owned_destination(req, user)
        if not isinstance(dest, Destination):
            return dest
        with self.lock:
            self.destinations.pop(dest.id, None)
        return _json({"status": "Destination deleted"})

    # ------------------------------------------------------------------ admin
    def admin(self, method: str, sub: str, query: dict[str, list[str]], body: Any) -> "Reply":
        from .api import json_reply

        with self.lock:
            if method == "GET" and sub in ("/", "/state"):
                return json_reply(self._state())
            if method == "GET" and sub[1:] in ("orders", "accounts", "certificates", "users", "destinations"):
                return json_reply(self._state()[sub[1:]])
            if method == "POST" and sub == "/reset":
                kinds = (("orders", self.orders), ("accounts", self.accounts),
                         ("certificates", self.certificates), ("destinations", self.destinations))
                counts = {k: len(v) for k, v in kinds}
                self._reset_state()
                return json_reply({"reset": True, "forgotten": counts})
        return json_reply({"error": "no such admin endpoint: %s /admin/certifire%s" % (method, sub)}, 404)

    def _state(self) -> dict[str, Any]:
        orders = []
        for o in self.orders.values():
            view = o.view()
            view.update({"destination_id": o.destination_id, "email": o.email, "runs": [dict(r) for r in o.runs]})
            orders.append(view)
        certs = []
        for c in self.certificates.values():
            view = c.view()
            view["serial"] = c.serial
            certs.append(view)
        return {
            "users": [{"id": u.id, "username": u.username, "password": u.password, "is_admin": u.is_admin}
                      for u in self.users.values()],
            "accounts": [a.view() for a in self.accounts.values()],
            "orders": orders,
            "certificates": certs,
            "destinations": [d.view() for d in self.destinations.values()],
            "settings": {k: self.emu.settings.get(k) for k in SETTINGS},
            "now": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        }
