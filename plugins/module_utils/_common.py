# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""What the modules share: argument specs and the module runner.

``RclModule`` owns a module's lifecycle: the argument spec (connection options with
the credentials each API generation needs as ``required_if``), the dependency checks,
the client, the masking of every secret the client learns as soon as it learns it,
warnings about insecure settings, and one ``except`` that turns every failure into a
clear message without a traceback. This is the only util that knows about
``AnsibleModule``; everything below it takes plain values.
"""

from __future__ import annotations

import os
import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.errors import AnsibleFallbackNotFound

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate, _http, _names
from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Certificate, Order
from ansible_collections.rcl.ssl.plugins.module_utils._api.generations import DEFAULT_VERSION, GENERATIONS
from ansible_collections.rcl.ssl.plugins.module_utils._api.services import DEFAULT_SERVICE, SERVICE_NAMES
from ansible_collections.rcl.ssl.plugins.module_utils._client import RclClient, build_client, insecure_settings
from ansible_collections.rcl.ssl.plugins.module_utils._services import ServiceClient, build_service, service_options
from ansible_collections.rcl.ssl.plugins.module_utils._deploy import certificate_facts
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclError, RclInputError, terminal_safe

__all__ = ["ArgumentSpec", "RclModule", "certificate_result", "connection_argspec", "order_result", "service_argspec"]


class ArgumentSpec:
    """An argument spec with its constraints, composable like community.crypto's."""

    def __init__(
        self,
        argument_spec: dict[str, t.Any] | None = None,
        mutually_exclusive: list[t.Sequence[str]] | None = None,
        required_together: list[t.Sequence[str]] | None = None,
        required_one_of: list[t.Sequence[str]] | None = None,
        required_if: list[t.Sequence[t.Any]] | None = None,
        required_by: dict[str, t.Sequence[str]] | None = None,
    ) -> None:
        self.argument_spec = dict(argument_spec or {})
        self.mutually_exclusive = list(mutually_exclusive or [])
        self.required_together = list(required_together or [])
        self.required_one_of = list(required_one_of or [])
        self.required_if = list(required_if or [])
        self.required_by = dict(required_by or {})

    def update(self, argument_spec: dict[str, t.Any] | None = None, **constraints: t.Any) -> ArgumentSpec:
        self.argument_spec.update(argument_spec or {})
        for name, value in constraints.items():
            current = getattr(self, name)
            if isinstance(current, dict):
                current.update(value)
            else:
                current.extend(value)
        return self

    def create_module(self, supports_check_mode: bool = True) -> AnsibleModule:
        return AnsibleModule(
            argument_spec=self.argument_spec,
            mutually_exclusive=self.mutually_exclusive,
            required_together=self.required_together,
            required_one_of=self.required_one_of,
            required_if=self.required_if,
            required_by=self.required_by,
            supports_check_mode=supports_check_mode,
        )


CONNECTION_OPTIONS = (
    "service",
    "api_version",
    "api_url",
    "subscription_id",
    "api_key",
    "client_id",
    "client_secret",
    "tenant_id",
    "token_url",
    "api_username",
    "api_password",
    "validate_certs",
    "ca_path",
    "timeout",
    "retries",
)
# The connection options only RCL SSL uses (ignored by the other services: an AWX credential may set them all).
RCL_ONLY = ("api_version", "subscription_id", "client_id", "client_secret", "tenant_id", "token_url")


def set_env_fallback(*names: str) -> str:
    """Like ``env_fallback``, but an empty variable counts as unset.

    AWX and Automation Controller inject every field of a credential, the empty ones as ``""``:
    ``RCL_API_VERSION=""`` must leave the default, not fail the choices check.
    """
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    raise AnsibleFallbackNotFound


def _env(name: str) -> tuple[t.Any, list[str]]:
    return (set_env_fallback, [name])


def connection_argspec() -> ArgumentSpec:
    """The connection options of doc fragment ``rcl.ssl.rcl``, with their ``RCL_*`` fallbacks.

    The choices of ``service`` and ``api_version`` come from the services and the API generations
    themselves; so do the credentials each one needs, checked by them before any request (a
    ``required_if`` on ``api_version`` would also demand RCL's credentials from the other services).
    """
    env = _env
    return ArgumentSpec(
        argument_spec=dict(
            service=dict(type="str", choices=list(SERVICE_NAMES), default=DEFAULT_SERVICE,
                         fallback=env("RCL_SERVICE")),
            api_version=dict(type="str", choices=sorted(GENERATIONS), default=DEFAULT_VERSION,
                             fallback=env("RCL_API_VERSION")),
            api_url=dict(type="str", fallback=env("RCL_API_URL")),
            subscription_id=dict(type="str", fallback=env("RCL_SUBSCRIPTION_ID")),
            api_key=dict(type="str", no_log=True, fallback=env("RCL_API_KEY")),
            client_id=dict(type="str", fallback=env("RCL_CLIENT_ID")),
            client_secret=dict(type="str", no_log=True, fallback=env("RCL_CLIENT_SECRET")),
            tenant_id=dict(type="str", fallback=env("RCL_TENANT_ID")),
            token_url=dict(type="str", no_log=False, fallback=env("RCL_TOKEN_URL")),
            api_username=dict(type="str", fallback=env("RCL_API_USERNAME")),
            api_password=dict(type="str", no_log=True, fallback=env("RCL_API_PASSWORD")),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path", fallback=env("RCL_CA_PATH")),
            timeout=dict(type="int", default=30),
            retries=dict(type="int", default=3),
        ),
    )


def service_argspec() -> dict[str, t.Any]:
    """The order options of the other services (doc fragment ``rcl.ssl.rcl.SERVICES``)."""
    return dict(
        acme_account_email=dict(type="str"),
        acme_server=dict(type="str"),
        certifire_provider=dict(type="str"),
        certifire_reissue=dict(type="bool"),
        product_code=dict(type="str"),
        # A plain dict, checked by the service: with sub-options ansible-core prints the credentials when a value
        # cannot be converted (ansible/ansible#81672).
        contacts=dict(type="dict"),
        approver_email=dict(type="str"),
        state_dir=dict(type="path", fallback=_env("RCL_STATE_DIR")),
        state_passphrase=dict(type="str", no_log=True, fallback=_env("RCL_STATE_PASSPHRASE")),
        key_type=dict(type="str", choices=["rsa2048", "rsa3072", "rsa4096", "ec256", "ec384"]),
    )


class RclModule:
    """One run of an rcl.ssl module: argument spec, dependencies, client, secret masking, failures."""

    def __init__(self, options: dict[str, t.Any], needs_cryptography: bool = False, needs_public_suffix_list: bool = False,
                 **constraints: t.Any) -> None:
        spec = dict(service_argspec())
        spec.update(options)
        self.module = connection_argspec().update(spec, **constraints).create_module()
        self.params: dict[str, t.Any] = self.module.params
        self._client: RclClient | None = None
        self._service_client: ServiceClient | None = None
        if self.service != DEFAULT_SERVICE:
            needs_cryptography = True  # the other services' material is PEM checked here (and Servertastic's key made here)
        self._require(_http.HAS_REQUESTS, "requests", _http.REQUESTS_MIN_VERSION, _http.REQUESTS_IMPORT_ERROR)
        if needs_public_suffix_list:
            self._require(_names.HAS_PUBLICSUFFIXLIST, "publicsuffixlist", _names.PUBLICSUFFIXLIST_MIN_VERSION,
                          _names.PUBLICSUFFIXLIST_IMPORT_ERROR)
        if needs_cryptography:
            self._require(_certificate.HAS_CRYPTOGRAPHY, "cryptography", _certificate.CRYPTOGRAPHY_MIN_VERSION,
                          _certificate.CRYPTOGRAPHY_IMPORT_ERROR)

    def _require(self, present: bool, library: str, version: str, error: str | None) -> None:
        if not present:
            self.module.fail_json(msg=missing_required_lib("%s >= %s" % (library, version)), exception=error)

    @property
    def check_mode(self) -> bool:
        return bool(self.module.check_mode)

    @property
    def diff(self) -> bool:
        return bool(self.module._diff)

    def mask(self, secret: str | None) -> None:
        """Mask ``secret`` wherever it would appear in this module's output from now on."""
        if secret:
            self.module.no_log_values.add(secret)

    @property
    def service(self) -> str:
        """``rcl`` (RCL SSL, by ``api_version``) or another ordering system."""
        return str(self.params.get("service") or DEFAULT_SERVICE)

    @property
    def service_options(self) -> dict[str, t.Any]:
        """The service order options (None where not given)."""
        return service_options(self.params)

    def check_no_service_options(self) -> None:
        """service=rcl takes none of the other services' order options (the state options are harmless)."""
        given = sorted(name for name, value in service_options(self.params).items()
                       if value not in (None, "", {}, []) and name not in ("state_dir", "state_passphrase"))
        if given:
            raise RclInputError("%s %s not used by service=rcl; set service to certifire or servertastic"
                                % (", ".join(given), "is" if len(given) == 1 else "are"))

    @property
    def service_client(self) -> ServiceClient:
        """The client of a service other than RCL SSL, built once; warns about insecure settings once."""
        if self._service_client is None:
            p = self.params
            conn = {name: p.get(name) for name in CONNECTION_OPTIONS if name not in RCL_ONLY + ("service",)}
            self._service_client = build_service(self.service, on_secret=self.mask, **conn)
            for warning in insecure_settings(p["api_url"], None, p["validate_certs"]):
                self.module.warn(warning)
        return self._service_client

    def warn_service(self) -> None:
        """Pass on what the service unit warned about (Certifire's COPY revokes the live certificate)."""
        if self._service_client is not None:
            for warning in self._service_client.warnings:
                self.module.warn(warning)

    @property
    def client(self) -> RclClient:
        """The API client, built once; warns about insecure settings once."""
        if self._client is None:
            p = self.params
            self.check_no_service_options()
            options = {name: p.get(name) for name in CONNECTION_OPTIONS
                       if name not in ("service", "api_username", "api_password")}
            self._client = build_client(on_secret=self.mask, **options)
            # After build_client: the URLs are valid by now.
            for warning in insecure_settings(p["api_url"], p["token_url"], p["validate_certs"]):
                self.module.warn(warning)
        return self._client

    def run(self, body: t.Callable[[RclModule], dict[str, t.Any]]) -> None:
        """Run the module's body; every failure, expected or not, becomes a clear message without a traceback."""
        failure: dict[str, t.Any]
        try:
            result = body(self)
        except RclError as exc:
            self.warn_service()
            failure = exc.to_result()
        except Exception as exc:  # pylint: disable=broad-exception-caught
            failure = dict(msg=terminal_safe("Unexpected error (%s): %s" % (type(exc).__name__, exc)))
        else:
            self.warn_service()
            self.module.exit_json(**result)
            return
        self.module.fail_json(**failure)


def certificate_result(cert: Certificate, now: t.Any = None, bundle: t.Any = None) -> dict[str, t.Any]:
    """The certificate metadata of a reply; with the PEM facts when the PKCS#12 (or ``bundle``) can be read here."""
    return certificate_facts(cert, bundle, now=now)


def order_result(order: Order, root_domain: str) -> dict[str, t.Any]:
    """The order part of a module result: URI, status, tokens and what to publish."""
    challenge_data, dns = RclClient.challenge_data(order, root_domain)
    return dict(
        order_uri=order.order_uri,
        order=order.to_result(),
        validation_tokens=[token.to_result() for token in order.tokens],
        challenge_data=challenge_data,
        challenge_data_dns=dns,
    )
