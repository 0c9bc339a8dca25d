# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: certificate_spec
short_description: Normalize the certificate list of the rcl.ssl.rcl_certificate role
version_added: 0.1.0
author:
  - rcl.ssl contributors
description:
  - Turns the entries of C(rcl_certificate_certificates) into complete descriptions - root domain, challenge
    type, the names the certificate must cover, and the files to deploy with their paths and modes.
  - Default paths are certbot-like - C(<base_dir>/<name>/cert.pem), C(chain.pem), C(fullchain.pem) and
    C(privkey.pem). A wildcard name gets a safe directory name (V(*.example.com) -> V(_wildcard.example.com)).
  - An entry may set C(certificate_path), C(chain_path), C(fullchain_path), C(privatekey_path) and C(pfx_path) to
    absolute paths. An empty string (for example C(chain_path) set to V('')) deploys no such file; no PFX file
    is deployed unless C(pfx_path) is set. At least one of the certificate and the full chain must be deployed,
    and the private key may only be left out when a PFX file is deployed.
  - Names follow the rules of the rcl.ssl modules - one fully qualified host name, lower-cased, with an optional
    leading C(*.); no trailing dot, comma, space or control character.
  - The root domain, when an entry does not give one, is the registrable domain by the Public Suffix List
    (V(www.shop.co.uk) -> V(shop.co.uk), V(a.b.example.com) -> V(example.com)); for a SAN certificate it is the
    name itself. The DNS zone defaults to the root domain.
  - C(service) (default V(rcl), the role's C(rcl_certificate_service)) names the ordering system. With
    V(certifire) the challenge type is not used (the service validates by itself); with V(servertastic) it is
    V(dns), V(http), V(https) or V(email), and an entry may set its own C(product_code) and C(approver_email).
    Both order the name itself (no C(san)).
  - Fails when a name is listed twice or two files would be written to the same path.
  - Pure and local - reads no file, makes no request. The role passes each entry's C(deploy) key to
    M(rcl.ssl.rcl_cert_deploy), which checks and deploys the files on the host.
options:
  _input:
    description: The list of certificate entries (C(rcl_certificate_certificates)).
    type: list
    elements: dict
    required: true
  base_dir:
    description: Directory under which each certificate gets a directory named after it.
    type: path
    default: /etc/ssl/rcl
  defaults:
    description:
      - Values for the keys an entry leaves out - C(service), C(challenge_type), C(san), C(root_domain), C(owner), C(group),
        C(mode), C(privatekey_mode), C(backup), C(dns_provider), C(dns_zone), C(webroot), C(reload), C(notify).
      - The file paths are never taken from here.
    type: dict
    default: {}
requirements:
  - publicsuffixlist >= 1.0 (on the controller), to derive root domains
seealso:
  - module: rcl.ssl.rcl_cert_deploy
  - plugin: rcl.ssl.certificate_status
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Show where the role would deploy the files
  ansible.builtin.debug:
    msg: "{{ item.files | map(attribute='path') }}"
  loop: >-
    {{ [{'name': '*.example.com'}, {'name': 'example.com', 'san': true}]
       | rcl.ssl.certificate_spec(base_dir='/etc/ssl/rcl') }}
"""

RETURN = r"""
_value:
  description: One normalized entry per input entry, in the same order.
  type: list
  elements: dict
  contains:
    name:
      description: The certificate name, lower-cased.
      type: str
      sample: "*.example.com"
    safe_name:
      description: The name as a directory name.
      type: str
      sample: _wildcard.example.com
    directory:
      description: The certificate's default directory.
      type: str
      sample: /etc/ssl/rcl/_wildcard.example.com
    root_domain:
      description:
        - The root domain - given, or the registrable domain of the name by the Public Suffix List
          (the name itself for a SAN certificate).
      type: str
      sample: shop.co.uk
    service:
      description: The ordering system - V(rcl), V(certifire) or V(servertastic).
      type: str
      sample: rcl
    service_options:
      description: The entry's own order options for its service (C(product_code), C(approver_email)).
      type: dict
    challenge_type:
      description:
        - V(dns) or V(http); with Servertastic also V(https) or V(email); V(null) with Certifire.
      type: str
      sample: dns
    san:
      description: Whether it is a SAN certificate (apex + wildcard for DNS, apex + www for HTTP).
      type: bool
    wanted_names:
      description: The names the deployed certificate must cover.
      type: list
      elements: str
      sample: ["example.com", "*.example.com"]
    dns_provider:
      description: The DNS provider for DNS-01 (default V(nsupdate)).
      type: str
      sample: nsupdate
    dns_zone:
      description: The DNS zone holding the validation records (default the root domain).
      type: str
      sample: shop.co.uk
    webroot:
      description: The web root for HTTP-01, empty when not set.
      type: str
    owner:
      description: Owner of the files, V(null) when not set (the connecting user).
      type: str
    group:
      description: Group of the files, V(null) when not set.
      type: str
    backup:
      description: Keep a backup of replaced files (default V(true)).
      type: bool
    reload:
      description: Services to reload when a file changed.
      type: list
      elements: str
    notify:
      description: Handler names or topics to notify when a file changed.
      type: list
      elements: str
    pfx:
      description: Whether a PKCS#12 file is deployed.
      type: bool
    directories:
      description:
        - The directories of the files, parents first - O(base_dir) itself, then each file's directory.
        - Those below O(base_dir) (and O(base_dir)) get mode V(0755), or V(0700) when they hold only the private key
          or PFX; the others have mode V(null) (an existing directory keeps its mode).
      type: list
      elements: dict
      contains:
        path:
          description: The directory.
          type: str
          sample: /etc/ssl/rcl/_wildcard.example.com
        mode:
          description: Its mode, or V(null).
          type: str
          sample: "0755"
    files:
      description: The files to deploy, in the order certificate, chain, full chain, private key, PFX.
      type: list
      elements: dict
      contains:
        kind:
          description: V(certificate), V(chain), V(fullchain), V(privatekey) or V(pfx).
          type: str
        path:
          description: Absolute path.
          type: str
          sample: /etc/ssl/rcl/_wildcard.example.com/fullchain.pem
        mode:
          description: File mode, an octal string - the entry's C(mode), or C(privatekey_mode) for the key and PFX.
          type: str
          sample: "0644"
        secret:
          description: Whether the file holds the private key (V(privatekey) and V(pfx)).
          type: bool
    deploy:
      description:
        - The entry as M(rcl.ssl.rcl_cert_deploy) takes it in its O(rcl.ssl.rcl_cert_deploy#module:certificates) option
          (keys C(name), C(names), C(files) with C(kind), C(path) and C(mode), C(owner), C(group), C(backup),
          C(directories)).
      type: dict
"""

import os.path
import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.rcl.ssl.plugins.module_utils._api.services import service_unit
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._names import (
    check_challenge,
    root_domain_for,
    safe_dir_name,
    validate_certificate_name,
    wanted_names,
)

KINDS = (
    # kind, option, default file name, secret
    ("certificate", "certificate_path", "cert.pem", False),
    ("chain", "chain_path", "chain.pem", False),
    ("fullchain", "fullchain_path", "fullchain.pem", False),
    ("privatekey", "privatekey_path", "privkey.pem", True),
    ("pfx", "pfx_path", None, True),
)


#: per-certificate order options of the other services (the rest of their options come from the role's connection)
SERVICE_ENTRY_OPTIONS = ("product_code", "approver_email")


#: DNS providers whose tasks replace a record's whole TXT set (Servertastic's record is the base domain's set)
_REPLACE_TXT_SET = ("route53", "azure_dns")


def _check_base_domain_record(name: str, provider: str, zone: str) -> None:
    """Servertastic validates by a TXT value on the base domain itself: refuse, before any request (a token costs
    points), a provider that would replace that set (SPF...) and a zone that does not hold it."""
    base = name[2:] if name.startswith("*.") else name[4:] if name.startswith("www.") else name
    if provider in _REPLACE_TXT_SET:
        raise AnsibleFilterError(
            "certificate_spec: %s: Servertastic validates by a TXT value on %s itself, whose TXT set often holds other "
            "values (SPF); the %s tasks replace the whole set. Use the nsupdate or cloudflare provider (they keep the "
            "other values), a custom one, or challenge_type http or email" % (name, base, provider))
    if provider != "none" and base != zone and not base.endswith("." + zone):
        raise AnsibleFilterError(
            "certificate_spec: %s: Servertastic's TXT record is %s itself, which is not in the DNS zone %s (a zone "
            "delegated for _acme-challenge names cannot hold it); set dns_zone to the zone of %s"
            % (name, base, zone, base))


def _as_list(value: t.Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _mode(value: t.Any) -> str:
    if isinstance(value, int):
        return "%04o" % value
    return str(value)


def _directories(files: list[dict[str, t.Any]], base_dir: str) -> list[dict[str, t.Any]]:
    """The directories to create, parents first. Below base_dir: 0700 when it holds only secret files, else 0755;
    elsewhere the mode of an existing directory is left alone (mode None)."""
    base = os.path.normpath(base_dir)
    dirs: dict[str, bool] = {}
    for item in files:
        directory = os.path.dirname(item["path"])
        dirs[directory] = dirs.get(directory, True) and item["secret"]
    result: list[dict[str, str | None]] = []
    if any(d.startswith(base + os.sep) for d in dirs):
        result.append(dict(path=base, mode="0755"))
    for directory, only_secret in sorted(dirs.items()):
        inside = directory.startswith(base + os.sep)
        result.append(dict(path=directory, mode=("0700" if only_secret else "0755") if inside else None))
    return result


def _one(entry: t.Any, base_dir: str, defaults: dict[str, t.Any]) -> dict[str, t.Any]:
    if not isinstance(entry, dict) or not entry.get("name"):
        raise AnsibleFilterError("certificate_spec: every certificate needs a name, got %r" % (entry,))

    def get(key: str, fallback: t.Any = None) -> t.Any:
        value = entry.get(key)
        if value is None:
            value = defaults.get(key)
        return fallback if value is None else value

    name = ""
    try:
        name = validate_certificate_name(entry["name"])
        service = str(get("service") or "rcl").strip().lower()
        unit = service_unit(service)
        san = bool(get("san", False))
        if unit is None:
            challenge: str | None = check_challenge(name, get("challenge_type") or "dns") or "dns"
        else:
            if san:
                raise RclInputError("san is RCL SSL's (apex + www. or *.); service=%s orders the name itself" % service)
            # The service's own challenge types (Certifire validates by itself: none).
            challenge = unit.check_challenge_type(name, entry.get("challenge_type")
                                                  or (defaults.get("challenge_type") if unit.challenge_types else None))
        root = root_domain_for(name, get("root_domain") or None, san)
        wanted = wanted_names(name, challenge or "dns", san) if unit is None else [name]
        safe = safe_dir_name(name)
        zone = str(get("dns_zone") or root).strip().rstrip(".").lower()  # may be a delegated _acme-challenge zone
    except RclInputError as exc:
        raise AnsibleFilterError("certificate_spec: %s%s" % (name + ": " if name else "", exc.msg)) from None
    if unit is not None and unit.service == "servertastic" and challenge == "dns":
        _check_base_domain_record(name, str(get("dns_provider", "nsupdate")), zone)
    webroot = str(get("webroot") or "")
    if challenge in ("http", "https") and not webroot:
        # Checked here, before any request: an order started without a place for its token wastes quota.
        raise AnsibleFilterError("certificate_spec: %s: %s needs a web root; set rcl_certificate_webroot or the "
                                 "entry's webroot" % (name, "HTTP-01" if unit is None else "the file challenge"))
    service_options = {}
    for key in SERVICE_ENTRY_OPTIONS:
        if entry.get(key) not in (None, ""):
            if unit is None or key not in unit.option_names:
                raise AnsibleFilterError("certificate_spec: %s: %s is not used by service=%s" % (name, key, service))
            service_options[key] = entry[key]
    if webroot and not os.path.isabs(webroot):
        raise AnsibleFilterError("certificate_spec: %s: webroot must be an absolute path, not %r" % (name, webroot))
    directory = os.path.join(base_dir, safe)
    mode = _mode(get("mode", "0644"))
    key_mode = _mode(get("privatekey_mode", "0600"))
    files = []
    for kind, option, default_file, secret in KINDS:
        path = entry.get(option)
        if path is None and default_file:
            path = os.path.join(directory, default_file)
        if not path:
            continue
        if not os.path.isabs(str(path)):
            raise AnsibleFilterError("certificate_spec: %s: %s must be an absolute path, not %r" % (name, option, path))
        files.append(dict(kind=kind, path=os.path.normpath(str(path)), mode=key_mode if secret else mode, secret=secret))
    if not any(item["kind"] in ("certificate", "fullchain") for item in files):
        raise AnsibleFilterError("certificate_spec: %s: deploy at least one of certificate_path and fullchain_path" % name)
    if not any(item["kind"] in ("privatekey", "pfx") for item in files):
        raise AnsibleFilterError("certificate_spec: %s: privatekey_path can only be empty with a pfx_path: the role "
                                 "deploys the key" % name)
    return dict(
        name=name,
        service=service,
        service_options=service_options,
        directories=_directories(files, base_dir),
        safe_name=safe,
        directory=directory,
        root_domain=root,
        challenge_type=challenge,
        san=san,
        wanted_names=wanted,
        dns_provider=str(get("dns_provider", "nsupdate")),
        dns_zone=zone,
        webroot=webroot,
        owner=get("owner") or None,
        group=get("group") or None,
        backup=bool(get("backup", True)),
        reload=_as_list(get("reload")),
        notify=_as_list(get("notify")),
        pfx=any(item["kind"] == "pfx" for item in files),
        files=files,
        # the entry of rcl.ssl.rcl_cert_deploy's certificates option
        deploy=dict(
            name=name,
            names=wanted,
            files=[dict(kind=item["kind"], path=item["path"], mode=item["mode"]) for item in files],
            owner=get("owner") or None,
            group=get("group") or None,
            backup=bool(get("backup", True)),
            directories=_directories(files, base_dir),
        ),
    )


def certificate_spec(entries: t.Any, base_dir: str = "/etc/ssl/rcl", defaults: dict[str, t.Any] | None = None) -> list[dict[str, t.Any]]:
    if not isinstance(entries, (list, tuple)):
        raise AnsibleFilterError("certificate_spec: the input must be a list of certificate entries")
    if not base_dir or not os.path.isabs(str(base_dir)):
        raise AnsibleFilterError("certificate_spec: base_dir must be an absolute path, not %r" % (base_dir,))
    specs = [_one(entry, str(base_dir), dict(defaults or {})) for entry in entries]
    names = [spec["name"] for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise AnsibleFilterError("certificate_spec: certificates listed twice: %s" % ", ".join(duplicates))
    paths = [item["path"] for spec in specs for item in spec["files"]]
    clashes = sorted({path for path in paths if paths.count(path) > 1})
    if clashes:
        raise AnsibleFilterError("certificate_spec: several files would be written to %s" % ", ".join(clashes))
    return specs


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"certificate_spec": certificate_spec}
