# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The obtain use case: the material of many certificates in two steps, with the fewest requests.

``order_step`` reads each certificate once (none with ``force``); a certificate that is not due
has its material written from that same reply; for one that is due an order is started and
what ``finish_step`` needs is returned with it - including what the read showed of the current
certificate (``previous``), so that finalizing does not read it again.

``finish_step`` finalizes each order under one deadline for the whole step and writes the
material from the finalize result when it carries the PKCS#12 (V7's reply does; V6 and V8 end
with a read that does), reading the certificate once only when it does not.

The material of a name goes to ``<material_dir>/<safe name>/`` (mode 0700): ``cert.pem``,
``chain.pem``, ``fullchain.pem``, ``privkey.pem``, ``cert.pfx`` (when asked) and ``facts.json``
(the leaf's public facts), each mode 0600. A name's directory is written complete under a
hidden temporary name and then renamed into place: it is either all there or not there.
Nothing here returns key material, passwords, download links or file paths.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import typing as t
from dataclasses import dataclass
from datetime import datetime, timezone

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate
from ansible_collections.rcl.ssl.plugins.module_utils._api.base import (
    Certificate,
    FinalizeRequest,
    OrderRequest,
)
from ansible_collections.rcl.ssl.plugins.module_utils._deploy import certificate_facts, pfx_content
from ansible_collections.rcl.ssl.plugins.module_utils._errors import (
    RclError,
    RclFileError,
    RclInputError,
    RclResponseError,
    RclTimeoutError,
)
from ansible_collections.rcl.ssl.plugins.module_utils._names import safe_dir_name, validate_certificate_name, wanted_names
from ansible_collections.rcl.ssl.plugins.module_utils._services import order_result as service_order_result
from ansible_collections.rcl.ssl.plugins.module_utils._time import parse_api_datetime

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.rcl.ssl.plugins.module_utils._api.service import ServiceRequest
    from ansible_collections.rcl.ssl.plugins.module_utils._client import RclClient
    from ansible_collections.rcl.ssl.plugins.module_utils._services import ServiceClient  # noqa: F811

__all__ = [
    "ENTRY_KEYS",
    "FACTS_FILE",
    "FACT_KEYS",
    "MATERIAL_FILES",
    "PFX_FILE",
    "PEM_FILES",
    "POLL_INTERVAL",
    "check_material_dir",
    "finish_step",
    "material_files",
    "order_step",
    "previous_result",
    "service_finish_step",
    "service_order_step",
    "write_material",
]

#: the keys an entry of ``certificates`` may have
ENTRY_KEYS = ("name", "root_domain", "challenge_type", "san", "pfx", "service")
#: kind of file (as rcl_cert_deploy names them) -> its name in a name's material directory
MATERIAL_FILES = {"certificate": "cert.pem", "chain": "chain.pem", "fullchain": "fullchain.pem",
                  "privatekey": "privkey.pem", "pfx": "cert.pfx"}
PEM_FILES = tuple(name for kind, name in MATERIAL_FILES.items() if kind != "pfx")
PFX_FILE = MATERIAL_FILES["pfx"]
FACTS_FILE = "facts.json"
#: what ``facts.json`` holds: the leaf's public facts, never a secret
FACT_KEYS = ("name", "serial", "sans", "not_before", "not_after", "fingerprint_sha256", "issuer", "subject")
#: the first interval of the polls while finalizing (it grows by half, up to 30 s)
POLL_INTERVAL = 2.0
_MAX_URI = 2000
# Stands in for the order URI that step order in check mode did not get (only checked, never sent).
_CHECK_MODE_ORDER = "https://check-mode.invalid/order/0/0"
_TRUE = ("true", "yes", "on", "1", "y")
_FALSE = ("false", "no", "off", "0", "n", "")


# ---------------------------------------------------------------------------
# Input checks (no request)


def _show(value: t.Any) -> str:
    return repr(str(value)[:80])


def _flag(value: t.Any, what: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise RclInputError("%s must be a boolean, not %s" % (what, _show(value)))


def _text(value: t.Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RclInputError("%s must be a string, not %s" % (what, type(value).__name__))
    return value


def check_material_dir(path: t.Any) -> str:
    """``material_dir``: an absolute path to an existing directory (a symlink to one is fine)."""
    if not isinstance(path, str) or not path or "\x00" in path or not os.path.isabs(path):
        raise RclInputError("material_dir must be an absolute path on the controller, not %s" % _show(path))
    if not os.path.isdir(path):
        raise RclFileError("material_dir %s is not an existing directory (it is not created)" % path, path=path)
    return path


@dataclass
class _Wanted:
    """One entry of ``certificates``, checked."""

    request: OrderRequest
    pfx: bool


@dataclass
class _Ordered:
    """One entry of ``orders`` that was ordered, checked."""

    request: FinalizeRequest
    pfx: bool
    #: check mode only: step ``order`` ran in check mode too and started no order (no ``order_uri``)
    predicted: bool = False


def _certificate_entries(client: RclClient, value: t.Any, email: str | None) -> list[_Wanted]:
    if not isinstance(value, list):
        raise RclInputError("certificates must be a list of dictionaries")
    wanted: list[_Wanted] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = "certificates[%d]" % index
        if not isinstance(entry, dict):
            raise RclInputError("%s must be a dictionary with the keys %s" % (where, ", ".join(ENTRY_KEYS)))
        unknown = sorted(str(key)[:40] for key in entry if key not in ENTRY_KEYS)
        if unknown:
            raise RclInputError("%s has unknown keys %s; allowed: %s"
                                % (where, ", ".join(unknown), ", ".join(ENTRY_KEYS)))
        if entry.get("name") is None:
            raise RclInputError("%s has no name" % where)
        if entry.get("service") not in (None, "", "rcl"):
            raise RclInputError("%s is for service=%s, and this run is for service=rcl" % (where, entry["service"]))
        try:
            req = client.order_request(entry["name"], _text(entry.get("root_domain"), "root_domain"),
                                       entry.get("challenge_type"), _flag(entry.get("san"), "san"), email)
            pfx = _flag(entry.get("pfx"), "pfx")
            safe_dir_name(req.certificate_name)
        except RclInputError as exc:
            raise RclInputError("%s: %s" % (where, exc.msg), **exc.details) from None
        if req.certificate_name in seen:
            raise RclInputError("%s: the name %s is listed twice; one entry per name"
                                % (where, req.certificate_name))
        seen.add(req.certificate_name)
        wanted.append(_Wanted(req, pfx))
    return wanted


def _precise(value: datetime | None) -> str | None:
    """An instant for ``previous``: ISO 8601 UTC to the microsecond (the API's dates are compared as they are)."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def previous_result(cert: Certificate | None, known: bool) -> dict[str, t.Any]:
    """What step ``finish`` needs of the certificate held before the order, to skip reading it again."""
    return dict(
        known=known,
        exists=(cert is not None) if known else None,
        order_uri=cert.order_uri if cert is not None else None,
        issue_date=_precise(cert.issue_date) if cert is not None else None,
    )


def _previous(value: t.Any, where: str, name: str) -> tuple[Certificate | None, bool]:
    """``previous`` of an ``orders`` entry as (certificate held before, known)."""
    if value is None:
        return None, False
    if not isinstance(value, dict):
        raise RclInputError("%s.previous must be a dictionary" % where)
    if not _flag(value.get("known"), "%s.previous.known" % where):
        return None, False
    if value.get("exists") is not None and not _flag(value.get("exists"), "%s.previous.exists" % where):
        return None, True
    order_uri = _text(value.get("order_uri"), "%s.previous.order_uri" % where)
    if order_uri is not None and (len(order_uri) > _MAX_URI or any(c.isspace() or ord(c) < 32 for c in order_uri)):
        raise RclInputError("%s.previous.order_uri is not a URL" % where)
    issue_date = None
    if value.get("issue_date") not in (None, ""):
        try:
            issue_date = parse_api_datetime(value["issue_date"])
        except RclError:
            raise RclInputError("%s.previous.issue_date %s is not an ISO 8601 instant"
                                % (where, _show(value["issue_date"]))) from None
    return Certificate(name=name, order_uri=order_uri, issue_date=issue_date), True


def _order_entries(client: RclClient, value: t.Any, email: str | None, pfx_password: str | None,
                   wait_timeout: t.Any, check_mode: bool = False) -> list[_Ordered]:
    if not isinstance(value, list):
        raise RclInputError("orders must be a list: the certificates returned by step=order")
    ordered: list[_Ordered] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = "orders[%d]" % index
        if not isinstance(entry, dict):
            raise RclInputError("%s must be a dictionary (an entry of the certificates returned by step=order)"
                                % where)
        if not _flag(entry.get("ordered"), "%s.ordered" % where):
            continue
        # In check mode step order starts no order: what finalizing it would do is predicted, nothing sent.
        predicted = check_mode and entry.get("order_uri") in (None, "")
        try:
            name = validate_certificate_name(entry.get("name"))
            previous, known = _previous(entry.get("previous"), where, name)
            req = client.finalize_request(
                name, _CHECK_MODE_ORDER if predicted else entry.get("order_uri"),
                root_domain=_text(entry.get("root_domain"), "root_domain"),
                challenge_type=entry.get("challenge_type"), email=email, pfx_password=pfx_password,
                wait_timeout=wait_timeout, previous=previous, previous_known=known)
            pfx = _flag(entry.get("pfx"), "%s.pfx" % where)
            safe_dir_name(name)
        except RclInputError as exc:
            raise RclInputError("%s: %s" % (where, exc.msg), **exc.details) from None
        if name in seen:
            raise RclInputError("%s: the name %s is listed twice; one order per name" % (where, name))
        seen.add(name)
        ordered.append(_Ordered(req, pfx, predicted))
    return ordered


# ---------------------------------------------------------------------------
# Material


def material_files(
    bundle: _certificate.CertificateBundle,
    service_pfx: bytes | None,
    service_password: str | None,
    name: str,
    want_pfx: bool,
    pfx_password: str | None,
) -> dict[str, bytes]:
    """The files of a name's material directory, by file name. Pure."""
    facts = _certificate.cert_metadata(bundle.leaf)
    facts["name"] = name
    files = {
        MATERIAL_FILES["certificate"]: bundle.cert_pem(),
        MATERIAL_FILES["chain"]: bundle.chain_pem(),
        MATERIAL_FILES["fullchain"]: bundle.fullchain_pem(),
        MATERIAL_FILES["privatekey"]: bundle.key_pem(),
        FACTS_FILE: (json.dumps({key: facts[key] for key in FACT_KEYS}, indent=2, sort_keys=True) + "\n").encode(),
    }
    if want_pfx:
        files[PFX_FILE] = pfx_content(bundle, service_pfx, service_password, pfx_password, None, name)
    return files


def _write_new(path: str, content: bytes) -> None:
    """A new file, mode 0600 from its creation on, never through a link."""
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_material(material_dir: str, name: str, files: t.Mapping[str, bytes]) -> None:
    """Write ``<material_dir>/<safe name>/`` (mode 0700) with ``files`` (each 0600), replacing an earlier one.

    The directory is filled under a hidden temporary name, then renamed into place.
    """
    safe = safe_dir_name(name)
    final = os.path.join(material_dir, safe)
    try:
        staging = tempfile.mkdtemp(prefix=".%s.rcl-" % safe, dir=material_dir)
    except OSError as exc:
        raise RclFileError("cannot create a directory in material_dir %s: %s"
                           % (material_dir, exc.strerror or exc), path=material_dir) from None
    old = None
    try:
        os.chmod(staging, 0o700)
        for file_name, content in files.items():
            _write_new(os.path.join(staging, file_name), content)
        _fsync_dir(staging)
        try:
            st = os.lstat(final)
        except FileNotFoundError:
            st = None
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                raise RclFileError("%s exists and is not a directory (a link or a file): it is left alone" % final,
                                   path=final)
            # An earlier run's material for this name: moved aside, replaced, removed.
            old = tempfile.mkdtemp(prefix=".%s.rcl-old-" % safe, dir=material_dir)
            os.rename(final, old)
        os.rename(staging, final)
        staging = ""
        _fsync_dir(material_dir)
    except OSError as exc:
        raise RclFileError("cannot write the material of %s to %s: %s" % (name, final, exc.strerror or exc),
                           path=final) from None
    finally:
        for leftover in (staging, old):
            if leftover:
                shutil.rmtree(leftover, ignore_errors=True)


def _material_of(client: RclClient, cert: Certificate, name: str, want_pfx: bool,
                 pfx_password: str | None) -> tuple[_certificate.CertificateBundle, dict[str, bytes]]:
    """The checked material of a certificate reply that carries its PKCS#12 (no request)."""
    pfx, password = client.fetch_pfx(cert, "pfx")
    bundle = _certificate.load_pkcs12(pfx, password)
    _certificate.check_bundle(bundle, name)
    return bundle, material_files(bundle, pfx, password, name, want_pfx, pfx_password)


def _failed(exc: RclError, name: str, client: RclClient | ServiceClient, **done: list[str]) -> RclError:
    """The error of one name, with what was done before it (names only) and the requests made."""
    exc.msg = "%s: %s" % (name, exc.msg)
    exc.details.setdefault("certificate_name", name)
    exc.details.update(done)
    exc.details["requests"] = client.request_count
    return exc


# ---------------------------------------------------------------------------
# The steps


def _uncovered(bundle: _certificate.CertificateBundle, req: OrderRequest) -> list[str]:
    """The names the entry wants that the leaf does not list (the host's check compares the same way)."""
    listed = {str(n).lower() for n in _certificate.cert_names(bundle.leaf)}
    return [n for n in wanted_names(req.certificate_name, req.challenge_type or "dns", req.san) if n not in listed]


def order_step(
    client: RclClient,
    certificates: t.Any,
    material_dir: t.Any,
    remaining_days: int = 30,
    force: bool = False,
    email: str | None = None,
    pfx_password: str | None = None,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """Step ``order``: per name one read (none with ``force``), then either the material from that reply or an
    order. Every entry is checked before the first request, and every name is read and decided before the first
    order, so a name that fails (a refused order, unusable material) never leaves orders of the others behind.
    A certificate that does not list every wanted name is due. In check mode only reads, nothing is written."""
    wanted = _certificate_entries(client, certificates, email)
    directory = check_material_dir(material_dir)
    results: list[dict[str, t.Any]] = []
    ordered: list[str] = []
    written: list[str] = []
    due: list[tuple[_Wanted, dict[str, t.Any], str]] = []
    materials: list[tuple[str, dict[str, bytes]]] = []
    for item in wanted:  # 1. read and decide: no order yet
        req = item.request
        name = req.certificate_name
        try:
            outcome = client.ensure_order(req, remaining_days, force, check_mode=True)
            cert = outcome.certificate
            result: dict[str, t.Any] = dict(
                name=name, ordered=outcome.changed, reason=outcome.reason, material=False, pfx=item.pfx,
                order_uri=None, root_domain=outcome.root_domain or None, challenge_type=req.challenge_type,
                challenge_data=[], challenge_data_dns={}, previous=None, certificate=None,
            )
            if not outcome.changed:
                if cert is None:  # not due means read and valid
                    raise RclResponseError("No certificate to take the material from", certificate_name=name)
                bundle, files = _material_of(client, cert, name, item.pfx, pfx_password)
                result["certificate"] = certificate_facts(cert, bundle)
                missing = _uncovered(bundle, req)
                if missing:
                    result.update(ordered=True, reason="the service's certificate does not cover %s"
                                  % ", ".join(missing))
                else:
                    materials.append((name, files))
                    result["material"] = True
            elif cert is not None:
                result["certificate"] = certificate_facts(cert)
            if result["ordered"]:
                result["previous"] = previous_result(cert, known=not force)
                due.append((item, result, outcome.root_domain))
        except RclError as exc:
            raise _failed(exc, name, client, ordered=ordered, material_written=written) from None
        results.append(result)
    for name, files in materials:  # 2. the material of the names that are good
        if not check_mode:
            write_material(directory, name, files)
            written.append(name)
    for item, result, root in due:  # 3. the orders
        if check_mode:
            continue
        name = item.request.certificate_name
        try:
            order = client.create_order(item.request)
        except RclError as exc:
            raise _failed(exc, name, client, ordered=ordered, material_written=written) from None
        ordered.append(name)
        data, dns = client.challenge_data(order, root)
        result.update(order_uri=order.order_uri, challenge_data=data, challenge_data_dns=dns)
    return dict(changed=any(r["ordered"] for r in results), certificates=results, requests=client.request_count)


def finish_step(
    client: RclClient,
    orders: t.Any,
    material_dir: t.Any,
    email: str | None = None,
    pfx_password: str | None = None,
    wait_timeout: t.Any = 300,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """Step ``finish``: finalize each order of step ``order`` (all under one ``wait_timeout``) and write its
    material from the result, reading the certificate only when the result carries no PKCS#12."""
    entries = _order_entries(client, orders, email, pfx_password, wait_timeout, check_mode)
    directory = check_material_dir(material_dir)
    results: list[dict[str, t.Any]] = []
    written: list[str] = []
    waiter = client.waiter(wait_timeout, POLL_INTERVAL)
    for item in entries:
        req = item.request
        name = req.certificate_name
        if item.predicted:
            results.append(dict(name=name, changed=True, status="pending", material=False, certificate=None))
            continue
        try:
            outcome = client.finalize(req, wait=True, check_mode=check_mode, waiter=waiter)
            result: dict[str, t.Any] = dict(name=name, changed=outcome.changed, status=outcome.status, material=False,
                                            certificate=None)
            if outcome.status == "valid":
                cert = outcome.certificate
                if cert is None or not cert.pfx:
                    cert = client.get_certificate(name)
                if cert is None:
                    raise RclResponseError("The order is valid but the subscription has no certificate %s" % name,
                                           certificate_name=name)
                bundle, files = _material_of(client, cert, name, item.pfx, pfx_password)
                _take(result, certificate_facts(cert, bundle), directory, name, files, check_mode, written)
        except RclError as exc:
            raise _failed(exc, name, client, material_written=written) from None
        results.append(result)
    return dict(changed=any(r["changed"] for r in results), certificates=results, requests=client.request_count)


def _take(result: dict[str, t.Any], facts: dict[str, t.Any], directory: str, name: str, files: dict[str, bytes],
          check_mode: bool, written: list[str]) -> None:
    """A finished name's material into its directory (not in check mode), and into its result."""
    result["certificate"] = facts
    if not check_mode:
        write_material(directory, name, files)
        written.append(name)
    result["material"] = True


# ---------------------------------------------------------------------------
# The other ordering systems (service other than rcl): the same two steps on a service unit

#: the keys an entry of ``certificates`` may have with another service (root_domain only names the DNS zone)
SERVICE_ENTRY_KEYS = ("name", "root_domain", "challenge_type", "san", "pfx", "service", "product_code",
                      "approver_email")
#: the entry keys that override the run's order options for that name
_ENTRY_OPTIONS = ("product_code", "approver_email")


def _service_entries(client: ServiceClient, value: t.Any, options: t.Mapping[str, t.Any],
                     ordering: bool) -> list[tuple[ServiceRequest, bool, dict[str, t.Any]]]:
    if not isinstance(value, list):
        raise RclInputError("certificates must be a list of dictionaries")
    entries: list[tuple[ServiceRequest, bool, dict[str, t.Any]]] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = "%s[%d]" % ("certificates" if ordering else "orders", index)
        if not isinstance(entry, dict):
            raise RclInputError("%s must be a dictionary" % where)
        if ordering:
            unknown = sorted(str(key)[:40] for key in entry if key not in SERVICE_ENTRY_KEYS)
            if unknown:
                raise RclInputError("%s has unknown keys %s; allowed: %s"
                                    % (where, ", ".join(unknown), ", ".join(SERVICE_ENTRY_KEYS)))
        elif not _flag(entry.get("ordered"), "%s.ordered" % where):
            continue
        if entry.get("service") not in (None, "", client.service):
            raise RclInputError("%s is for service=%s, and this run is for service=%s"
                                % (where, entry["service"], client.service))
        try:
            if _flag(entry.get("san"), "san") if ordering else False:
                raise RclInputError("san is RCL SSL's (apex + www. or *.); service=%s orders the name itself"
                                    % client.service)
            ctype = entry.get("challenge_type")
            if client.unit.challenge_types == ():
                ctype = None  # the service validates by itself; the role's default challenge type is not for it
            own = dict(options)
            own.update({key: entry[key] for key in _ENTRY_OPTIONS if ordering and entry.get(key) not in (None, "")})
            req = client.request(entry.get("name"), ctype, own, ordering=ordering)
            pfx = _flag(entry.get("pfx"), "%s.pfx" % where)
            safe_dir_name(req.certificate_name)
        except RclInputError as exc:
            raise RclInputError("%s: %s" % (where, exc.msg), **exc.details) from None
        if req.certificate_name in seen:
            raise RclInputError("%s: the name %s is listed twice; one entry per name" % (where, req.certificate_name))
        seen.add(req.certificate_name)
        entries.append((req, pfx, entry))
    return entries


def _service_material(bundle: _certificate.CertificateBundle, name: str, want_pfx: bool,
                      pfx_password: str | None) -> dict[str, bytes]:
    _certificate.check_bundle(bundle, name)
    return material_files(bundle, None, None, name, want_pfx, pfx_password)


def service_order_step(
    client: ServiceClient,
    certificates: t.Any,
    material_dir: t.Any,
    options: t.Mapping[str, t.Any],
    remaining_days: int = 30,
    force: bool = False,
    pfx_password: str | None = None,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """Step ``order`` with another service: per name the service's view (an unfinished order is resumed), then
    the material of what is good or an order of what is due; every entry checked before the first request."""
    entries = _service_entries(client, certificates, options, ordering=True)
    directory = check_material_dir(material_dir)
    results: list[dict[str, t.Any]] = []
    ordered: list[str] = []
    written: list[str] = []
    due_list: list[tuple[ServiceRequest, dict[str, t.Any], Certificate | None, bool]] = []
    materials: list[tuple[str, dict[str, bytes]]] = []
    for req, pfx, entry in entries:
        name = req.certificate_name
        try:
            order_now, due, reason, cert = client.decide(req, remaining_days, force)
            result: dict[str, t.Any] = dict(
                name=name, service=client.service, ordered=order_now, reason=reason, material=False, pfx=pfx,
                order_uri=None, root_domain=_text(entry.get("root_domain"), "root_domain"),
                challenge_type=req.challenge_type, challenge_data=[], challenge_data_dns={}, previous=None,
                certificate=cert.metadata() if cert is not None else None, resumed=False,
            )
            if not order_now:
                cert, bundle = client.material(req)
                materials.append((name, _service_material(bundle, name, pfx, pfx_password)))
                result.update(material=True, certificate=certificate_facts(cert, bundle))
            else:
                due_list.append((req, result, cert, due))
        except RclError as exc:
            raise _failed(exc, name, client, ordered=ordered, material_written=written) from None
        results.append(result)
    for name, files in materials:
        if not check_mode:
            write_material(directory, name, files)
            written.append(name)
    for req, result, cert, due in due_list:
        if check_mode:
            continue
        try:
            order = client.start(req, cert, force, due)
        except RclError as exc:
            raise _failed(exc, req.certificate_name, client, ordered=ordered, material_written=written) from None
        ordered.append(req.certificate_name)
        result.update(service_order_result(order))
    return dict(changed=any(r["ordered"] for r in results), certificates=results, requests=client.request_count)


def service_finish_step(
    client: ServiceClient,
    orders: t.Any,
    material_dir: t.Any,
    options: t.Mapping[str, t.Any],
    pfx_password: str | None = None,
    wait_timeout: t.Any = 300,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """Step ``finish`` with another service: wait (one deadline for the step) for each order's certificate and
    write its material.

    An order that is not issued when the deadline comes (an e-mail approval, a CA's moderation) does not stop the
    others: it is reported in ``pending`` (and warned about) with ``status`` as the service says, its name gets no
    material, and the next run resumes it (Servertastic) or posts it again (Certifire)."""
    client.unit.check_wait_timeout(wait_timeout)
    entries = _service_entries(client, orders, options, ordering=False)
    directory = check_material_dir(material_dir)
    results: list[dict[str, t.Any]] = []
    written: list[str] = []
    waiter = client.waiter(float(wait_timeout), POLL_INTERVAL)
    pending: list[str] = []
    for req, pfx, entry in entries:
        name = req.certificate_name
        order_uri = entry.get("order_uri")
        if check_mode and not order_uri:
            results.append(dict(name=name, changed=True, status="pending", material=False, certificate=None))
            continue
        try:
            try:
                done = client.finalize(_text(order_uri, "order_uri") or "", req, True, float(wait_timeout),
                                       check_mode, waiter=waiter)
            except RclTimeoutError as exc:
                client.unit.warnings.append("%s: %s" % (name, exc.msg))
                pending.append(name)
                status = str(exc.details.get("service_status") or "pending")
                results.append(dict(name=name, changed=False, status=status, material=False, certificate=None,
                                    msg=exc.msg))
                continue
            result: dict[str, t.Any] = dict(name=name, changed=done.changed, status=done.order.status,
                                            material=False, certificate=None)
            if done.bundle is not None and done.certificate is not None:
                files = _service_material(done.bundle, name, pfx, pfx_password)
                _take(result, certificate_facts(done.certificate, done.bundle), directory, name, files, check_mode,
                      written)
        except RclError as exc:
            raise _failed(exc, name, client, material_written=written) from None
        results.append(result)
    return dict(changed=any(r["changed"] for r in results), certificates=results, requests=client.request_count,
                pending=pending)
