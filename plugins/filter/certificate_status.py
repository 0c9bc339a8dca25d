# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: certificate_status
short_description: Tell whether the certificate files deployed on a host need work, and why
version_added: 0.1.0
author:
  - rcl.ssl contributors
description:
  - Takes the certificate entries normalized by P(rcl.ssl.certificate_spec#filter) and the results of
    M(ansible.builtin.slurp) run on a host over their files, and answers for every certificate whether it
    needs work and why.
  - A certificate needs work when a file is missing, unreadable or empty (an empty chain file is fine), a PEM
    file cannot be parsed, the full chain is not the certificate followed by the chain, the private key does not belong to the certificate, the
    chain is out of order, the certificate does not cover every wanted name, is not valid now, expires within
    O(remaining_days), or O(force=true).
  - Runs on the controller with the collection's certificate helpers (C(cryptography)). Makes no request.
    Never returns key material.
  - The role C(rcl.ssl.rcl_certificate) no longer uses it - it checks each host with M(rcl.ssl.rcl_cert_deploy),
    whose key never leaves the host. This filter remains for playbooks that read files with
    M(ansible.builtin.slurp) themselves.
options:
  _input:
    description: The normalized certificate entries (output of P(rcl.ssl.certificate_spec#filter)).
    type: list
    elements: dict
    required: true
  slurped:
    description:
      - The registered result of M(ansible.builtin.slurp) looping over the entries' C(files)
        (the whole result, or its C(results) list). Each result carries its loop item (the file).
      - Failed reads (with C(failed_when=false)) count as missing or unreadable files.
    type: raw
    required: true
  remaining_days:
    description: A certificate that expires within this many days needs work.
    type: int
    default: 30
  force:
    description: Every certificate needs work.
    type: bool
    default: false
requirements:
  - cryptography >= 3.3 (on the controller)
seealso:
  - plugin: rcl.ssl.certificate_spec
    plugin_type: filter
  - module: rcl.ssl.rcl_order
"""

EXAMPLES = r"""
---
- name: Read the deployed files
  ansible.builtin.slurp:
    src: "{{ item.path }}"
  loop: "{{ specs | map(attribute='files') | flatten }}"
  register: slurped
  failed_when: false
  no_log: "{{ item.secret }}"

- name: Decide
  ansible.builtin.set_fact:
    status: "{{ specs | rcl.ssl.certificate_status(slurped, remaining_days=30) }}"

- name: Show what needs work
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.reasons | join('; ') }}"
  loop: "{{ status | selectattr('needs_work') }}"
"""

RETURN = r"""
_value:
  description: The input entries, each with these keys added.
  type: list
  elements: dict
  contains:
    needs_work:
      description: Whether the certificate must be (re)deployed.
      type: bool
    reasons:
      description:
        - Why the certificate needs work, one sentence per finding; empty when nothing is to do.
        - V(forced) comes first with O(force=true).
      type: list
      elements: str
      sample: ["expires in 12 days (threshold 30)"]
    deployed:
      description:
        - Facts about the deployed certificate, when every file could be read and the set passed the checks of
          parsing, key, chain order and validity; V(null) otherwise.
      type: dict
      contains:
        subject:
          description: Subject, RFC 4514.
          type: str
          sample: CN=www.example.com
        issuer:
          description: Issuer, RFC 4514.
          type: str
        serial:
          description: Serial number in colon hex.
          type: str
          sample: "03:A1"
        sans:
          description: Subject alternative names.
          type: list
          elements: str
        not_before:
          description: Start of validity, ISO 8601 UTC (C(YYYY-MM-DDTHH:MM:SSZ)).
          type: str
        not_after:
          description: End of validity, ISO 8601 UTC (C(YYYY-MM-DDTHH:MM:SSZ)).
          type: str
          sample: "2027-03-01T10:00:00Z"
        days_remaining:
          description: Whole days until expiry.
          type: int
        fingerprint_sha256:
          description: SHA-256 fingerprint of the certificate (DER), colon hex.
          type: str
"""

import base64
import datetime
import os.path
import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.rcl.ssl.plugins.module_utils import _certificate
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclCertificateError, RclError, RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._names import validate_certificate_name, wanted_names

_MISSING = object()


def _contents(slurped: t.Any) -> dict[str, t.Any]:
    """path -> bytes, or an error message string."""
    results = slurped.get("results", []) if isinstance(slurped, dict) else slurped
    if not isinstance(results, (list, tuple)):
        raise AnsibleFilterError("certificate_status: slurped must be a registered slurp loop result")
    found: dict[str, t.Any] = {}
    for result in results:
        if not isinstance(result, dict):
            continue
        item = result.get("item")
        path = item.get("path") if isinstance(item, dict) else item
        if not path:
            continue
        path = os.path.normpath(str(path))
        if "content" in result and not result.get("failed"):
            try:
                found[path] = base64.b64decode(result["content"])
            except (ValueError, TypeError):
                found[path] = "unreadable content"
        elif result.get("skipped"):
            found[path] = "not read"
        else:
            message = str(result.get("msg") or "unreadable")
            found[path] = "missing" if "not found" in message else message
    return found


def _wanted(spec: t.Any) -> tuple[str, list[str]]:
    """The entry's name and wanted names, by the collection's name rules."""
    if not isinstance(spec, dict):
        raise AnsibleFilterError("certificate_status: the input must be the list made by rcl.ssl.certificate_spec")
    try:
        name = validate_certificate_name(spec.get("name"))
        wanted = spec.get("wanted_names") or wanted_names(name, spec.get("challenge_type") or "dns",
                                                          bool(spec.get("san")))
        if isinstance(wanted, str):
            wanted = [wanted]
        return name, [validate_certificate_name(item) for item in wanted]
    except RclInputError as exc:
        raise AnsibleFilterError("certificate_status: %s" % exc.msg) from None


def _check(spec: dict[str, t.Any], contents: dict[str, t.Any], remaining_days: int,
           now: datetime.datetime | None) -> tuple[list[str], dict[str, t.Any] | None]:
    name, wanted = _wanted(spec)
    reasons: list[str] = []
    data: dict[str, bytes] = {}
    for item in spec.get("files") or []:
        value = contents.get(os.path.normpath(str(item["path"])), _MISSING)
        if value is _MISSING:
            reasons.append("%s: not read" % item["path"])
        elif isinstance(value, bytes):
            if not value.strip() and item["kind"] != "chain":  # a certificate without intermediates has an empty chain
                reasons.append("%s: empty" % item["path"])
            elif value.strip():
                data[item["kind"]] = value
        else:
            reasons.append("%s: %s" % (item["path"], value))
    if reasons:
        return reasons, None
    try:
        leaf_source = data.get("certificate") or data["fullchain"]
        bundle = _certificate.load_pem_bundle(leaf_source, data.get("chain"), data.get("privatekey"))
        if "certificate" in data and "fullchain" in data:
            full = _certificate.load_certificates_pem(data["fullchain"])
            expected = [bundle.leaf] + list(bundle.chain)
            if full != expected:  # x509.Certificate compares by DER
                reasons.append("the full chain is not the certificate followed by the chain")
        _certificate.check_bundle(bundle, name, now=now)
    except RclCertificateError as exc:
        return reasons + ["%s (%s)" % (exc, getattr(exc, "check", "pem"))], None
    except RclError as exc:
        return reasons + [str(exc)], None
    meta = _certificate.cert_metadata(bundle.leaf, now=now)
    missing = [item for item in wanted if not _certificate.covers_names(bundle.leaf, [item])]
    if missing:
        reasons.append("the certificate does not cover %s (it covers %s)" % (", ".join(missing), ", ".join(meta["sans"])))
    if meta["days_remaining"] < remaining_days:
        reasons.append("expires in %d days (threshold %d)" % (meta["days_remaining"], remaining_days))
    deployed = {key: meta[key] for key in ("subject", "issuer", "serial", "sans", "not_before", "not_after",
                                           "days_remaining", "fingerprint_sha256")}
    return reasons, deployed


def certificate_status(specs: t.Any, slurped: t.Any, remaining_days: int = 30, force: bool = False,
                       now: t.Any = None) -> list[dict[str, t.Any]]:
    if not _certificate.HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError("certificate_status needs the Python library cryptography >= %s on the controller: %s"
                                 % (_certificate.CRYPTOGRAPHY_MIN_VERSION, _certificate.CRYPTOGRAPHY_IMPORT_ERROR))
    if not isinstance(specs, (list, tuple)):
        raise AnsibleFilterError("certificate_status: the input must be the list made by rcl.ssl.certificate_spec")
    moment = None
    if now is not None:
        moment = now if isinstance(now, datetime.datetime) else datetime.datetime.fromisoformat(str(now).replace("Z", "+00:00"))
    contents = _contents(slurped)
    statuses = []
    for spec in specs:
        reasons, deployed = _check(spec, contents, int(remaining_days), moment)
        if force:
            reasons.insert(0, "forced")
        status = dict(spec)
        status.update(needs_work=bool(reasons), reasons=reasons, deployed=deployed)
        statuses.append(status)
    return statuses


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"certificate_status": certificate_status}
