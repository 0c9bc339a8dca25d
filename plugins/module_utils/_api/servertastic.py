# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""Servertastic's reseller API v2 (seed 004): classic domain control validation, paid in points.

Credentials are parameters: the reseller ``api_key`` (account calls) and each order's ``order_token``. An order
costs a token (points, that is money), so one is generated only when an order is due, under a reference that
is unique per order and stored before the call: a lost reply is looked up in ``showtokens`` instead of paying
twice. The key is generated here and only the CSR is sent. Token and key are kept sealed in the state file
(``_state.py``) until the certificate is issued, and the key until the next order replaces it, so a run that
ends before issuance (EMAIL approval can take hours) is resumed by the next one without a new token.

Validation data comes back in the shape of RCL orders: a TXT value (added to the set of the base domain) or
a file under ``/.well-known/pki-validation/``; EMAIL names wait for the approver. ``pollauth`` asks the CA to
check, and ``review`` is read until ``Completed``, when it carries the leaf and the CA certificates.

Writes are strict (documented names; ``generatetoken``, ``place`` never repeated blindly), reads lenient (a
one-element list may come as an object, an empty one as ``""``; PEM or bare base64 DER; CRLF). An error is a
status >= 400, an ``error`` member, or a reply without ``success``; its ``message`` is kept verbatim.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import re
import typing as t

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate
from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Certificate, Waiter, _norm_key
from ansible_collections.rcl.ssl.plugins.module_utils._api.service import (
    Publish,
    ServiceFinish,
    ServiceOrder,
    ServiceRequest,
    ServiceUnit,
)
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclCertificateError,
    RclInputError,
    RclOrderInvalidError,
    RclResponseError,
    RclTimeoutError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._http import redact_secret_params
from ansible_collections.rcl.ssl.plugins.module_utils._names import validate_certificate_name
from ansible_collections.rcl.ssl.plugins.module_utils._state import StateStore

__all__ = ["ServertasticService"]

URI_PREFIX = "servertastic:"
CONTACT_ROLES = ("tech", "admin")
CONTACT_FIELDS = ("first_name", "last_name", "phone", "email", "title")
METHODS = {"dns": "DNS", "http": "FILE", "https": "SFILE", "email": "EMAIL"}
PRODUCT_RE = re.compile(r"^[A-Za-z0-9]{2,40}-[0-9]{1,3}$")
REFERENCE_MAX = 35
PKI_DIR = ".well-known/pki-validation/"

# order_status, compared without case and whitespace
_TO_PLACE = ("orderplaced", "inviteavailable")
_AWAITING = ("awaitingcustomerverification",)
_WORKING = ("awaitingproviderapproval", "queued", "servertasticreview")
_DONE = ("completed",)
_FAILED = ("cancelled", "rollback")


def _word(value: t.Any) -> str:
    return re.sub(r"\s+", "", str(value or "")).lower()


def base_domain(name: str) -> str:
    for prefix in ("*.", "www."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _items(value: t.Any) -> list[t.Any]:
    """A list that may come as a bare object (one element) or as ``""``/``{}``/null (none)."""
    if value in (None, "", {}):
        return []
    return value if isinstance(value, list) else [value]


def _pem_certificates(value: t.Any) -> list[t.Any]:
    """Certificates from PEM (CRLF or not) or bare base64 DER."""
    if not isinstance(value, str) or not value.strip():
        return []
    text = value.replace("\r\n", "\n").strip()
    if "BEGIN CERTIFICATE" in text:
        return _certificate.load_certificates_pem(text.encode("utf-8"))
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        return [_certificate.x509.load_der_x509_certificate(der)]
    except (binascii.Error, ValueError):
        raise RclResponseError("Servertastic sent a certificate that is neither PEM nor base64 DER") from None


class ServertasticService(ServiceUnit):
    service = "servertastic"
    title = "Servertastic"
    default_url = "https://api2.servertastic.com"
    credentials = ("api_key",)
    challenge_types = ("dns", "http", "https", "email")
    option_names = ("product_code", "contacts", "approver_email", "state_dir", "state_passphrase", "key_type")
    order_needs = ("product_code", "contacts")

    def __init__(self, transport: t.Any, base_url: str | None, connection: t.Mapping[str, t.Any],
                 on_secret: t.Callable[[str], None] | None = None) -> None:
        super().__init__(transport, base_url, connection, on_secret)
        self._api_key = str(connection.get("api_key") or "").strip()
        if not self._api_key or any(c.isspace() or ord(c) < 0x20 for c in self._api_key):
            raise RclInputError("api_key is empty or contains whitespace or control characters")
        self.on_secret(self._api_key)
        self._stores: dict[tuple[str, str], StateStore] = {}
        # Reviews read in this run, by token: the due decision and the material share one (no write between).
        self._reviews: dict[str, dict[str, t.Any]] = {}

    # -- pure checks -----------------------------------------------------------------------

    @classmethod
    def request(cls, certificate_name: t.Any, challenge_type: t.Any, options: t.Mapping[str, t.Any],
                ordering: bool = True) -> ServiceRequest:
        name = validate_certificate_name(certificate_name)
        ctype = cls.check_challenge_type(name, challenge_type)
        given = cls.check_options(options, cls.order_needs if ordering else ())
        product = given.get("product_code")
        if product is not None and not PRODUCT_RE.fullmatch(str(product)):
            raise RclInputError("product_code must look like RapidSSL-12 (product, dash, months), not %r"
                                % str(product)[:40])
        if "contacts" in given:
            given["contacts"] = cls._check_contacts(given["contacts"])
        approver = given.get("approver_email")
        if ctype == "email" and ordering and not approver:
            raise RclInputError("challenge_type=email needs approver_email (one of the addresses Servertastic's "
                                "approver list offers for %s, such as admin@%s)" % (name, base_domain(name)))
        if approver is not None and (str(approver).count("@") != 1 or any(c.isspace() for c in str(approver))):
            raise RclInputError("approver_email must be one e-mail address")
        if "key_type" in given and given["key_type"] not in ("rsa2048", "rsa3072", "rsa4096", "ec256", "ec384"):
            raise RclInputError("key_type must be one of rsa2048, rsa3072, rsa4096, ec256, ec384")
        return ServiceRequest(certificate_name=name, names=[name], challenge_type=ctype, options=given)

    @staticmethod
    def _check_contacts(value: t.Any) -> dict[str, dict[str, str]]:
        if not isinstance(value, dict):
            raise RclInputError("contacts must be a dictionary with the keys tech and admin")
        unknown = sorted(str(k)[:20] for k in value if k not in CONTACT_ROLES)
        if unknown:
            raise RclInputError("contacts has unknown keys %s; allowed: tech, admin" % ", ".join(unknown))
        result: dict[str, dict[str, str]] = {}
        for role in CONTACT_ROLES:
            person = value.get(role)
            if not isinstance(person, dict):
                raise RclInputError("contacts.%s must be a dictionary with %s" % (role, ", ".join(CONTACT_FIELDS)))
            extra = sorted(str(k)[:20] for k in person if k not in CONTACT_FIELDS)
            if extra:
                raise RclInputError("contacts.%s has unknown keys %s; allowed: %s"
                                    % (role, ", ".join(extra), ", ".join(CONTACT_FIELDS)))
            missing = [f for f in CONTACT_FIELDS if not isinstance(person.get(f), (str, int)) or not str(person[f]).strip()]
            if missing:
                raise RclInputError("contacts.%s needs %s (Servertastic requires a real person)"
                                    % (role, ", ".join(missing)))
            if str(person["email"]).count("@") != 1:
                raise RclInputError("contacts.%s.email must be an e-mail address" % role)
            result[role] = {f: str(person[f]).strip() for f in CONTACT_FIELDS}
        return result

    # -- state -------------------------------------------------------------------------------

    def store(self, req: ServiceRequest) -> StateStore:
        key = (str(req.options.get("state_dir") or ""), str(req.options.get("state_passphrase") or ""))
        if key not in self._stores:
            self._stores[key] = StateStore(req.options.get("state_dir"), self.service,
                                           req.options.get("state_passphrase") or self._api_key)
        return self._stores[key]

    @staticmethod
    def reference(name: str, now: datetime.datetime | None = None) -> str:
        """Unique per logical order: ``rcl-<sha1(name)[:10]>-<UTC time to the second>`` (29 characters)."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return "rcl-%s-%s" % (hashlib.sha1(name.encode("utf-8")).hexdigest()[:10], now.strftime("%Y%m%d%H%M%S"))

    # -- requests ------------------------------------------------------------------------------

    def _call(self, group: str, call: str, params: dict[str, t.Any], method: str = "GET",
              idempotent: bool | None = None) -> dict[str, t.Any]:
        url = "%s/%s/%s.json" % (self.base_url, group, call)
        if call != "review":
            self._reviews.clear()
        try:
            if method == "GET":
                reply = self.transport.request_json("GET", url, params=params, idempotent=idempotent)
            else:
                reply = self.transport.request_json(method, url, data=params, idempotent=idempotent)
        except RclApiError as exc:
            raise self._api_error(exc, call) from None
        shown = self.transport.display_url(url)
        if not isinstance(reply, dict):
            raise RclResponseError("Servertastic's reply to %s is not an object" % call, url=shown)
        error = reply.get("error")
        if error or "success" not in reply:
            message = self._message(error) or "the reply has no success member"
            raise RclApiError(200, shown, message, msg="Servertastic refused %s: %s" % (call, message))
        return reply

    @staticmethod
    def _message(error: t.Any) -> str | None:
        if isinstance(error, dict):
            text = error.get("message") or error.get("code")
            return str(text) if text is not None else None
        return str(error) if error else None

    def _api_error(self, exc: RclApiError, call: str) -> RclApiError:
        message = None
        try:
            data = json.loads(exc.body) if exc.body else None
            if isinstance(data, dict):
                message = self._message(data.get("error"))
        except ValueError:
            message = None
        message = message or " ".join((exc.body or "").split())[:500] or "no message"
        # A page that echoes the request shows the credentials it carried as parameters.
        message = redact_secret_params(message)
        for secret in (self._api_key,):
            message = message.replace(secret, "<redacted>")
        shown = "Servertastic returned HTTP %d to %s (%s): %s" % (exc.status, call, exc.url, message)
        error = type(exc)(exc.status, exc.url, redact_secret_params(exc.body or ""), msg=shown)
        error.details["api_message"] = message
        return error

    def _order_call(self, call: str, token: str, method: str = "GET", idempotent: bool | None = None,
                    **params: t.Any) -> dict[str, t.Any]:
        params["order_token"] = token
        return self._call("order", call, params, method=method, idempotent=idempotent)

    def _review(self, token: str, cached: bool = False) -> dict[str, t.Any]:
        if cached and token in self._reviews:
            return self._reviews[token]
        review = {_norm_key(str(k)): v for k, v in self._order_call("review", token).items()}
        self._reviews[token] = review
        return review

    # -- the flow ---------------------------------------------------------------------------------

    def current(self, req: ServiceRequest) -> Certificate | None:
        slot = self.store(req).slot(req.certificate_name, "current")
        if not slot:
            return None
        secret = self.store(req).unseal(slot, req.certificate_name)
        token = secret.get("token")
        if not token:
            return None
        self.on_secret(token)
        review = self._review(token, cached=True)
        leaf = self._leaf(review)
        if leaf is None or _word(review.get("orderstatus")) not in _DONE:
            return None
        return self._metadata(req.certificate_name, slot, leaf)

    def _metadata(self, name: str, slot: t.Mapping[str, t.Any], leaf: t.Any) -> Certificate:
        return Certificate(name=name, id=slot.get("reference"), order_uri=URI_PREFIX + str(slot.get("reference")),
                           issue_date=_certificate.not_before(leaf), expiry_date=_certificate.not_after(leaf))

    def pending(self, req: ServiceRequest) -> str | None:
        slot = self.store(req).slot(req.certificate_name, "pending")
        return URI_PREFIX + str(slot["reference"]) if slot and slot.get("reference") else None

    def order(self, req: ServiceRequest, current: Certificate | None, force: bool, due: bool) -> ServiceOrder:
        store = self.store(req)
        name = req.certificate_name
        slot = store.slot(name, "pending")
        if slot:
            self._check_resumable(req, slot)
            return self._advance(req, slot, resumed=True)
        key = _certificate.new_private_key(str(req.options.get("key_type") or "rsa2048"))
        key_pem = _certificate.private_key_pem(key).decode("ascii")
        self.on_secret(key_pem)
        # Stored before anything is sent: the reference guards the points if a reply is lost.
        slot = store.put(name, "pending", dict(
            reference=self.reference(name), product_code=req.options["product_code"], names=list(req.names),
            challenge_type=req.challenge_type, stage="new", renewal=bool(current is not None or store.slot(name, "current")),
            created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ), secret=dict(key=key_pem), merge=False)
        return self._advance(req, slot, resumed=False)

    def _check_resumable(self, req: ServiceRequest, slot: t.Mapping[str, t.Any]) -> None:
        wanted = (("product_code", req.options.get("product_code")), ("challenge_type", req.challenge_type),
                  ("names", req.names))
        changed = [what for what, ours in wanted
                   if ours is not None and slot.get(what) is not None and slot.get(what) != ours]
        if changed:
            raise RclInputError(
                "%s has a Servertastic order an earlier run started (reference %s, %s) that is not finished, with "
                "another %s: set it back so the order is resumed (its points are spent), or cancel that order "
                "and remove the name from %s" % (req.certificate_name, slot.get("reference"),
                                                 slot.get("challenge_type"), " and ".join(changed),
                                                 self.store(req).path), reference=slot.get("reference"))

    def _token(self, req: ServiceRequest, slot: dict[str, t.Any]) -> tuple[str, dict[str, t.Any]]:
        store = self.store(req)
        name = req.certificate_name
        secret = store.unseal(slot, name)
        token = secret.get("token")
        if token:
            self.on_secret(token)
            return str(token), slot
        reference = str(slot["reference"])
        if slot.get("token_requested"):
            # An earlier attempt may have paid: look the reference up instead of paying again.
            token = self._find_token(reference)
        if not token:
            first = not slot.get("token_requested")
            slot = store.put(name, "pending", dict(token_requested=True))
            try:
                reply = self._call("order", "generatetoken", dict(
                    api_key=self._api_key, st_product_code=slot["product_code"], end_customer_email="none",
                    reseller_unique_reference=reference, server_count=1, san_count=0,
                ), idempotent=False)  # costs points: never repeated blindly
            except RclApiError as exc:
                if first and (400 <= exc.status < 500 or exc.status == 200):
                    # Refused (a bad product code or key) the first time its fresh reference was sent: no token, no
                    # points spent, nothing to resume. (A later attempt may be refused as a duplicate of a token an
                    # earlier one got: that slot is kept.)
                    store.drop(name, "pending")
                raise
            token = reply.get("order_token")
            if not isinstance(token, str) or not token.strip():
                raise RclResponseError("Servertastic generated no order token for reference %s" % reference)
        self.on_secret(token)
        slot = store.put(name, "pending", dict(stage="token"), secret=dict(token=token))
        return str(token), slot

    def _find_token(self, reference: str) -> str | None:
        reply = self._call("order", "showtokens", dict(api_key=self._api_key))
        for group in ("unused_tokens", "used_tokens"):
            holder = reply.get(group)
            items = _items(holder.get("order_token") if isinstance(holder, dict) else holder)
            for item in items:
                if isinstance(item, dict) and str(item.get("reseller_unique_reference")) == reference:
                    token = item.get("token") or item.get("order_token")
                    if isinstance(token, str) and token:
                        return token
        return None

    def _place(self, req: ServiceRequest, slot: dict[str, t.Any], token: str) -> dict[str, t.Any]:
        store = self.store(req)
        name = req.certificate_name
        if slot.get("place_requested"):
            # An earlier attempt may have placed it: ask before placing again.
            review = self._review(token)
            if _word(review.get("orderstatus")) not in _TO_PLACE:
                return store.put(name, "pending", dict(stage="placed"))
        secret = store.unseal(slot, name)
        key = _certificate.load_private_key_pem(str(secret["key"]).encode("ascii"))
        csr = _certificate.make_csr(key, list(slot.get("names") or req.names)).decode("ascii")
        method = METHODS[str(slot.get("challenge_type") or req.challenge_type or "dns")]
        params: dict[str, t.Any] = dict(dv_auth_method=method, csr=csr, exclude_addon=1,
                                        renewal=1 if slot.get("renewal") else 0)
        if method == "EMAIL":
            params["approver_email_address"] = req.options["approver_email"]
        for role, person in req.options["contacts"].items():
            for field_name, value in person.items():
                params["%s_contact_%s" % (role, field_name)] = value
        slot = store.put(name, "pending", dict(place_requested=True))
        try:
            self._order_call("place", token, method="POST", idempotent=False, **params)
        except RclApiError as exc:
            refused = 400 <= exc.status < 500 or exc.status == 200  # an error reply: nothing was placed
            if not params["renewal"] or not refused:
                raise
            # A refusal (nothing placed): some products (DigiCert's) want the previous token with renewal=1, in a
            # field whose name is not public. Place it as a new order, without the carried-over time.
            self.warnings.append("Servertastic refused renewal=1 for %s (%s): placed as a new order instead, without "
                                 "the unused time of the previous one" % (name, exc.details.get("api_message")))
            params["renewal"] = 0
            slot = store.put(name, "pending", dict(renewal=False))
            self._order_call("place", token, method="POST", idempotent=False, **params)
        return store.put(name, "pending", dict(stage="placed"))

    def _advance(self, req: ServiceRequest, slot: dict[str, t.Any], resumed: bool) -> ServiceOrder:
        token, slot = self._token(req, slot)
        if slot.get("stage") != "placed":
            slot = self._place(req, slot, token)
        # "Order Placed" right after a place that succeeded means placed (S-gh), not "to configure" (S-php): it is
        # never placed twice. Only a place whose reply was lost is checked before placing again (_place).
        order = self._order_of(req.certificate_name, slot, self._review(token))
        order.resumed = resumed
        return order

    def _order_of(self, name: str, slot: t.Mapping[str, t.Any], review: dict[str, t.Any]) -> ServiceOrder:
        word = _word(review.get("orderstatus"))
        raw = str(review.get("orderstatus") or "")
        if word in _DONE:
            status = "valid"
        elif word in _FAILED:
            status = "invalid"
        elif word in _AWAITING or word in _TO_PLACE:
            status = "pending"
        else:
            status = "processing"  # moderation, or a status this collection does not know: wait
        details: dict[str, t.Any] = dict(reference=slot.get("reference"),
                                         reseller_order_id=review.get("resellerorderid"))
        further = review.get("orderstatefurtherinfo")
        if further:
            details["service_detail"] = str(further)[:500]
        order = ServiceOrder(order_uri=URI_PREFIX + str(slot.get("reference")), status=status, service_status=raw,
                             details=details)
        method = _word(review.get("dvauthmethod")) or _word(METHODS[str(slot.get("challenge_type") or "dns")])
        if status != "pending" or word in _TO_PLACE:
            return order
        if method == "dns":
            value = review.get("dvauthdnsstring")
            if isinstance(value, str) and value.strip():
                base = base_domain(name)
                record = str(review.get("dvauthdnsname") or "").strip().rstrip(".").lower() or base
                if record != base and not record.endswith("." + base):
                    record = "%s.%s" % (record, base)
                kind = str(review.get("dvauthdnstype") or "TXT").strip().upper()
                if kind != "TXT":
                    raise RclResponseError("Servertastic asks for a %s record for %s: only TXT records are published"
                                           % (kind[:10], name))
                order.publish.append(Publish(kind="dns", identifier=name, record=record, value=value.strip()))
        elif method in ("file", "sfile"):
            contents = review.get("dvauthfilecontents")
            if isinstance(contents, str) and contents:
                file_name = str(review.get("dvauthfilename") or review.get("filename") or "fileauth.txt").strip("/")
                if ".." in file_name.split("/"):
                    raise RclResponseError("Servertastic sent the unsafe file name %r" % file_name[:80])
                order.publish.append(Publish(kind="http", identifier=name, resource=PKI_DIR + file_name,
                                             value=contents))
        elif method == "email":
            order.approval = dict(approver_email=review.get("approveremailaddress"),
                                  notified=review.get("approvernotifieddate"))
        return order

    def read(self, order_uri: str, req: ServiceRequest | None) -> ServiceOrder:
        if req is None:
            raise RclInputError("Reading a Servertastic order needs certificate_name (its token is kept per name)")
        name, slot, which = self._slot_of(order_uri, req)
        token = str(self.store(req).unseal(slot, name).get("token") or "")
        if not token:
            return ServiceOrder(order_uri=order_uri, status="pending", service_status="no token yet",
                                details=dict(reference=slot.get("reference")))
        self.on_secret(token)
        return self._order_of(name, slot, self._review(token))

    def _slot_of(self, order_uri: str, req: ServiceRequest) -> tuple[str, dict[str, t.Any], str]:
        text = str(order_uri or "")
        if not text.startswith(URI_PREFIX) or len(text) > len(URI_PREFIX) + REFERENCE_MAX:
            raise RclInputError("order_uri must be a Servertastic order as rcl_order returns it (servertastic:<reference>), "
                                "not %r" % text[:80])
        reference = text[len(URI_PREFIX):]
        store = self.store(req)
        for which in ("pending", "current"):
            slot = store.slot(req.certificate_name, which)
            if slot and slot.get("reference") == reference:
                return req.certificate_name, slot, which
        raise RclInputError("No Servertastic order %s for %s in %s (the state_dir of the run that placed it)"
                            % (reference, req.certificate_name, store.path), reference=reference)

    def finish(self, order_uri: str, req: ServiceRequest, waiter: Waiter, wait: bool,
               check_mode: bool) -> ServiceFinish:
        name, slot, which = self._slot_of(order_uri, req)
        store = self.store(req)
        secret = store.unseal(slot, name)
        token = str(secret.get("token") or "")
        if not token:
            raise RclInputError("The Servertastic order %s of %s has no token yet: run rcl_order again to resume it"
                                % (slot.get("reference"), name), reference=slot.get("reference"))
        self.on_secret(token)
        review = self._review(token)
        order = self._order_of(name, slot, review)
        if which == "current" and order.status == "valid":
            metadata, bundle = self._bundle(name, slot, secret, review)
            return ServiceFinish(changed=False, order=order, certificate=metadata, bundle=bundle)
        if check_mode:
            return ServiceFinish(changed=order.status != "invalid", order=order)
        if order.status == "pending" and order.publish:
            # Ask the CA to check now (DNS and files; an e-mail approval needs a person).
            self._order_call("pollauth", token)
        if order.status not in ("valid", "invalid") and wait:
            last = [order]

            def fetch() -> tuple[ServiceOrder, dict[str, t.Any]]:
                fresh = self._review(token)
                last[0] = self._order_of(name, slot, fresh)
                return last[0], fresh

            try:
                order, review = waiter.poll(fetch, lambda pair: pair[0].status in ("valid", "invalid"),
                                            "Servertastic order %s of %s" % (slot.get("reference"), name))
            except RclTimeoutError as exc:
                exc.msg += (" (still %r). The order is kept in %s: the next run resumes it without a new token"
                            % (last[0].service_status, store.path))
                exc.details.update(order_uri=order_uri, reference=slot.get("reference"),
                                   service_status=last[0].service_status)
                raise
        if order.status == "invalid":
            store.drop(name, which)
            raise RclOrderInvalidError(
                "Servertastic order %s of %s ended as %r%s: a new order (and token) is needed"
                % (slot.get("reference"), name, order.service_status,
                   " (%s)" % order.details["service_detail"] if order.details.get("service_detail") else ""),
                order_uri=order_uri, status="invalid")
        if order.status != "valid":
            return ServiceFinish(changed=False, order=order)
        metadata, bundle = self._bundle(name, slot, secret, review)
        store.move(name, "pending", "current", dict(stage="completed"))
        return ServiceFinish(changed=True, order=order, certificate=metadata, bundle=bundle)

    @staticmethod
    def _leaf(review: dict[str, t.Any]) -> t.Any:
        certs = _pem_certificates(review.get("certificate"))
        return certs[0] if certs else None

    def _bundle(self, name: str, slot: t.Mapping[str, t.Any], secret: t.Mapping[str, t.Any],
                review: dict[str, t.Any]) -> tuple[Certificate, t.Any]:
        leaf = self._leaf(review)
        if leaf is None:
            raise RclResponseError("Servertastic's review of %s is Completed but carries no certificate" % name)
        chain = []
        holder = review.get("cacerts")
        items = _items(holder.get("certificate_info") if isinstance(holder, dict) else holder)
        for item in items:
            if not isinstance(item, dict):
                continue
            if str(item.get("type") or "").strip().upper() == "ROOT":
                continue  # the fullchain never carries the root
            chain.extend(_pem_certificates(item.get("certificate")))
        chain = [cert for cert in chain if not _certificate.is_self_signed(cert)]
        key_pem = secret.get("key")
        if not key_pem:
            raise RclInputError("The key of Servertastic order %s of %s is not in the state file" % (slot.get("reference"), name))
        key = _certificate.load_private_key_pem(str(key_pem).encode("ascii"))
        bundle = _certificate.CertificateBundle(key=key, leaf=leaf, chain=_certificate.order_chain(leaf, chain))
        try:
            _certificate.check_bundle(bundle, name)
        except RclCertificateError as exc:
            if exc.check == "key_match":
                exc.msg = ("Servertastic's certificate for %s does not belong to the key of order %s: %s"
                           % (name, slot.get("reference"), exc.msg))
            raise
        return self._metadata(name, slot, leaf), bundle

    def material(self, req: ServiceRequest, current: Certificate | None = None) -> tuple[Certificate, t.Any]:
        store = self.store(req)
        slot = store.slot(req.certificate_name, "current")
        if not slot:
            raise RclInputError("No issued Servertastic order of %s in %s" % (req.certificate_name, store.path))
        secret = store.unseal(slot, req.certificate_name)
        token = str(secret.get("token") or "")
        self.on_secret(token)
        review = self._review(token, cached=True)
        if _word(review.get("orderstatus")) not in _DONE:
            raise RclResponseError("Servertastic order %s of %s is %r, not Completed"
                                   % (slot.get("reference"), req.certificate_name, review.get("orderstatus")))
        return self._bundle(req.certificate_name, slot, secret, review)
