# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""Certifire's "ACME Orders" API (seed 003): a self-hosted service that runs the ACME work and validates itself.

HTTP Basic (``api_username``, ``api_password``); ``api_url`` is the service's base URL (paths start with
``/api``). The service holds an ACME account per e-mail (``POST /api/acme``, find or create) and the
certificate's key; it validates through its DNS provider (``route53``), so there is nothing to publish.

Renewal re-posts the identical order (same ``domains`` in the same order, ``account``, ``type``): the service
starts a new ACME order and stores a new certificate without revoking the old one; ``force`` does the same for a
certificate that is not due. ``COPY`` (reissue) revokes the live certificate *before* the new one exists: it is
sent only with ``force`` and ``certifire_reissue`` for a certificate that is not due, with a warning.

Quirks handled (PROVIDERS.md): ``GET /api/order/<id>`` answers 500 until the worker has
written the order (retried within the wait); there is no failure status (the wait is bounded and
``contents.status == invalid`` fails it); an unknown provider gets 200 with ``id`` 0; the ``Certificate:``
header is ignored (URLs are built from the base URL and ids); lists are objects keyed by id strings.
"""

from __future__ import annotations

import json
import re
import typing as t
from urllib.parse import urlsplit

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate
from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    Certificate,
    Waiter,
    _Reader,
    seconds_text,
)
from ansible_collections.rcl.ssl.plugins.module_utils._api.service import (
    ServiceFinish,
    ServiceOrder,
    ServiceRequest,
    ServiceUnit,
)
from ansible_collections.rcl.ssl.plugins.module_utils._auth import BasicAuth
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclApiError,
    RclCertificateError,
    RclInputError,
    RclOrderInvalidError,
    RclResponseError,
    RclTimeoutError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._names import validate_certificate_name, validate_url

__all__ = ["CertifireService"]

_DONE = ("valid",)
_WORKING = ("pending", "ready", "processing")
_VALID_CERT = ("valid", "issued")
EMAIL_MAX = 254


def _status(value: t.Any) -> str:
    return str(value or "").strip().lower()


class CertifireService(ServiceUnit):
    service = "certifire"
    title = "Certifire"
    default_url = None  # self-hosted: api_url is required
    credentials = ("api_username", "api_password")
    challenge_types = ()  # the service validates through its own DNS provider
    option_names = ("acme_account_email", "acme_server", "certifire_provider", "certifire_reissue")
    order_needs = ("acme_account_email",)

    def __init__(self, transport: t.Any, base_url: str | None, connection: t.Mapping[str, t.Any],
                 on_secret: t.Callable[[str], None] | None = None) -> None:
        super().__init__(transport, base_url, connection, on_secret)
        self.auth = BasicAuth(str(connection.get("api_username") or ""), str(connection.get("api_password") or ""),
                              on_secret=self.on_secret)
        base = self.base_url
        self.api = base if base.endswith("/api") else base + "/api"
        # The certificate list of this run: read once for the due decision and the material (no write between).
        self._listed: list[dict[str, t.Any]] | None = None

    # -- pure checks -------------------------------------------------------------------

    @classmethod
    def request(cls, certificate_name: t.Any, challenge_type: t.Any, options: t.Mapping[str, t.Any],
                ordering: bool = True) -> ServiceRequest:
        name = validate_certificate_name(certificate_name)
        cls.check_challenge_type(name, challenge_type)
        given = cls.check_options(options, cls.order_needs if ordering else ())
        email = given.get("acme_account_email")
        if email is not None:
            email = str(email).strip()
            if len(email) > EMAIL_MAX or email.count("@") != 1 or any(c.isspace() or ord(c) < 0x20 for c in email):
                raise RclInputError("acme_account_email must be one e-mail address")
            given["acme_account_email"] = email
        server = validate_url(given.get("acme_server"), "acme_server")
        if server:
            # Certifire joins "directory" to it: a base URL that does not end in "/" would lose its last part.
            given["acme_server"] = server if server.endswith("/") else server + "/"
        provider = str(given.get("certifire_provider") or "route53").strip()
        if not provider or len(provider) > 64 or any(c.isspace() for c in provider):
            raise RclInputError("certifire_provider must be one word such as route53, not %r" % provider[:64])
        given["certifire_provider"] = provider
        return ServiceRequest(certificate_name=name, names=[name], challenge_type=None, options=given)

    # -- requests ----------------------------------------------------------------------

    def _call(self, method: str, path: str, body: t.Any = None, idempotent: bool | None = None) -> t.Any:
        url = self.api + path
        if method != "GET":
            self._listed = None
        try:
            return self.transport.request_json(method, url, headers=self.auth.headers(), json=body,
                                               idempotent=idempotent)
        except RclApiError as exc:
            raise self._api_error(exc) from None

    @staticmethod
    def _api_error(exc: RclApiError) -> RclApiError:
        """Certifire's messages: JSON ``{"status": text}``, or an HTML page reduced to its text (kept short)."""
        text = exc.body or ""
        message = None
        if text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
                if isinstance(data, dict) and data.get("status"):
                    message = str(data["status"])
            except ValueError:
                message = None
        if message is None:
            text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", text)
            text = re.sub(r"(?s)<[^>]*>?", " ", text)  # tags, and a tag the body cut in two
            message = " ".join(text.split())[:500] or "no message"
        shown = "Certifire returned HTTP %d for %s: %s" % (exc.status, exc.url, message)
        error = type(exc)(exc.status, exc.url, exc.body, msg=shown)
        error.details["api_message"] = message
        return error

    def _order_url(self, order_id: int, after: t.Any = None) -> str:
        url = "%s/order/%d" % (self.api, order_id)
        return url + ("#after=%s" % after if after not in (None, "") else "")

    def _parse_order_uri(self, order_uri: str) -> tuple[int, str | None]:
        try:
            parts = urlsplit(str(order_uri))
        except ValueError:
            parts = None
        segments = parts.path.rstrip("/").split("/") if parts else []
        if not parts or len(segments) < 2 or segments[-2] != "order" or not segments[-1].isdigit():
            raise RclInputError("order_uri must be a Certifire order URL as rcl_order returns it (.../api/order/<id>), "
                                "not %r" % str(order_uri)[:120], service=self.service)
        after = parts.fragment[len("after="):] if parts.fragment.startswith("after=") else None
        return int(segments[-1]), after or None

    def account_id(self, req: ServiceRequest) -> int:
        """Find or create the ACME account of the e-mail (and CA); the service answers 201 new, 200 existing."""
        body: dict[str, t.Any] = {"email": req.options["acme_account_email"]}
        if req.options.get("acme_server"):
            body["server"] = req.options["acme_server"]
        # Find-or-create: repeating it after a lost reply finds the account made by the first attempt.
        reply = self._call("POST", "/acme", body, idempotent=True)
        account = _Reader(reply, "account reply", self.api + "/acme").get("id")
        if not isinstance(account, int) or isinstance(account, bool) or account <= 0:
            raise RclResponseError("Certifire did not return an ACME account id for %s" % body["email"])
        return account

    def _certificates(self) -> list[dict[str, t.Any]]:
        if self._listed is not None:
            return self._listed
        reply = self._call("GET", "/certificate")
        if reply in (None, "", []):
            return []
        if not isinstance(reply, dict):
            raise RclResponseError("The certificate list of %s/certificate is not an object" % self.api)
        self._listed = [item for item in reply.values() if isinstance(item, dict)]
        return self._listed

    def _certificate(self, certificate_id: t.Any) -> dict[str, t.Any]:
        reply = self._call("GET", "/certificate/%d" % int(certificate_id))
        if not isinstance(reply, dict):
            raise RclResponseError("The certificate %s of Certifire is not an object" % certificate_id)
        return reply

    @staticmethod
    def _leaf(item: dict[str, t.Any]) -> t.Any:
        body = item.get("body")
        if not isinstance(body, str) or "BEGIN CERTIFICATE" not in body:
            return None
        try:
            certs = _certificate.load_certificates_pem(body.encode("utf-8"))
        except (RclCertificateError, ValueError):
            return None
        return certs[0] if certs else None

    def _metadata(self, item: dict[str, t.Any], name: str, leaf: t.Any = None) -> Certificate:
        leaf = leaf if leaf is not None else self._leaf(item)
        order_id = item.get("order_id")
        return Certificate(
            name=name,
            id=item.get("id") if isinstance(item.get("id"), int) else None,
            order_uri=self._order_url(order_id) if isinstance(order_id, int) and order_id > 0 else None,
            issue_date=_certificate.not_before(leaf) if leaf is not None else None,
            expiry_date=_certificate.not_after(leaf) if leaf is not None else None,
        )

    def _find(self, req: ServiceRequest) -> tuple[Certificate, dict[str, t.Any]] | None:
        """The newest valid certificate that covers every name (one request)."""
        best: tuple[t.Any, dict[str, t.Any]] | None = None
        for item in self._certificates():
            if _status(item.get("status")) not in _VALID_CERT:
                continue
            leaf = self._leaf(item)
            if leaf is None or not _certificate.covers_names(leaf, req.names):
                continue
            if best is None or _certificate.not_after(leaf) > _certificate.not_after(best[0]):
                best = (leaf, item)
        if best is None:
            return None
        return self._metadata(best[1], req.certificate_name, best[0]), best[1]

    def current(self, req: ServiceRequest) -> Certificate | None:
        found = self._find(req)
        return found[0] if found else None

    def order(self, req: ServiceRequest, current: Certificate | None, force: bool, due: bool) -> ServiceOrder:
        after = str(current.id) if current is not None and current.id is not None else None
        if force and not due and current is not None and current.order_uri and req.options.get("certifire_reissue"):
            order_id, _after = self._parse_order_uri(current.order_uri)
            # COPY revokes the live certificate before the new one exists: only on explicit force.
            self.warnings.append(
                "Certifire reissue (COPY) of order %d revokes the live certificate %s of %s before the new one is "
                "issued: until then, hosts that have not been deployed again serve a revoked certificate"
                % (order_id, after, req.certificate_name))
            reply = self._call("COPY", "/order/%d" % order_id, idempotent=False)
            status = _Reader(reply or {}, "reissue reply", self.api).text("status") or "Reordering"
            return ServiceOrder(order_uri=self._order_url(order_id, after), status="processing",
                                service_status=status, details=dict(order_id=order_id, reissue=True))
        account = self.account_id(req)
        body = {"domains": list(req.names), "account": account, "type": "dns",
                "provider": req.options["certifire_provider"]}
        # Creates (or restarts) the service's background order: never repeated blindly.
        reply = self._call("POST", "/order", body, idempotent=False)
        r = _Reader(reply, "order reply", self.api + "/order")
        order_id = r.get("id")
        if order_id == 0:
            raise RclInputError(
                "Certifire refused the DNS provider %r (it answered id 0): it accepts only the providers it is "
                "configured for, such as route53" % req.options["certifire_provider"], service=self.service)
        if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id < 0:
            raise RclResponseError("Certifire did not return an order id for %s" % req.certificate_name)
        details: dict[str, t.Any] = dict(order_id=order_id, account_id=account)
        if order_id > 0 and "exist" in (r.text("status") or "").lower():
            # A re-posted order whose certificate was revoked does not run again: only a reissue starts it. Nothing
            # live is revoked by that (its certificate is revoked already).
            existing = self._read_order(order_id, after)
            if _status(existing.service_status) == "revoked":
                self._call("COPY", "/order/%d" % order_id, idempotent=False)
                details["reissue"] = True
        return ServiceOrder(order_uri=self._order_url(order_id, after), status="processing",
                            service_status=r.text("status"), details=details)

    def _read_order(self, order_id: int, after: str | None) -> ServiceOrder:
        reply = self._call("GET", "/order/%d" % order_id)
        r = _Reader(reply, "order", "%s/order/%d" % (self.api, order_id))
        service_status = r.text("status")
        status = _status(service_status)
        resolved = r.get("resolved_cert_id")
        contents = r.get("contents")
        acme_status = _status(contents.get("status")) if isinstance(contents, dict) else ""
        details: dict[str, t.Any] = dict(order_id=order_id, certificate_id=resolved if isinstance(resolved, int) else None)
        if acme_status == "invalid":
            state = "invalid"
            error = contents.get("error") if isinstance(contents, dict) else None
            if isinstance(error, dict):
                details["error"] = str(error.get("detail") or error.get("type") or "")[:500]
        elif status in _DONE and isinstance(resolved, int) and str(resolved) != str(after or ""):
            state = "valid"
        elif status in _WORKING or status in _DONE:
            state = "processing"
        elif status == "revoked":
            state = "processing"  # a reissue starts by revoking
        else:
            state = "processing"
        return ServiceOrder(order_uri=self._order_url(order_id, after), status=state, service_status=service_status,
                            details=details)

    def read(self, order_uri: str, req: ServiceRequest | None) -> ServiceOrder:
        order_id, after = self._parse_order_uri(order_uri)
        return self._read_order(order_id, after)

    def finish(self, order_uri: str, req: ServiceRequest, waiter: Waiter, wait: bool,
               check_mode: bool) -> ServiceFinish:
        order_id, after = self._parse_order_uri(order_uri)
        if waiter.remaining() <= 0:
            raise RclTimeoutError("Timed out after %s seconds before reading Certifire order %d"
                                  % (seconds_text(waiter.timeout), order_id), wait_timeout=waiter.timeout)

        def fetch() -> ServiceOrder:
            try:
                return self._read_order(order_id, after)
            except RclApiError as exc:
                if exc.status >= 500:
                    # The worker has not written the order yet (or the service hiccups): keep waiting.
                    return ServiceOrder(order_uri=order_uri, status="processing",
                                        service_status="HTTP %d" % exc.status, details=dict(order_id=order_id))
                raise

        order = fetch()
        # The service validates and issues by itself: waiting for it and reading the certificate changes nothing,
        # so finish reports no change (the same for a second call with the same order: idempotent).
        if order.status not in ("valid", "invalid"):
            if check_mode or not wait:
                return ServiceFinish(changed=False, order=order)
            try:
                order = waiter.poll(fetch, lambda o: o.status in ("valid", "invalid"),
                                    "Certifire order %d (the service reports no failures: it may have given up)"
                                    % order_id)
            except RclTimeoutError as exc:
                last = fetch()
                if last.status == "processing" and _status(last.service_status) in _DONE and after:
                    exc.msg += ("; Certifire still shows certificate %s: the CA may have reused valid authorizations "
                                "and issued nothing - the order can be posted again later" % after)
                exc.details.update(order_uri=order_uri, service_status=last.service_status)
                raise
        if order.status == "invalid":
            raise RclOrderInvalidError(
                "Certifire order %d is invalid (%s): re-posting the order (rcl_order) starts it again"
                % (order_id, order.details.get("error") or "the ACME order failed"),
                order_uri=order_uri, status="invalid")
        cert_id = order.details["certificate_id"]
        item = self._certificate(cert_id)
        metadata, bundle = self._bundle(item, req)
        return ServiceFinish(changed=False, order=order, certificate=metadata, bundle=bundle)

    def _bundle(self, item: dict[str, t.Any], req: ServiceRequest) -> tuple[Certificate, t.Any]:
        key = item.get("key")
        if isinstance(key, str) and key:
            self.on_secret(key)
        body, intermediate, chain = item.get("body"), item.get("intermediate"), item.get("chain")
        if not isinstance(body, str) or not isinstance(key, str) or not key:
            raise RclResponseError("Certifire certificate %s carries no certificate or no key" % item.get("id"))
        extra = (intermediate if isinstance(intermediate, str) else "") + (chain if isinstance(chain, str) else "")
        bundle = _certificate.load_pem_bundle(body.encode("utf-8"), extra.encode("utf-8"), key.encode("utf-8"),
                                              order=True)
        fingerprint = str(item.get("fingerprint") or "").replace(":", "").strip().lower()
        actual = _certificate.fingerprint_sha256(bundle.leaf)
        if fingerprint and fingerprint != actual:
            raise RclCertificateError("Certifire's fingerprint of certificate %s does not match its body"
                                      % item.get("id"), check="fingerprint")
        _certificate.check_bundle(bundle, req.certificate_name)
        return self._metadata(item, req.certificate_name, bundle.leaf), bundle

    def material(self, req: ServiceRequest, current: Certificate | None = None) -> tuple[Certificate, t.Any]:
        found = self._find(req)
        if found is None:
            raise RclInputError("Certifire holds no valid certificate for %s" % ", ".join(req.names),
                                service=self.service)
        return self._bundle(found[1], req)
