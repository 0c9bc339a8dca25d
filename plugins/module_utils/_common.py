# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the modules share: argument specs, dependency checks, client set-up, failures.

This is the only util that knows about ``AnsibleModule``; everything below it takes
plain values.
"""

from __future__ import annotations

import typing as t

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclCertificateError, RclError

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.rcl.ssl.plugins.module_utils._api.base import Certificate
    from ansible_collections.rcl.ssl.plugins.module_utils._client import RclClient


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
    "api_version",
    "api_url",
    "subscription_id",
    "api_key",
    "client_id",
    "client_secret",
    "tenant_id",
    "token_url",
    "validate_certs",
    "ca_path",
    "timeout",
    "retries",
)


def connection_argspec() -> ArgumentSpec:
    """The connection options of doc fragment ``rcl.ssl.rcl``, with their ``RCL_*`` fallbacks."""

    def env(name: str) -> tuple[t.Any, list[str]]:
        return (env_fallback, [name])

    return ArgumentSpec(
        argument_spec=dict(
            api_version=dict(type="str", choices=["v6", "v7", "v8"], default="v7", fallback=env("RCL_API_VERSION")),
            api_url=dict(type="str", fallback=env("RCL_API_URL")),
            subscription_id=dict(type="str", required=True, fallback=env("RCL_SUBSCRIPTION_ID")),
            api_key=dict(type="str", no_log=True, fallback=env("RCL_API_KEY")),
            client_id=dict(type="str", fallback=env("RCL_CLIENT_ID")),
            client_secret=dict(type="str", no_log=True, fallback=env("RCL_CLIENT_SECRET")),
            tenant_id=dict(type="str", fallback=env("RCL_TENANT_ID")),
            token_url=dict(type="str", no_log=False, fallback=env("RCL_TOKEN_URL")),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path", fallback=env("RCL_CA_PATH")),
            timeout=dict(type="int", default=30),
            retries=dict(type="int", default=3),
        ),
    )


def check_requests(module: AnsibleModule) -> None:
    from ansible_collections.rcl.ssl.plugins.module_utils import _http

    if not _http.HAS_REQUESTS:
        module.fail_json(
            msg=missing_required_lib("requests >= %s" % _http.REQUESTS_MIN_VERSION),
            exception=_http.REQUESTS_IMPORT_ERROR,
        )


def check_cryptography(module: AnsibleModule) -> None:
    from ansible_collections.rcl.ssl.plugins.module_utils import _certificate

    if not _certificate.HAS_CRYPTOGRAPHY:
        module.fail_json(
            msg=missing_required_lib("cryptography >= %s" % _certificate.CRYPTOGRAPHY_MIN_VERSION),
            exception=_certificate.CRYPTOGRAPHY_IMPORT_ERROR,
        )


def client_from_params(params: t.Mapping[str, t.Any]) -> RclClient:
    """Build the API client from the connection options. Validates them; sends nothing."""
    from ansible_collections.rcl.ssl.plugins.module_utils._client import build_client

    return build_client(**{name: params.get(name) for name in CONNECTION_OPTIONS})


def protect_certificate(module: AnsibleModule, cert: Certificate | None) -> None:
    """Register the secrets of a certificate reply so Ansible masks them wherever they appear."""
    if cert is None:
        return
    secrets = [cert.pfx_password] + list((cert.download_urls or {}).values())
    for secret in secrets:
        if secret:
            module.no_log_values.add(secret)


def certificate_result(cert: Certificate, now: t.Any = None) -> dict[str, t.Any]:
    """The certificate metadata of a reply; with the PEM facts when the PKCS#12 can be read here."""
    result = cert.metadata(now)
    if not cert.pfx:
        return result
    from ansible_collections.rcl.ssl.plugins.module_utils import _certificate

    if not _certificate.HAS_CRYPTOGRAPHY:
        return result
    try:
        bundle = _certificate.load_pkcs12(cert.pfx, cert.pfx_password)
    except RclCertificateError:
        return result
    pem = _certificate.cert_metadata(bundle.leaf, now)
    for key in ("serial", "sans", "issuer", "subject", "not_before", "not_after", "fingerprint_sha256"):
        result[key] = pem[key]
    return result


def fail(module: AnsibleModule, exc: RclError, **extra: t.Any) -> t.NoReturn:
    """Turn an rcl.ssl error into ``fail_json`` with its details flat in the result."""
    result = exc.to_result()
    result.update(extra)
    module.fail_json(**result)
    raise SystemExit(1)  # not reached: fail_json exits; tells type checkers so


def challenge_result(flat: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Per identifier, the community.crypto shape: ``{identifier, identifier_type, challenges: {type: {...}}}``."""
    entries: list[dict[str, t.Any]] = []
    for item in flat:
        challenge = {key: item[key] for key in ("record", "resource", "resource_value") if item.get(key) is not None}
        entries.append(dict(
            identifier=item.get("identifier"),
            identifier_type="dns",
            challenges={item["type"]: challenge},
        ))
    return entries


def order_result(client: RclClient, order: t.Any, root_domain: str | None) -> dict[str, t.Any]:
    """The order part of a module result: URI, status, tokens and what to publish."""
    flat, dns = client.challenge_data(order, root_domain)
    return dict(
        order_uri=order.order_uri,
        order=order.to_result(),
        validation_tokens=[token.to_result() for token in order.tokens],
        challenge_data=challenge_result(flat),
        challenge_data_dns=dns,
    )
