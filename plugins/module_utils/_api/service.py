# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The ordering systems beside RCL SSL: what each one is (a ``ServiceUnit``) and the shapes they share.

A service (``certifire.py``, ``servertastic.py``) is one unit, like an RCL API generation: it declares its
credentials, its challenge types and the options its orders need (all checked before any request), and runs
its own flow behind four use cases the modules share - the certificate it holds now (``current``), start an
order when one is due (``order``), read an order (``read``), wait for the certificate (``finish``) - and the
material (``material``). Nothing outside ``_api/`` branches on a service name.

An order is named by an ``order_uri`` each service makes and reads back: Certifire's order URL (the fragment
records the certificate it replaces), ``servertastic:<reference>`` for Servertastic, whose orders are
named by the reseller's reference.
"""

from __future__ import annotations

import abc
import typing as t
from dataclasses import dataclass, field

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Certificate, Waiter
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError, RclUnsupportedError, ignore_secret

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.rcl.ssl.plugins.module_utils._certificate import CertificateBundle
    from ansible_collections.rcl.ssl.plugins.module_utils._http import HttpTransport

HARMLESS = ("state_dir", "state_passphrase")

__all__ = ["HARMLESS", "Publish", "ServiceFinish", "ServiceOrder", "ServiceRequest", "ServiceUnit", "challenge_data"]


@dataclass
class ServiceRequest:
    """One certificate to order from a service, its inputs checked (``ServiceUnit.request``)."""

    certificate_name: str
    names: list[str]
    challenge_type: str | None
    # the service's own order options (acme_account_email, product_code, contacts, ...), checked
    options: dict[str, t.Any] = field(default_factory=dict, repr=False)


@dataclass
class Publish:
    """Something the caller publishes so the CA can validate: a DNS TXT value or a file under the web root."""

    kind: str  # "dns" or "http"
    identifier: str
    value: str
    record: str | None = None  # dns: the record's FQDN
    resource: str | None = None  # http: the path below the web root


@dataclass
class ServiceOrder:
    order_uri: str
    status: str  # pending (waits for the caller or a person), processing, valid, invalid
    service_status: str | None = None  # the service's own word for it
    publish: list[Publish] = field(default_factory=list)
    # what a person must do (Servertastic EMAIL: who approves)
    approval: dict[str, t.Any] | None = None
    # non-secret identifiers worth showing (order id, reference, certificate id)
    details: dict[str, t.Any] = field(default_factory=dict)
    resumed: bool = False

    def to_result(self) -> dict[str, t.Any]:
        result: dict[str, t.Any] = dict(status=self.status, order_uri=self.order_uri, certificate_uri=None,
                                        challenges=[], service_status=self.service_status)
        result.update(self.details)
        if self.approval:
            result["approval"] = dict(self.approval)
        return result


@dataclass
class ServiceFinish:
    changed: bool
    order: ServiceOrder
    certificate: Certificate | None = None
    bundle: CertificateBundle | None = field(default=None, repr=False)


def challenge_data(order: ServiceOrder) -> tuple[list[dict[str, t.Any]], dict[str, list[str]]]:
    """What to publish in the shape of RCL orders (community.crypto's), and the DNS records as ``{fqdn: [values]}``."""
    entries: list[dict[str, t.Any]] = []
    records: dict[str, list[str]] = {}
    for item in order.publish:
        if item.kind == "http":
            challenge = {"resource": item.resource, "resource_value": item.value}
            entries.append(dict(identifier=item.identifier, identifier_type="dns", challenges={"http-01": challenge}))
            continue
        record = str(item.record)
        entries.append(dict(identifier=item.identifier, identifier_type="dns",
                            challenges={"dns-01": {"record": record, "resource": record, "resource_value": item.value}}))
        values = records.setdefault(record, [])
        if item.value not in values:
            values.append(item.value)
    return entries, records


class ServiceUnit(abc.ABC):
    """One ordering system, whole: credentials, input rules, flow. Class methods are pure (no request)."""

    service: t.ClassVar[str] = ""
    title: t.ClassVar[str] = ""
    default_url: t.ClassVar[str | None] = None
    #: connection options that must all be set
    credentials: t.ClassVar[tuple[str, ...]] = ()
    #: the challenge types it takes (the first is the default); empty: the service validates by itself
    challenge_types: t.ClassVar[tuple[str, ...]] = ()
    #: the service options of rcl.ssl's modules it reads (others given are an error)
    option_names: t.ClassVar[tuple[str, ...]] = ()
    #: the options an order needs
    order_needs: t.ClassVar[tuple[str, ...]] = ()
    #: what a standalone read of an order needs from the caller
    max_wait_timeout: t.ClassVar[float] = 86400

    def __init__(self, transport: HttpTransport, base_url: str | None, connection: t.Mapping[str, t.Any],
                 on_secret: t.Callable[[str], None] | None = None) -> None:
        self.transport = transport
        self.base_url = (base_url or self.default_url or "").rstrip("/")
        self.connection = dict(connection)
        self.on_secret = on_secret or ignore_secret
        #: what the module should warn about (a reissue that revokes, a renewal placed as a new order...)
        self.warnings: list[str] = []

    # -- declarations, checked before any request ---------------------------------

    @classmethod
    def check_connection(cls, options: t.Mapping[str, t.Any]) -> None:
        missing = [name for name in cls.credentials if not options.get(name)]
        if not cls.default_url and not options.get("api_url"):
            missing.insert(0, "api_url")
        if missing:
            raise RclInputError("service=%s needs %s" % (cls.service, ", ".join(missing)), service=cls.service)

    @classmethod
    def check_options(cls, options: t.Mapping[str, t.Any], needs: t.Iterable[str] = ()) -> dict[str, t.Any]:
        """The service options given (None = not given): others are an error, ``needs`` must be set."""
        given = {name: value for name, value in options.items() if value not in (None, "", {}, [])}
        # The state options may come from the environment (RCL_STATE_DIR) for every service: harmless.
        for name in HARMLESS:
            if name not in cls.option_names:
                given.pop(name, None)
        foreign = sorted(name for name in given if name not in cls.option_names)
        if foreign:
            raise RclInputError("%s %s not used by service=%s" % (
                ", ".join(foreign), "is" if len(foreign) == 1 else "are", cls.service), service=cls.service)
        missing = [name for name in needs if name not in given]
        if missing:
            raise RclInputError("Ordering from service=%s needs %s" % (cls.service, " and ".join(missing)),
                                service=cls.service)
        return given

    @classmethod
    def check_challenge_type(cls, name: str, challenge_type: t.Any) -> str | None:
        if not cls.challenge_types:
            if challenge_type not in (None, ""):
                raise RclInputError("service=%s validates the names itself: challenge_type is not used (got %r)"
                                    % (cls.service, str(challenge_type)[:20]), service=cls.service)
            return None
        value = str(challenge_type or cls.challenge_types[0]).strip().lower()
        if value not in cls.challenge_types:
            raise RclInputError("challenge_type must be one of %s with service=%s, not %r"
                                % (", ".join(cls.challenge_types), cls.service, value[:20]), service=cls.service)
        if value in ("http", "https") and "*" in name:
            raise RclInputError("A file challenge cannot validate the wildcard %s: use challenge_type=dns" % name)
        return value

    @classmethod
    @abc.abstractmethod
    def request(cls, certificate_name: t.Any, challenge_type: t.Any, options: t.Mapping[str, t.Any],
                ordering: bool = True) -> ServiceRequest:
        """Check a certificate's inputs (``ordering``: those an order needs too); pure."""

    @classmethod
    def check_wait_timeout(cls, value: t.Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= cls.max_wait_timeout:
            raise RclInputError("wait_timeout must be from 0 to %d seconds with service=%s"
                                % (cls.max_wait_timeout, cls.service))
        return float(value)

    @classmethod
    def unsupported(cls, what: str) -> RclUnsupportedError:
        return RclUnsupportedError("%s is not available with service=%s" % (what, cls.service), service=cls.service)

    # -- use cases ----------------------------------------------------------------

    @abc.abstractmethod
    def current(self, req: ServiceRequest) -> Certificate | None:
        """The certificate the service holds for these names now (metadata only), or None."""

    @abc.abstractmethod
    def order(self, req: ServiceRequest, current: Certificate | None, force: bool, due: bool) -> ServiceOrder:
        """Start (or resume) an order: called only when one is due or forced, never in check mode."""

    @abc.abstractmethod
    def read(self, order_uri: str, req: ServiceRequest | None) -> ServiceOrder:
        """The order's state (one read)."""

    @abc.abstractmethod
    def finish(self, order_uri: str, req: ServiceRequest, waiter: Waiter, wait: bool,
               check_mode: bool) -> ServiceFinish:
        """Wait (bounded by ``waiter``) until the order's certificate is issued; its checked material."""

    @abc.abstractmethod
    def material(self, req: ServiceRequest, current: Certificate | None = None) -> tuple[Certificate, CertificateBundle]:
        """The material of the certificate the service holds now (key, leaf, chain), checked."""

    def pending(self, req: ServiceRequest) -> str | None:
        """The order of these names a previous run left unfinished (its ``order_uri``), or None."""
        return None
