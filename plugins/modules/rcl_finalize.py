#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rcl_finalize
short_description: Validate an order (RCL SSL, Certifire, Servertastic) and wait for its certificate, bounded
version_added: 0.1.0
description:
  - Turns an order started by M(rcl.ssl.rcl_order) into a certificate, once its DNS records or HTTP
    resources are published.
  - V6 - reads the order; validates a V(pending) order, polls until it is V(ready), finalizes it.
  - V7 - finalize validates and issues in one call. V7 cannot read orders, so the certificate's order URL
    tells whether this order was already finalized.
  - V8 - schedules the certificate's creation, then polls the certificate until one from this order appears.
  - An order that is already V(valid) is not finalized again (RV(ignore:changed=false)). An V(invalid) order fails
    with the reason. No wait lasts longer than O(wait_timeout).
  - Requests made - V6 one order read, one validate, one read per poll, one finalize and one certificate read;
    V7 one certificate read and one finalize; V8 one certificate read, one schedule and one read per poll.
    Already finalized - one or two reads, nothing else.
  - With O(service=certifire), polls the order until the service has stored a new certificate and reads it (the
    service validated and issued by itself, so the module changes nothing - RV(ignore:changed=false); RV(certificate)
    is the new certificate). Certifire has no failure status, so only O(wait_timeout) ends a wait for an order
    its worker gave up on; an ACME order that became V(invalid) fails at once. Requests - one per poll, one
    certificate read.
  - With O(service=servertastic), reads the order's review, asks the CA to check the published DNS record or file
    now (C(pollauth); not for e-mail approval), and polls the review until the order is C(Completed). An order that
    is still waiting when O(wait_timeout) ends stays in the state file, and the next run resumes it without a new
    token. Requests - one review, one C(pollauth), one review per poll.
author:
  - rcl.ssl maintainers (@rcl-ssl)
requirements:
  - publicsuffixlist >= 1.0 (to derive the root domain from the Public Suffix List)
extends_documentation_fragment:
  - rcl.ssl.rcl
  - rcl.ssl.rcl.SERVICES
  - rcl.ssl.rcl.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details:
      - Check mode only reads; it predicts RV(ignore:changed) and never validates, finalizes or schedules.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  certificate_name:
    description: The certificate's host name as shown in the portal.
    type: str
    required: true
  order_uri:
    description: The order URL returned by M(rcl.ssl.rcl_order) (with the other services, its RV(rcl.ssl.rcl_order#module:order_uri)).
    type: str
    required: true
  root_domain:
    description:
      - The certificate's root domain, sent by V6 and V8.
      - When not given, the registrable domain of O(certificate_name) by the Public Suffix List
        (V(shop.co.uk) for V(www.shop.co.uk)).
    type: str
  challenge_type:
    description:
      - The order's challenge type. Needed by V6 and V8, checked before any request.
      - Servertastic also knows V(https) and V(email); Certifire takes none.
    type: str
    choices: [dns, http, https, email]
  email:
    description: Contact address sent with the V6 finalization and the V8 schedule.
    type: str
  pfx_password:
    description:
      - V6 and V8. The password the service sets on the PKCS#12 (PFX) it creates.
      - Never returned or logged.
    type: str
  csr_info:
    description:
      - V6 only. Subject fields for the certificate request, as a dictionary of strings with the keys
        C(country_name), C(locality), C(state), C(organization) and C(organization_unit).
      - Any other key, or a value that is not a dictionary, is an error reported before any request.
    type: dict
  wait:
    description:
      - Wait until the certificate is issued. With V(false), return right after the state-changing call
        with RV(status) V(pending) or V(processing).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait at most for validation and issuance.
    type: int
    default: 300
seealso:
  - module: rcl.ssl.rcl_order
  - module: rcl.ssl.rcl_cert_fetch
  - module: community.crypto.acme_certificate_order_finalize
"""

EXAMPLES = r"""
- name: Start an order when due
  rcl.ssl.rcl_order:
    certificate_name: www.example.com
  delegate_to: localhost
  register: order

- name: Validate and issue, waiting at most two minutes
  rcl.ssl.rcl_finalize:
    certificate_name: www.example.com
    order_uri: "{{ order.order_uri }}"
    wait_timeout: 120
  delegate_to: localhost
  when: order is changed
  register: issued

- name: V6 finalize with a PFX password and subject fields
  rcl.ssl.rcl_finalize:
    api_version: v6
    certificate_name: www.example.com
    root_domain: example.com
    challenge_type: dns
    order_uri: "{{ order.order_uri }}"
    email: hostmaster@example.com
    pfx_password: "{{ vault_pfx_password }}"
    csr_info:
      country_name: TT
      organization: Example Ltd
  delegate_to: localhost

- name: Wait up to an hour for a Servertastic order (an e-mail approval may take longer; a later run resumes it)
  rcl.ssl.rcl_finalize:
    service: servertastic
    api_key: "{{ vault_servertastic_reseller_key }}"
    certificate_name: www.example.com
    order_uri: "{{ servertastic_order.order_uri }}"
    wait_timeout: 3600
  delegate_to: localhost
"""

RETURN = r"""
status:
  description:
    - The order's status at the end, V(valid) once issued.
    - With the other services, V(pending) (waits for the caller or a person), V(processing) (the service works or a
      CA moderates), V(valid) or V(invalid).
  returned: always
  type: str
  sample: valid
service:
  description: The ordering system, when it is not RCL SSL.
  returned: with O(service=certifire) or O(service=servertastic)
  type: str
order:
  description: The order, as far as the API version shows it.
  returned: when known
  type: dict
  sample: {"status": "valid", "order_uri": "https://acme-v02.api.letsencrypt.org/acme/order/1/2", "certificate_uri": null}
certificate:
  description:
    - Metadata of the issued certificate (as in M(rcl.ssl.rcl_order)). Never the PFX, its password or download URLs.
  returned: when the certificate is issued
  type: dict
  sample: {"name": "www.example.com", "expiry_date": "2024-02-25T04:53:07Z", "days_remaining": 89}
"""

from ansible_collections.rcl.ssl.plugins.module_utils._common import RclModule, certificate_result


def run(m: RclModule) -> dict:
    p = m.params
    if m.service != "rcl":
        c = m.service_client
        c.refuse_rcl_options(root_domain=p["root_domain"], email=p["email"], pfx_password=p["pfx_password"],
                             csr_info=p["csr_info"])
        req = c.request(p["certificate_name"], p["challenge_type"], m.service_options, ordering=False)
        done = c.finalize(p["order_uri"], req, p["wait"], p["wait_timeout"], m.check_mode)
        result: dict = dict(changed=done.changed, status=done.order.status, order=done.order.to_result(),
                            service=c.service)
        if done.certificate is not None:
            result["certificate"] = certificate_result(done.certificate, bundle=done.bundle)
        return result
    request = m.client.finalize_request(
        p["certificate_name"], p["order_uri"], root_domain=p["root_domain"], challenge_type=p["challenge_type"],
        email=p["email"], pfx_password=p["pfx_password"], csr_info=p["csr_info"], wait_timeout=p["wait_timeout"])
    outcome = m.client.finalize(request, wait=p["wait"], wait_timeout=p["wait_timeout"], check_mode=m.check_mode)
    result = dict(changed=outcome.changed, status=outcome.status)
    if outcome.order is not None:
        result["order"] = outcome.order.to_result()
    if outcome.certificate is not None:
        result["certificate"] = certificate_result(outcome.certificate)
    return result


def main() -> None:
    RclModule(dict(
        certificate_name=dict(type="str", required=True),
        order_uri=dict(type="str", required=True),
        root_domain=dict(type="str"),
        challenge_type=dict(type="str", choices=["dns", "http", "https", "email"]),
        email=dict(type="str"),
        pfx_password=dict(type="str", no_log=True),
        # A plain dict, its keys checked by the client: with sub-options, ansible-core prints
        # the credentials when the value cannot be converted (ansible/ansible#81672).
        csr_info=dict(type="dict"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    ), needs_public_suffix_list=True).run(run)


if __name__ == "__main__":
    main()
