# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The fetch-and-deploy use case: from a certificate reply to the files, all-or-nothing.

``check_targets`` checks every destination (directories, owner, group, modes) before any
request; ``deploy_certificate`` reads the certificate, checks the material and hands the
files to ``_files``, which writes them as one set.
"""

from __future__ import annotations

import functools
import os
import stat
import typing as t
from dataclasses import dataclass, field

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclCertificateError, RclFileError, RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._files import (
    FileSpec,
    apply_files,
    read_file,
    resolve_group,
    resolve_mode,
    resolve_owner,
)

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.rcl.ssl.plugins.module_utils._client import RclClient

__all__ = ["PATH_OPTIONS", "Targets", "check_targets", "deploy_bundle", "deploy_certificate"]

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
    follow: bool = False

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any]) -> Targets:
        names = PATH_OPTIONS + ("pfx_password", "owner", "group", "mode", "privatekey_mode", "backup", "follow")
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
    service_pfx: bytes | None,
    service_password: str | None,
    wanted_password: str | None,
    existing: bytes | None,
    friendly_name: str,
) -> bytes:
    """The PFX to write: the existing file when it already holds this material under the wanted password,
    else the service's PKCS#12 as it is, or one re-encrypted with ``wanted_password``. A service that makes
    no PKCS#12 (``service_pfx`` None) gets one made here, under ``wanted_password``."""
    password = wanted_password if wanted_password is not None else service_password
    if existing is not None:
        try:
            if same_material(_certificate.load_pkcs12(existing, password), bundle):
                return existing
        except RclCertificateError:
            pass  # unreadable or another password: replace it
    if wanted_password is None and service_pfx is not None:
        return service_pfx
    return _certificate.make_pkcs12(bundle, wanted_password, friendly_name)


def file_specs(
    bundle: _certificate.CertificateBundle,
    service_pfx: bytes | None,
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
                              read_file(targets.pfx_path, follow=targets.follow), friendly_name)
        specs.append(spec(targets.pfx_path, content, targets.privatekey_mode))
    return specs


def deployed_metadata(targets: Targets, now: t.Any = None) -> dict[str, t.Any] | None:
    """Metadata of the leaf currently at ``certificate_path`` (or ``fullchain_path``), for diff mode."""
    for path in (targets.certificate_path, targets.fullchain_path):
        if not path:
            continue
        try:
            data = read_file(path, follow=targets.follow)
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


def check_targets(targets: Targets, return_content: bool) -> None:
    """Everything about the destinations that can be checked without the material. Sends nothing."""
    paths = targets.paths()
    if not paths and not return_content:
        raise RclInputError("Nothing to do: set at least one of %s, or return_content" % ", ".join(PATH_OPTIONS))
    checks: list[tuple[str, t.Callable[[], t.Any]]] = [
        ("owner", lambda: resolve_owner(targets.owner)),
        ("group", lambda: resolve_group(targets.group)),
        ("mode", lambda: resolve_mode(targets.mode, 0o600)),
        ("privatekey_mode", lambda: resolve_mode(targets.privatekey_mode, 0o600)),
    ]
    for option in PATH_OPTIONS:
        path = getattr(targets, option)
        if path:
            checks.append((option, functools.partial(_check_destination, path, targets.follow)))
    for option, check in checks:
        try:
            check()
        except (RclInputError, RclFileError) as exc:
            raise type(exc)("%s: %s" % (option, exc.msg), option=option) from None


def _check_destination(path: str, follow: bool) -> None:
    if "\x00" in path or not os.path.isabs(path):
        raise RclInputError("%r is not an absolute path" % path[:200])
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise RclFileError("the directory %s of %s does not exist (it is not created)" % (directory, path))
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        if follow and os.path.islink(path):
            raise RclFileError("%s is a dangling symlink (follow is set)" % path) from None
        return
    except OSError as exc:
        raise RclFileError("cannot inspect %s: %s" % (path, exc.strerror or exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise RclFileError("%s is a directory" % path)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise RclFileError("%s is not a regular file" % path)


def deploy_certificate(
    client: RclClient,
    certificate_name: str,
    targets: Targets,
    source: str,
    check_mode: bool,
    diff: bool,
    return_content: bool = False,
    return_private_key: bool = False,
) -> dict[str, t.Any]:
    """Read the certificate, check its material, write the files as one set; the module's result."""
    from ansible_collections.rcl.ssl.plugins.module_utils._names import validate_certificate_name

    name = validate_certificate_name(certificate_name)
    check_targets(targets, return_content)
    cert = client.get_certificate(name)
    if cert is None:
        raise RclInputError("The subscription has no certificate named %s" % name)
    pfx, password = client.fetch_pfx(cert, source=source)
    bundle = _certificate.load_pkcs12(pfx, password)
    _certificate.check_bundle(bundle, name)
    return deploy_bundle(cert, bundle, pfx, password, name, targets, check_mode, diff, return_content,
                         return_private_key)


def deploy_bundle(
    cert: t.Any,
    bundle: _certificate.CertificateBundle,
    pfx: bytes | None,
    password: str | None,
    name: str,
    targets: Targets,
    check_mode: bool,
    diff: bool,
    return_content: bool = False,
    return_private_key: bool = False,
) -> dict[str, t.Any]:
    """Write checked material as one set of files; the module's result."""
    before = deployed_metadata(targets)
    outcome = apply_files(file_specs(bundle, pfx, password, targets, name), check_mode=check_mode,
                          follow=targets.follow)
    result: dict[str, t.Any] = dict(
        changed=any(item.changed for item in outcome),
        certificate=certificate_facts(cert, bundle),
        files=[dict(path=item.path, changed=item.changed, backup_file=item.backup_file) for item in outcome],
        backup_files=[item.backup_file for item in outcome if item.backup_file],
    )
    if result["changed"] and diff:
        result["diff"] = dict(before=diff_view(before), after=diff_view(_certificate.cert_metadata(bundle.leaf)))
    if return_content:
        result["content"] = dict(certificate=bundle.cert_pem().decode(), chain=bundle.chain_pem().decode(),
                                 fullchain=bundle.fullchain_pem().decode())
        if return_private_key:
            result["content"]["private_key"] = bundle.key_pem().decode()
    return result


def certificate_facts(cert: t.Any, bundle: _certificate.CertificateBundle | None = None, now: t.Any = None) -> dict[str, t.Any]:
    """A reply's metadata plus, when the PKCS#12 is at hand, the leaf's facts (never key material)."""
    result: dict[str, t.Any] = cert.metadata(now)
    if bundle is None:
        if not cert.pfx or not _certificate.HAS_CRYPTOGRAPHY:
            return result
        try:
            bundle = _certificate.load_pkcs12(cert.pfx, cert.pfx_password)
        except RclCertificateError:
            return result
    pem = _certificate.cert_metadata(bundle.leaf, now)
    for key in ("serial", "sans", "issuer", "subject", "not_before", "not_after", "fingerprint_sha256"):
        result[key] = pem[key]
    return result
