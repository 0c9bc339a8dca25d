# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: certificate_challenges
short_description: Turn rcl.ssl.rcl_order results into DNS-01 records or HTTP-01 files to publish
version_added: 0.1.0
author:
  - rcl.ssl contributors
description:
  - Takes the results of M(rcl.ssl.rcl_order) run in a loop whose items are certificate entries normalized by
    P(rcl.ssl.certificate_spec#filter), and lists what to publish for the orders that were created.
  - V(dns) gives one record set per DNS name with every value in it (a SAN order's apex and wildcard share
    C(_acme-challenge.<apex>)), with the zone, the record name relative to the zone and the DNS provider of the
    certificate.
  - V(wait_for_txt) gives the same records in the shape O(community.dns.wait_for_txt#module:records) takes.
  - V(http) gives one file per HTTP-01 token (and per Servertastic validation file, under C(.well-known/pki-validation/)).
  - The zone of an entry is its C(dns_zone), else its C(root_domain), else the registrable domain of its name by
    the Public Suffix List (the name itself for a SAN certificate; needs C(publicsuffixlist) on the controller).
    A record that is not within its zone is an error.
  - Results without an order (not changed, skipped or failed) are ignored. Pure - no request, no file.
options:
  _input:
    description:
      - The C(results) of a looped M(rcl.ssl.rcl_order) task (or the whole registered result), whose loop items are
        the entries; or the registered result of M(rcl.ssl.rcl_obtain) with O(rcl.ssl.rcl_obtain#module:step=order),
        whose entries are looked up by name in O(specs).
    type: raw
    required: true
  kind:
    description: What to list.
    type: str
    choices: [dns, wait_for_txt, http]
    required: true
  specs:
    description:
      - With V(http), keep only the tokens of the certificates among these normalized entries (those of one
        host) and add each entry's C(webroot) to the token.
      - With an M(rcl.ssl.rcl_obtain) result, the entries of its names (zone, DNS provider).
    type: list
    elements: dict
seealso:
  - module: rcl.ssl.rcl_order
  - module: rcl.ssl.rcl_obtain
  - module: community.dns.wait_for_txt
  - plugin: rcl.ssl.certificate_spec
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Publish the DNS-01 records
  community.general.nsupdate:
    server: 192.0.2.53  # an IP address: nsupdate does not resolve names
    key_name: acme
    key_secret: "{{ tsig_secret }}"
    zone: "{{ item.zone }}"
    record: "{{ item.name }}."
    type: TXT
    value: "{{ item['values'] }}"
  loop: "{{ orders.results | rcl.ssl.certificate_challenges('dns') }}"

- name: Wait for them
  community.dns.wait_for_txt:
    records: "{{ orders.results | rcl.ssl.certificate_challenges('wait_for_txt') }}"
    timeout: 120
"""

RETURN = r"""
_value:
  description: The records (V(dns), V(wait_for_txt)) or files (V(http)).
  type: list
  elements: dict
  contains:
    name:
      description: The record's fully qualified name without trailing dot (V(dns), V(wait_for_txt)).
      type: str
      sample: _acme-challenge.www.shop.co.uk
    values:
      description: Every TXT value of the record set, each once (V(dns), V(wait_for_txt)).
      type: list
      elements: str
    zone:
      description: The zone holding the record (V(dns)).
      type: str
      sample: shop.co.uk
    record:
      description: The record name relative to the zone, V(@) for the apex (V(dns)).
      type: str
      sample: _acme-challenge.www
    provider:
      description: The entry's C(dns_provider), V(nsupdate) when it has none (V(dns)).
      type: str
      sample: nsupdate
    certificate_name:
      description: The certificate the record or file is for (V(dns), V(http)).
      type: str
      sample: www.shop.co.uk
    keep_others:
      description:
        - Whether the record's TXT set may hold values of others that must stay (V(dns)) - true for a name that is not
          an C(_acme-challenge) name, such as the base domain Servertastic validates. Add the values to the set and
          remove only them.
      type: bool
    identifier:
      description: The name the token validates (V(http)).
      type: str
      sample: www.example.org
    resource:
      description: The path below the web root, C(.well-known/acme-challenge/<token>) (V(http)).
      type: str
    resource_value:
      description: The file content (V(http)).
      type: str
    webroot:
      description: The entry's C(webroot) in O(specs), empty when it has none (V(http) with O(specs)).
      type: str
      sample: /var/www/example.org
"""

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError
from ansible_collections.rcl.ssl.plugins.module_utils._names import root_domain_for, validate_certificate_name


def _relative(fqdn: str, zone: str) -> str:
    if fqdn == zone:
        return "@"
    if fqdn.endswith("." + zone):
        return fqdn[: -len(zone) - 1]
    raise AnsibleFilterError("certificate_challenges: the record %s is not within the zone %s" % (fqdn, zone))


def _zone(spec: dict[str, t.Any]) -> str:
    """The zone of the entry's records: dns_zone, else root_domain, else by the Public Suffix List."""
    try:
        zone = str(spec.get("dns_zone") or spec.get("root_domain") or "").strip().rstrip(".").lower()
        if zone:
            return zone  # a zone may be delegated (_acme-challenge.example.com): not a host name
        return root_domain_for(validate_certificate_name(spec.get("name")), None, bool(spec.get("san")))
    except RclInputError as exc:
        raise AnsibleFilterError("certificate_challenges: %s" % exc.msg) from None


def certificate_challenges(results: t.Any, kind: str, specs: t.Any = None) -> list[dict[str, t.Any]]:
    if kind not in ("dns", "wait_for_txt", "http"):
        raise AnsibleFilterError("certificate_challenges: kind must be dns, wait_for_txt or http, not %r" % (kind,))
    by_name = {str(spec.get("name")): spec for spec in specs or [] if isinstance(spec, dict)}
    if isinstance(results, dict) and isinstance(results.get("certificates"), list):
        # the result of rcl.ssl.rcl_obtain (step=order): the entries come from specs
        results = [dict(item, changed=bool(item.get("ordered")), item=by_name.get(str(item.get("name")), {}))
                   for item in results["certificates"] if isinstance(item, dict)]
    elif isinstance(results, dict):
        results = results.get("results", [])
    if not isinstance(results, (list, tuple)):
        raise AnsibleFilterError("certificate_challenges: the input must be the results of a looped rcl_order task")
    records: dict[str, dict[str, t.Any]] = {}
    files: list[dict[str, t.Any]] = []
    for result in results:
        if not isinstance(result, dict) or not result.get("changed") or result.get("failed") or not result.get("order_uri"):
            continue
        item = result.get("item")
        spec: dict[str, t.Any] = item if isinstance(item, dict) else {}
        name = str(spec.get("name") or result.get("name") or "")
        if kind == "http":
            for entry in result.get("challenge_data") or []:
                http = (entry.get("challenges") or {}).get("http-01")
                if http:
                    files.append(dict(certificate_name=name, identifier=entry.get("identifier"),
                                      resource=http["resource"], resource_value=http["resource_value"]))
            continue
        challenge_data_dns = result.get("challenge_data_dns") or {}
        zone = _zone(spec) if challenge_data_dns else ""
        for fqdn, values in sorted(challenge_data_dns.items()):
            fqdn = str(fqdn).rstrip(".").lower()
            record = records.setdefault(fqdn, dict(name=fqdn, values=[], zone=zone, record=_relative(fqdn, zone),
                                                   provider=spec.get("dns_provider") or "nsupdate",
                                                   certificate_name=name,
                                                   # not an _acme-challenge name (Servertastic's base domain): its
                                                   # TXT set holds other values (SPF...) that must stay
                                                   keep_others=not fqdn.startswith("_acme-challenge.")))
            record["values"].extend(str(value) for value in values if str(value) not in record["values"])
    if kind == "http":
        if specs is None:
            return files
        webroots = {str(spec.get("name")): spec.get("webroot") or "" for spec in specs if isinstance(spec, dict)}
        return [dict(item, webroot=webroots[item["certificate_name"]]) for item in files if item["certificate_name"] in webroots]
    if kind == "wait_for_txt":
        return [dict(name=record["name"], values=list(record["values"])) for record in records.values()]
    return list(records.values())


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"certificate_challenges": certificate_challenges}
