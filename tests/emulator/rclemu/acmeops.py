"""Real ACME against Pebble through the ``acme`` client library.

One ACME account per subscription (its key is kept in SQLite). Orders are
created from the certificate's names, challenges are answered at Pebble and
Pebble's own validation authority checks the real DNS TXT records (BIND) or
HTTP-01 files (webroot server). Finalization sends a CSR with a fresh key.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import josepy as jose
from acme import challenges, client, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from . import pki
from .store import Store

log = logging.getLogger("rclemu.acme")

TYPE_MAP = {"DNS": "dns-01", "HTTP": "http-01"}
CHALL_CLS = {"dns-01": challenges.DNS01, "http-01": challenges.HTTP01}


class AcmeFailure(Exception):
    """An ACME step failed; ``str()`` is the text shown to the API client."""


@dataclass
class Outcome:
    status: str  # valid | invalid | pending
    failures: list[tuple[str, str]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


def authz_domain(authz: messages.Authorization) -> str:
    value = authz.identifier.value
    return "*." + value if authz.wildcard else value


def relative_name(fqdn: str, root: str) -> str:
    fqdn = fqdn.rstrip(".")
    if fqdn == root:
        return "@"
    if fqdn.endswith("." + root):
        return fqdn[: -len(root) - 1]
    return fqdn + "."


def error_text(err: Any) -> str:
    if err is None:
        return "no detail given by the CA"
    detail = getattr(err, "detail", None) or str(err)
    typ = getattr(err, "typ", None)
    return "%s (%s)" % (detail, typ) if typ else detail


class Account:
    def __init__(self, svc: "AcmeService", sid: str, key: jose.JWK) -> None:
        self.sid = sid
        self.key = key
        self.lock = threading.RLock()
        # verify_ssl is handed to requests as `verify`: a CA file path works (typed as bool upstream)
        net = client.ClientNetwork(key, alg=jose.ES256, verify_ssl=svc.verify,  # type: ignore[arg-type]
                                   user_agent="rcl-ssl-emulator",
                                   timeout=svc.net_timeout)
        directory = client.ClientV2.get_directory(svc.directory_url, net)
        self.client = client.ClientV2(directory, net)
        sub = svc.store.subscription(sid) or {}
        reg = messages.NewRegistration.from_data(email=sub.get("email") or None, terms_of_service_agreed=True)
        try:
            regr = self.client.new_account(reg)
            uri = regr.uri
        except errors.ConflictError as exc:  # key already registered: reuse the account
            uri = exc.location
            net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
        svc.store.set_acme_account(sid, key.json_dumps(), uri)

    def post_as_get(self, url: str) -> Any:
        with self.lock:
            return self.client.net.post(url, None, new_nonce_url=getattr(self.client.directory, "newNonce"))


class AcmeService:
    def __init__(self, directory_url: str, verify: str, store: Store, net_timeout: int = 10) -> None:
        self.directory_url = directory_url
        self.verify = verify
        self.store = store
        self.net_timeout = net_timeout
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._accounts.clear()

    def account(self, sid: str) -> Account:
        with self._lock:
            acct = self._accounts.get(sid)
            if acct is not None:
                return acct
            sub = self.store.subscription(sid)
            if sub and sub.get("acme_key"):
                key = jose.JWK.json_loads(sub["acme_key"])
            else:
                key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
            try:
                acct = Account(self, sid, key)
            except Exception as exc:  # noqa: BLE001 - shown to the API client as text
                raise AcmeFailure("The ACME server could not be reached: %s" % exc) from exc
            self._accounts[sid] = acct
            return acct

    # -- orders -----------------------------------------------------------
    def new_order(self, sid: str, names: Sequence[str]) -> str:
        acct = self.account(sid)
        # The acme library derives the identifiers from a CSR; the key of this
        # CSR is throw-away: finalization uses a fresh key and a new CSR.
        csr = pki.build_csr(ec.generate_private_key(ec.SECP256R1()), list(names))
        try:
            with acct.lock:
                orderr = acct.client.new_order(csr)
        except messages.Error as exc:
            raise AcmeFailure("The ACME server refused the order: %s" % error_text(exc)) from exc
        except Exception as exc:  # noqa: BLE001
            raise AcmeFailure("The ACME server could not be reached: %s" % exc) from exc
        return str(orderr.uri)

    def fetch(self, sid: str, order_uri: str) -> tuple[messages.Order, list[messages.AuthorizationResource]]:
        acct = self.account(sid)
        try:
            body = messages.Order.from_json(acct.post_as_get(order_uri).json())
            authzs = []
            for url in body.authorizations or ():
                authzs.append(messages.AuthorizationResource(
                    body=messages.Authorization.from_json(acct.post_as_get(url).json()), uri=url))
        except messages.Error as exc:
            raise AcmeFailure("The ACME server returned an error for order %s: %s"
                              % (order_uri, error_text(exc))) from exc
        except Exception as exc:  # noqa: BLE001
            raise AcmeFailure("The ACME server could not be reached: %s" % exc) from exc
        return body, authzs

    def tokens(self, sid: str, authzs: Sequence[messages.AuthorizationResource], challenge_type: str,
               root: str) -> list[dict[str, Any]]:
        """The vendor's validation tokens, computed from the real ACME challenges."""
        acct = self.account(sid)
        acme_type = TYPE_MAP[challenge_type]
        result = []
        for authzr in authzs:
            authz = authzr.body
            challb = _find(authz, acme_type)
            if challb is None:
                continue
            domain = authz_domain(authz)
            if acme_type == "dns-01":
                name = relative_name(challb.chall.validation_domain_name(authz.identifier.value), root)
                value = challb.chall.validation(acct.key)
            else:
                name = challb.chall.encode("token")
                value = challb.chall.key_authorization(acct.key)
            result.append({"tokenName": name, "tokenValue": value, "challengeType": challenge_type,
                           "domain": domain, "acmeType": acme_type, "acmeToken": challb.chall.encode("token"),
                           "status": _name(challb.status), "authzStatus": _name(authz.status)})
        return result

    def answer(self, sid: str, authzs: Sequence[messages.AuthorizationResource], challenge_type: str,
               mode: str = "normal") -> None:
        """Tell Pebble to validate. ``mode``: normal, stuck (answer nothing), fail
        (answer a challenge that cannot pass: the other type, else deactivate)."""
        if mode == "stuck":
            return
        acct = self.account(sid)
        acme_type = TYPE_MAP[challenge_type]
        for authzr in authzs:
            if authzr.body.status != messages.STATUS_PENDING:
                continue
            try:
                if mode == "fail":
                    other = [c for c in authzr.body.challenges
                             if c.chall.typ in CHALL_CLS and c.chall.typ != acme_type]
                    if other:
                        with acct.lock:
                            acct.client.answer_challenge(other[0], other[0].chall.response(acct.key))
                    else:
                        with acct.lock:
                            acct.client.deactivate_authorization(authzr)
                    continue
                challb = _find(authzr.body, acme_type)
                if challb is None:
                    raise AcmeFailure("The ACME server offers no %s challenge for %s"
                                      % (acme_type, authz_domain(authzr.body)))
                if challb.status == messages.STATUS_PENDING:
                    with acct.lock:
                        acct.client.answer_challenge(challb, challb.chall.response(acct.key))
            except messages.Error as exc:
                raise AcmeFailure("The ACME server refused the challenge for %s: %s"
                                  % (authz_domain(authzr.body), error_text(exc))) from exc
            except AcmeFailure:
                raise
            except Exception as exc:  # noqa: BLE001
                raise AcmeFailure("The ACME server could not be reached: %s" % exc) from exc

    def wait(self, sid: str, authzs: Sequence[messages.AuthorizationResource], challenge_type: str,
             timeout: float) -> Outcome:
        """Poll the authorizations until none is pending or ``timeout`` passes."""
        acct = self.account(sid)
        acme_type = TYPE_MAP[challenge_type]
        deadline = time.monotonic() + timeout
        current = list(authzs)
        while True:
            fresh = []
            for authzr in current:
                body = messages.Authorization.from_json(acct.post_as_get(authzr.uri).json())
                fresh.append(messages.AuthorizationResource(body=body, uri=authzr.uri))
            current = fresh
            pending = [a for a in current if a.body.status == messages.STATUS_PENDING]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        failures = []
        for authzr in current:
            body = authzr.body
            if body.status in (messages.STATUS_PENDING, messages.STATUS_VALID):
                continue
            errs = [c.error for c in body.challenges if c.error is not None]
            kind = "DNS" if acme_type == "dns-01" else "HTTP"
            if errs:
                detail = "; ".join(error_text(e) for e in errs)
            else:
                detail = "authorization is %s" % _name(body.status)
            failures.append((authz_domain(body), "%s challenge for %s could not be verified: %s"
                             % (kind, authz_domain(body), detail)))
        if failures:
            return Outcome("invalid", failures=failures)
        if pending:
            return Outcome("pending", pending=[authz_domain(a.body) for a in current
                                               if a.body.status == messages.STATUS_PENDING])
        return Outcome("valid")

    def finalize(self, sid: str, order_uri: str, names: Sequence[str], key_type: str, timeout: float,
                 subject: dict[str, str] | None = None
                 ) -> tuple[pki.PrivateKey, x509.Certificate, list[x509.Certificate], str]:
        """Finalize a ``ready`` order with a fresh key; returns (key, leaf, chain, certificate URL)."""
        acct = self.account(sid)
        key = pki.new_key(key_type)
        csr = pki.build_csr(key, list(names), subject)
        deadline = time.monotonic() + timeout
        try:
            body = messages.Order.from_json(acct.post_as_get(order_uri).json())
            if body.status != messages.STATUS_READY:
                raise AcmeFailure("Order %s is %s, not ready." % (order_uri, _name(body.status)))
            orderr = messages.OrderResource(body=body, uri=order_uri, csr_pem=csr)
            with acct.lock:
                acct.client.begin_finalization(orderr)
            while True:
                body = messages.Order.from_json(acct.post_as_get(order_uri).json())
                if body.status == messages.STATUS_VALID and body.certificate:
                    break
                if body.status == messages.STATUS_INVALID:
                    raise AcmeFailure("The ACME server did not issue the certificate: %s" % error_text(body.error))
                if time.monotonic() >= deadline:
                    raise AcmeFailure("The ACME server did not issue the certificate within %d seconds (status %s)."
                                      % (timeout, _name(body.status)))
                time.sleep(0.2)
            pem = acct.post_as_get(body.certificate).text
        except messages.Error as exc:
            raise AcmeFailure("The ACME server refused to finalize the order: %s" % error_text(exc)) from exc
        except AcmeFailure:
            raise
        except Exception as exc:  # noqa: BLE001
            raise AcmeFailure("The ACME server could not be reached: %s" % exc) from exc
        certs = pki.load_certs(pem)
        if not certs:
            raise AcmeFailure("The ACME server returned no certificate.")
        return key, certs[0], certs[1:], str(body.certificate)


def _name(status: Any) -> str:
    return str(getattr(status, "name", status))


def _find(authz: messages.Authorization, acme_type: str) -> messages.ChallengeBody | None:
    for challb in authz.challenges:
        if challb.chall.typ == acme_type:
            return challb
    return None
