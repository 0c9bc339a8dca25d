#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rcl_order_info
short_description: Read orders and certificates of RCL SSL, Certifire and Servertastic
version_added: 0.1.0
description:
  - With O(order_uri), reads the order's status and validation tokens (V6 only; V7 and V8 have no order read
    and the module says so).
  - With O(certificate_name), reads the certificate's metadata (all versions).
  - With neither, lists the subscription's certificates (V6 only).
  - Makes exactly one request (V6 may add one token request). Never changes anything.
  - With O(service=certifire), O(order_uri) reads the order (its status; Certifire publishes no challenge) and
    O(certificate_name) finds the newest valid certificate that covers the name.
  - With O(service=servertastic), O(order_uri) (with O(certificate_name), whose token the state file keeps) reads
    the order's review, with its validation data; O(certificate_name) alone reads the last issued order of the
    name, and RV(pending_order_uri) names an order an earlier run left unfinished. Nothing is read when the state
    file holds no order of the name.
author:
  - rcl.ssl maintainers (@rcl-ssl)
extends_documentation_fragment:
  - rcl.ssl.rcl
  - rcl.ssl.rcl.SERVICES
  - rcl.ssl.rcl.ATTRIBUTES
  - rcl.ssl.rcl.INFO_MODULE
options:
  order_uri:
    description:
      - The order URL returned by M(rcl.ssl.rcl_order).
    type: str
  certificate_name:
    description:
      - The certificate's host name as shown in the portal.
      - With O(service=rcl), mutually exclusive with O(order_uri); O(service=servertastic) needs both to read an
        order.
    type: str
  challenge_type:
    description:
      - The order's challenge type; V6 needs it to read an order. Servertastic also knows V(https) and V(email).
    type: str
    choices: [dns, http, https, email]
  root_domain:
    description:
      - The order's root domain; V6 needs it to read an order, and DNS record names in
        RV(challenge_data_dns) are built from it.
    type: str
seealso:
  - module: rcl.ssl.rcl_order
  - module: rcl.ssl.rcl_finalize
"""

EXAMPLES = r"""
- name: When does the portal's certificate expire?
  rcl.ssl.rcl_order_info:
    certificate_name: www.example.com
  delegate_to: localhost
  register: info

- name: Show it
  ansible.builtin.debug:
    msg: "{{ info.certificate.expiry_date if info.exists else 'not in the portal' }}"

- name: Follow a V6 order
  rcl.ssl.rcl_order_info:
    api_version: v6
    order_uri: "{{ order.order_uri }}"
    challenge_type: dns
    root_domain: example.com
  delegate_to: localhost
  register: order_state

- name: Is a Servertastic order still waiting for its approver?
  rcl.ssl.rcl_order_info:
    service: servertastic
    api_key: "{{ vault_servertastic_reseller_key }}"
    certificate_name: www.example.com
    order_uri: "{{ servertastic_order.order_uri }}"
  delegate_to: localhost
  register: waiting
"""

RETURN = r"""
exists:
  description: Whether the certificate exists in the subscription.
  returned: with O(certificate_name)
  type: bool
certificate:
  description: Certificate metadata (as in M(rcl.ssl.rcl_order)); never key material, passwords or download URLs.
  returned: with O(certificate_name), when it exists
  type: dict
  sample: {"name": "www.example.com", "id": 342, "expiry_date": "2023-11-27T04:53:07Z", "days_remaining": 41}
certificates:
  description: Metadata of every certificate of the subscription.
  returned: with neither O(order_uri) nor O(certificate_name)
  type: list
  elements: dict
order_uri:
  description: The order URL.
  returned: with O(order_uri)
  type: str
order:
  description: Status, order URL, certificate URL and (V6) challenge states.
  returned: with O(order_uri)
  type: dict
  sample: {"status": "pending", "certificate_uri": null, "challenges": [{"challenge_type": "dns-01", "status": "pending"}]}
validation_tokens:
  description: The order's validation tokens, snake_case keys as in M(rcl.ssl.rcl_order).
  returned: with O(order_uri)
  type: list
  elements: dict
challenge_data:
  description: What to publish per identifier, as in M(rcl.ssl.rcl_order).
  returned: with O(order_uri)
  type: list
  elements: dict
challenge_data_dns:
  description: TXT values per DNS record FQDN.
  returned: with O(order_uri)
  type: dict
service:
  description: The ordering system, when it is not RCL SSL.
  returned: with O(service=certifire) or O(service=servertastic)
  type: str
pending_order_uri:
  description: An order of the name that an earlier run started and did not finish (Servertastic).
  returned: with O(service=servertastic) and O(certificate_name), when there is one
  type: str
approval:
  description: Who approves an order validated by e-mail (Servertastic).
  returned: with O(order_uri), when the order waits for an e-mail approval
  type: dict
"""

from ansible_collections.rcl.ssl.plugins.module_utils._common import RclModule, certificate_result, order_result
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError


def run(m: RclModule) -> dict:
    p = m.params
    if m.service != "rcl":
        c = m.service_client
        c.refuse_rcl_options(root_domain=p["root_domain"])
        req = None
        if p["certificate_name"]:
            req = c.request(p["certificate_name"], p["challenge_type"], m.service_options, ordering=False)
        return c.info(p["order_uri"], req)
    if p["order_uri"] and p["certificate_name"]:
        raise RclInputError("parameters are mutually exclusive: order_uri|certificate_name (with service=rcl)")
    result: dict = dict(changed=False)
    if p["order_uri"]:
        order = m.client.get_order(p["order_uri"], challenge_type=p["challenge_type"], root_domain=p["root_domain"])
        result.update(order_result(order, p["root_domain"]))
    elif p["certificate_name"]:
        cert = m.client.get_certificate(p["certificate_name"])
        result["exists"] = cert is not None
        if cert is not None:
            result["certificate"] = certificate_result(cert)
    else:
        result["certificates"] = [certificate_result(cert) for cert in m.client.list_certificates()]
    return result


def main() -> None:
    RclModule(dict(
        order_uri=dict(type="str"),
        certificate_name=dict(type="str"),
        challenge_type=dict(type="str", choices=["dns", "http", "https", "email"]),
        root_domain=dict(type="str"),
    )).run(run)


if __name__ == "__main__":
    main()
