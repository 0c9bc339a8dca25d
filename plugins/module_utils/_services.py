# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The client of the other ordering systems (``service`` other than ``rcl``): the modules' use cases on one unit.

Like ``_client`` for RCL SSL: every use case checks all of its inputs (the unit's rules) before the first
request, and returns the module's result in the shape the RCL use cases give (``order_uri``, ``challenge_data``,
``certificate``...), so a playbook reads the same keys whichever system is behind a name.
"""

from __future__ import annotations

import time
import typing as t

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Certificate, Waiter
from ansible_collections.rcl.ssl.plugins.module_utils._api.service import (
    ServiceFinish,
    ServiceOrder,
    ServiceRequest,
    ServiceUnit,
    challenge_data,
)
from ansible_collections.rcl.ssl.plugins.module_utils._api.services import service_unit
from ansible_collections.rcl.ssl.plugins.module_utils._client import make_transport, order_due
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError, ignore_secret
from ansible_collections.rcl.ssl.plugins.module_utils._names import validate_url
from ansible_collections.rcl.ssl.plugins.module_utils._time import utcnow

__all__ = ["SERVICE_OPTIONS", "ServiceClient", "build_service", "service_options"]

#: the order options of the other services, shared by every module (doc fragment ``rcl.ssl.rcl.SERVICES``)
SERVICE_OPTIONS = (
    "acme_account_email",
    "acme_server",
    "certifire_provider",
    "certifire_reissue",
    "product_code",
    "contacts",
    "approver_email",
    "state_dir",
    "state_passphrase",
    "key_type",
)


def service_options(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {name: params.get(name) for name in SERVICE_OPTIONS}


def build_service(
    service: str,
    api_url: str | None = None,
    api_key: str | None = None,
    api_username: str | None = None,
    api_password: str | None = None,
    validate_certs: bool | None = True,
    ca_path: str | None = None,
    timeout: float | None = 30,
    retries: int | None = 3,
    on_secret: t.Callable[[str], None] | None = None,
) -> ServiceClient:
    """Check the connection options of a service (no request is made) and build its client.

    RCL SSL's own options (``api_version``, ``subscription_id``, the V6 client) are not taken: an AWX job may
    carry an RCL credential and a Certifire one, and each service reads only its own.
    """
    unit = service_unit(service)
    if unit is None:
        raise RclInputError("build_service is for the services other than rcl")
    api_url = validate_url(api_url, "api_url")
    connection = dict(api_url=api_url, api_key=api_key, api_username=api_username, api_password=api_password)
    unit.check_connection(connection)
    sink = on_secret or ignore_secret
    transport = make_transport(validate_certs, ca_path, timeout, retries, sink)
    return ServiceClient(unit(transport, api_url, connection, on_secret=sink))


class ServiceClient:
    """The use cases of the modules, on one service unit."""

    def __init__(self, unit: ServiceUnit, sleep: t.Callable[[float], t.Any] = time.sleep,
                 monotonic: t.Callable[[], float] = time.monotonic) -> None:
        self.unit = unit
        self._sleep = sleep
        self._monotonic = monotonic

    @property
    def service(self) -> str:
        return self.unit.service

    @property
    def request_count(self) -> int:
        return self.unit.transport.request_count

    @property
    def warnings(self) -> list[str]:
        return list(self.unit.warnings)

    def waiter(self, wait_timeout: float, poll_interval: float = 2.0) -> Waiter:
        return Waiter(wait_timeout, poll_interval, sleep=self._sleep, monotonic=self._monotonic)

    # -- pure checks ---------------------------------------------------------------------

    def request(self, certificate_name: t.Any, challenge_type: t.Any, options: t.Mapping[str, t.Any],
                ordering: bool = True) -> ServiceRequest:
        return self.unit.request(certificate_name, challenge_type, options, ordering=ordering)

    def refuse_rcl_options(self, **given: t.Any) -> None:
        """Options of RCL orders that mean nothing to this service: an error before any request."""
        foreign = sorted(name for name, value in given.items() if value not in (None, False, "", {}))
        if foreign:
            verb = "is" if len(foreign) == 1 else "are"
            raise RclInputError("%s %s not used by service=%s" % (", ".join(foreign), verb, self.service),
                                service=self.service)

    # -- use cases ---------------------------------------------------------------------------

    def decide(self, req: ServiceRequest, remaining_days: int, force: bool) -> tuple[bool, bool, str, Certificate | None]:
        """(order now, due by expiry, why, the certificate held now): an unfinished order is resumed."""
        pending = self.unit.pending(req)
        if pending:
            return True, True, "resuming the unfinished order %s" % pending, None
        cert = self.unit.current(req)
        due, reason = order_due(cert, remaining_days, False, utcnow(),
                                missing="no certificate from %s for these names" % self.unit.title)
        if force and not due:
            return True, False, "forced", cert
        return due, due, reason, cert

    def start(self, req: ServiceRequest, cert: Certificate | None, force: bool, due: bool) -> ServiceOrder:
        return self.unit.order(req, cert, force, due)

    def ensure_order(self, req: ServiceRequest, remaining_days: int, force: bool,
                     check_mode: bool) -> dict[str, t.Any]:
        """``rcl_order``'s result: read what the service holds, order when due (never in check mode)."""
        ordered, due, reason, cert = self.decide(req, remaining_days, force)
        result: dict[str, t.Any] = dict(changed=ordered, reason=reason, service=self.service)
        if cert is not None:
            result["certificate"] = cert.metadata()
        if ordered and not check_mode:
            order = self.start(req, cert, force, due)
            result.update(order_result(order))
        return result

    def info(self, order_uri: str | None, req: ServiceRequest | None) -> dict[str, t.Any]:
        result: dict[str, t.Any] = dict(changed=False, service=self.service)
        if order_uri:
            result.update(order_result(self.unit.read(order_uri, req)))
        elif req is not None:
            cert = self.unit.current(req)
            result["exists"] = cert is not None
            if cert is not None:
                result["certificate"] = cert.metadata()
            pending = self.unit.pending(req)
            if pending:
                result["pending_order_uri"] = pending
        else:
            raise self.unit.unsupported("Listing certificates")
        return result

    def finalize(self, order_uri: str, req: ServiceRequest, wait: bool, wait_timeout: float, check_mode: bool,
                 waiter: Waiter | None = None) -> ServiceFinish:
        self.unit.check_wait_timeout(wait_timeout)
        return self.unit.finish(order_uri, req, waiter or self.waiter(wait_timeout), wait, check_mode)

    def material(self, req: ServiceRequest) -> tuple[Certificate, t.Any]:
        return self.unit.material(req)


def order_result(order: ServiceOrder) -> dict[str, t.Any]:
    """The order part of a module result, in the shape of RCL orders."""
    data, dns = challenge_data(order)
    result = dict(order_uri=order.order_uri, order=order.to_result(), validation_tokens=[], challenge_data=data,
                  challenge_data_dns=dns, resumed=order.resumed)
    if order.approval:
        result["approval"] = dict(order.approval)
    return result
