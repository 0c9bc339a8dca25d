# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""From a certificate reply to the files to write: which bytes go to which path.

Plain values in, ``FileSpec`` out; the writing itself is ``_files``' job.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclCertificateError, RclFileError, RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._files import FileSpec, read_file

PATH_OPTIONS = ("certificate_path", "chain_path", "fullchain_path", "privatekey_path", "pfx_path")


@dataclass
class Targets:
    """Where the material goes, and with which attributes."""

    certificate_path: str | None = None
    chain_path: str | None = None
    fullchain_path: str | None = None
    privatekey_path: str | None = None
    pfx_path: str | None = None
    pfx_password: str | None = field(default=None, repr=False)
    owner: str | None = None
    group: str | None = None
    mode: t.Any = "0644"
    privatekey_mode: t.Any = "0600"
    backup: bool = False

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> Targets:
        names = PATH_OPTIONS + ("pfx_password", "owner", "group", "mode", "privatekey_mode", "backup")
        return cls(**{name: params[name] for name in names if name in params})

    def paths(self) -> list[str]:
        found = [getattr(self, name) for name in PATH_OPTIONS if getattr(self, name)]
        if len(set(found)) != len(found):
            raise RclInputError("certificate_path, chain_path, fullchain_path, privatekey_path and pfx_path "
                                "must name different files")
        return found


def same_material(a: _certificate.CertificateBundle, b: _certificate.CertificateBundle) -> bool:
    """Same key, same leaf, same chain (the bytes of a PKCS#12 differ with every encryption)."""
    return (
        a.key is not None
        and _certificate.key_matches(a.key, b.leaf)
        and a.cert_pem() == b.cert_pem()
        and a.chain_pem() == b.chain_pem()
    )


def pfx_content(
    bundle: _certificate.CertificateBundle,
    service_pfx: bytes,
    service_password: str | None,
    wanted_password: str | None,
    existing: bytes | None,
    friendly_name: str,
) -> bytes:
    """The PFX to write: the existing file when it already holds this material under the wanted password,
    else the service's PKCS#12 as it is, or one re-encrypted with ``wanted_password``."""
    password = wanted_password if wanted_password is not None else service_password
    if existing is not None:
        try:
            if same_material(_certificate.load_pkcs12(existing, password), bundle):
                return existing
        except RclCertificateError:
            pass  # unreadable or another password: replace it
    if wanted_password is None:
        return service_pfx
    return _certificate.make_pkcs12(bundle, wanted_password, friendly_name)


def file_specs(
    bundle: _certificate.CertificateBundle,
    service_pfx: bytes,
    service_password: str | None,
    targets: Targets,
    friendly_name: str,
) -> list[FileSpec]:
    """One ``FileSpec`` per requested path."""
    def spec(path: str, content: bytes, mode: t.Any) -> FileSpec:
        return FileSpec(path=path, content=content, mode=mode, owner=targets.owner, group=targets.group,
                        backup=targets.backup)

    specs = []
    for path, content in (
        (targets.certificate_path, bundle.cert_pem()),
        (targets.chain_path, bundle.chain_pem()),
        (targets.fullchain_path, bundle.fullchain_pem()),
    ):
        if path:
            specs.append(spec(path, content, targets.mode))
    if targets.privatekey_path:
        specs.append(spec(targets.privatekey_path, bundle.key_pem(), targets.privatekey_mode))
    if targets.pfx_path:
        content = pfx_content(bundle, service_pfx, service_password, targets.pfx_password,
                              read_file(targets.pfx_path), friendly_name)
        specs.append(spec(targets.pfx_path, content, targets.privatekey_mode))
    return specs


def deployed_metadata(targets: Targets, now: t.Any = None) -> dict[str, t.Any] | None:
    """Metadata of the leaf currently at ``certificate_path`` (or ``fullchain_path``), for diff mode."""
    for path in (targets.certificate_path, targets.fullchain_path):
        if not path:
            continue
        try:
            data = read_file(path)
        except RclFileError:
            return None
        if not data:
            return None
        try:
            certs = _certificate.load_certificates_pem(data)
        except Exception:  # pylint: disable=broad-except  # anything unreadable is simply "not a certificate"
            return None
        return _certificate.cert_metadata(certs[0], now) if certs else None
    return None


DIFF_KEYS = ("subject", "sans", "serial", "issuer", "not_before", "not_after")


def diff_view(metadata: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """The part of the metadata shown in diff mode (never key material)."""
    if not metadata:
        return {}
    return {key: metadata[key] for key in DIFF_KEYS if key in metadata}
