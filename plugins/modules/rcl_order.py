#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rcl_order
short_description: Start a certificate order (RCL SSL, Certifire, Servertastic) when a certificate is due
version_added: 0.1.0
description:
  - Reads the subscription's certificate of that name and starts a new ACME order through the RCL SSL API
    only when the certificate is missing, expires within O(remaining_days), or O(force=true).
  - Returns the validation tokens as DNS records or HTTP resources ready for the next task, in the same
    shape as M(community.crypto.acme_certificate_order_create).
  - Supports the API generations V7 (default), V6 and V8. In V7 the order takes its root domain, challenge
    type and SAN setting from the portal's record of the certificate; O(root_domain), O(challenge_type),
    O(san) and O(email) are then only checked, not sent.
  - Requests made - one read of the certificate (none with O(force=true)), plus one order creation when an
    order is due. Creating an order is never retried after it may have reached the service.
  - With O(service=certifire), reads the service's certificates (one request) and, when one is due, finds or
    creates the ACME account of O(acme_account_email) and posts the order (two more). The service validates
    through its own DNS provider (O(certifire_provider)), so RV(challenge_data) is empty. A renewal re-posts the
    identical order, and so does O(force=true) for a certificate that is not due; only with O(certifire_reissue=true)
    as well does it send Certifire's reissue (C(COPY)), which revokes the live certificate before the new one exists,
    and warns.
  - With O(service=servertastic), reads the last issued order of the name (one request; none when the state file
    holds none). When one is due, generates a key and CSR on the controller, an order token (which costs points)
    under a unique reference, places the order with O(product_code), O(contacts) and O(challenge_type) and reads
    its validation data (three more). The token and key are kept sealed in O(state_dir), so an order that is not
    finished is resumed by the next run without a new token (RV(resumed)). RV(challenge_data) holds the TXT value
    (on the base domain) or the file under C(.well-known/pki-validation/); for V(email), RV(approval) names the
    approver.
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
      - Check mode reads the certificate and predicts RV(ignore:changed); it never creates an order.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Once the new certificate is issued, a second run finds it valid and creates nothing.
options:
  certificate_name:
    description:
      - The certificate's host name as shown in the portal, for example V(www.example.com) or V(*.example.com).
    type: str
    required: true
  root_domain:
    description:
      - The registered domain the certificate belongs to, for example V(example.com).
      - Sent by V6 and V8. When not given, the registrable domain of O(certificate_name) by the Public Suffix
        List (V(shop.co.uk) for V(www.shop.co.uk)); with V7, the portal's root domain of the certificate when
        it has one.
      - DNS validation records are named relative to it.
    type: str
  challenge_type:
    description:
      - How the order is validated. V(http) cannot validate wildcards.
      - Needed by V6 and V8 to create an order.
      - V(https) (a file served over HTTPS) and V(email) (a person approves) only with O(service=servertastic),
        where V(dns) is the default. Not used with O(service=certifire), which validates by itself.
    type: str
    choices: [dns, http, https, email]
  san:
    description:
      - Order a SAN certificate. The name must be the apex (equal to O(root_domain)); an HTTP SAN certificate
        covers the apex and C(www.), a DNS SAN certificate the apex and the wildcard.
    type: bool
    default: false
  email:
    description:
      - Contact address sent with V6 and V8 orders.
    type: str
  remaining_days:
    description:
      - Create an order when the certificate expires within this many days.
    type: int
    default: 30
  force:
    description:
      - Create an order whatever the state of the certificate, without reading it first.
    type: bool
    default: false
seealso:
  - module: rcl.ssl.rcl_order_info
  - module: rcl.ssl.rcl_finalize
  - module: rcl.ssl.rcl_cert_fetch
  - module: community.crypto.acme_certificate_order_create
"""

EXAMPLES = r"""
- name: Start an order for www.example.com when it is due
  rcl.ssl.rcl_order:
    certificate_name: www.example.com
    subscription_id: "{{ rcl_subscription_id }}"
    api_key: "{{ rcl_api_key }}"
  delegate_to: localhost
  register: order

- name: Create the DNS-01 records (one record set per name, several values for SAN orders)
  community.general.nsupdate:
    server: 192.0.2.53   # an IP address: nsupdate does not resolve names
    zone: example.com
    record: "{{ item.key }}."
    type: TXT
    value: "{{ item.value }}"
    key_name: acme
    key_secret: "{{ tsig_secret }}"
    key_algorithm: hmac-sha256
  loop: "{{ order.challenge_data_dns | dict2items }}"
  when: order is changed

- name: Validate and issue
  rcl.ssl.rcl_finalize:
    certificate_name: www.example.com
    order_uri: "{{ order.order_uri }}"
    subscription_id: "{{ rcl_subscription_id }}"
    api_key: "{{ rcl_api_key }}"
  delegate_to: localhost
  when: order is changed

- name: Renew a V6 wildcard certificate now
  rcl.ssl.rcl_order:
    api_version: v6
    certificate_name: "*.example.com"
    challenge_type: dns
    email: hostmaster@example.com
    force: true
  delegate_to: localhost
  register: order

- name: Order from a Certifire service, which validates through its own Route 53 access
  rcl.ssl.rcl_order:
    service: certifire
    api_url: https://certifire.example.com
    api_username: ansible
    api_password: "{{ vault_certifire_password }}"
    acme_account_email: hostmaster@example.com
    certificate_name: www.example.com
  delegate_to: localhost
  register: certifire_order

- name: Order a RapidSSL certificate from Servertastic, validated by a file on the web server
  rcl.ssl.rcl_order:
    service: servertastic
    api_key: "{{ vault_servertastic_reseller_key }}"
    certificate_name: www.example.com
    product_code: RapidSSL-12
    challenge_type: http
    contacts:
      tech: {first_name: Ada, last_name: Lovelace, phone: "+44 20 7946 0000", email: ada@example.com, title: Ops}
      admin: {first_name: Alan, last_name: Turing, phone: "+44 20 7946 0001", email: alan@example.com, title: CTO}
  delegate_to: localhost
  register: servertastic_order

- name: Serve the validation file (challenge_data has the shape of an RCL order's)
  ansible.builtin.copy:
    dest: "/var/www/html/{{ item.challenges['http-01'].resource }}"
    content: "{{ item.challenges['http-01'].resource_value }}"
    mode: "0644"
  loop: "{{ servertastic_order.challenge_data | default([]) }}"
"""

RETURN = r"""
reason:
  description: Why an order was (or would be) created, or why not.
  returned: always
  type: str
  sample: expires in 12 days (threshold 30)
service:
  description: The ordering system, when it is not RCL SSL.
  returned: with O(service=certifire) or O(service=servertastic)
  type: str
  sample: servertastic
resumed:
  description: Whether the order is one an earlier run started and did not finish (Servertastic), resumed without a new token.
  returned: with O(service=certifire) or O(service=servertastic), when an order was created or resumed
  type: bool
approval:
  description: For O(challenge_type=email) (Servertastic), who approves the order; nothing is published.
  returned: when the order waits for an e-mail approval
  type: dict
  sample: {"approver_email": "admin@example.com", "notified": null}
order_uri:
  description:
    - The ACME order URL that identifies the order; pass it to M(rcl.ssl.rcl_finalize).
    - With O(service=certifire) the service's order URL (its fragment records the certificate it replaces); with
      O(service=servertastic) V(servertastic:<reference>) (the order token stays in the state file).
  returned: when an order was created
  type: str
  sample: https://acme-v02.api.letsencrypt.org/acme/order/116443104/10567267084
order:
  description: The order.
  returned: when an order was created
  type: dict
  contains:
    status:
      description: V(pending), V(ready), V(processing), V(valid) or V(invalid).
      type: str
      sample: pending
    order_uri:
      description: The order URL.
      type: str
    certificate_uri:
      description: The certificate URL once the order is valid, otherwise V(null).
      type: str
    service_status:
      description: The service's own status word (Certifire, Servertastic), for example V(Awaiting Customer Verification).
      type: str
      returned: with O(service=certifire) or O(service=servertastic)
    reference:
      description: The reseller's unique reference of the order (Servertastic).
      type: str
      returned: with O(service=servertastic)
    order_id:
      description: The service's order id (Certifire).
      type: int
      returned: with O(service=certifire)
validation_tokens:
  description: The validation tokens as the API gave them, with snake_case keys.
  returned: when an order was created
  type: list
  elements: dict
  contains:
    token_name:
      description: DNS record name relative to the root domain, or the HTTP token.
      type: str
      sample: _acme-challenge.www
    token_value:
      description: TXT value or HTTP body.
      type: str
    challenge_type:
      description: V(dns) or V(http).
      type: str
    domain:
      description: The host name the token validates, when the API says.
      type: str
challenge_data:
  description: For every identifier, what to publish. Same shape as M(community.crypto.acme_certificate_order_create).
  returned: when an order was created
  type: list
  elements: dict
  contains:
    identifier:
      description: The name validated.
      type: str
      sample: www.example.com
    identifier_type:
      description: Always V(dns).
      type: str
    challenges:
      description:
        - One key, the challenge type V(dns-01) or V(http-01), as in M(community.crypto.acme_certificate)'s C(challenge_data).
          Jinja reaches such a key with brackets only, for example C(item.challenges['dns-01'].record).
        - For V(dns-01), a dictionary with C(record), the TXT record's FQDN; C(resource), the record name relative to
          the root domain, as the API gave it; and C(resource_value), the TXT value.
        - For V(http-01), a dictionary with C(resource), the path below the web root
          (C(.well-known/acme-challenge/<token>)); and C(resource_value), the body to serve.
      type: dict
      sample:
        dns-01:
          record: _acme-challenge.www.example.com
          resource: _acme-challenge.www
          resource_value: hW9A7-hOZw1WQxLaxZbZRtrn5r3Tq9ufJ5IYxCODB3w
challenge_data_dns:
  description: TXT values per DNS record FQDN. The two values of a SAN order share one record.
  returned: when an order was created
  type: dict
  sample: {"_acme-challenge.example.com": ["value-for-apex", "value-for-wildcard"]}
certificate:
  description: Metadata of the certificate the subscription holds; the PEM facts when the PKCS#12 could be read.
  returned: when the certificate was read and exists
  type: dict
  contains:
    name: {description: Certificate name., type: str}
    id: {description: "Portal id (RCL SSL), certificate id (Certifire) or order reference (Servertastic).", type: raw}
    root_domain: {description: Root domain., type: str}
    challenge_type: {description: V(dns) or V(http)., type: str}
    issue_date: {description: ISO 8601 UTC., type: str}
    expiry_date: {description: ISO 8601 UTC., type: str, sample: "2023-11-27T04:53:07Z"}
    days_remaining: {description: Whole days until expiry., type: int}
    serial: {description: Serial number in colon hex., type: str, returned: when the PKCS#12 could be read}
    sans: {description: Subject alternative names., type: list, elements: str, returned: when the PKCS#12 could be read}
    issuer: {description: Issuer DN., type: str, returned: when the PKCS#12 could be read}
    not_before: {description: ISO 8601 UTC., type: str, returned: when the PKCS#12 could be read}
    not_after: {description: ISO 8601 UTC., type: str, returned: when the PKCS#12 could be read}
    fingerprint_sha256: {description: SHA-256 fingerprint in colon hex., type: str, returned: when the PKCS#12 could be read}
"""

from ansible_collections.rcl.ssl.plugins.module_utils._common import RclModule, certificate_result, order_result


def run(m: RclModule) -> dict:
    p = m.params
    if m.service != "rcl":
        c = m.service_client
        c.refuse_rcl_options(root_domain=p["root_domain"], san=p["san"], email=p["email"])
        req = c.request(p["certificate_name"], p["challenge_type"], m.service_options)
        return c.ensure_order(req, p["remaining_days"], p["force"], m.check_mode)
    request = m.client.order_request(p["certificate_name"], p["root_domain"], p["challenge_type"], p["san"], p["email"])
    outcome = m.client.ensure_order(request, p["remaining_days"], p["force"], m.check_mode)
    result: dict = dict(changed=outcome.changed, reason=outcome.reason)
    if outcome.certificate is not None:
        result["certificate"] = certificate_result(outcome.certificate)
    if outcome.order is not None:
        result.update(order_result(outcome.order, outcome.root_domain))
    return result


def main() -> None:
    RclModule(dict(
        certificate_name=dict(type="str", required=True),
        root_domain=dict(type="str"),
        challenge_type=dict(type="str", choices=["dns", "http", "https", "email"]),
        san=dict(type="bool", default=False),
        email=dict(type="str"),
        remaining_days=dict(type="int", default=30),
        force=dict(type="bool", default=False),
    ), needs_public_suffix_list=True).run(run)


if __name__ == "__main__":
    main()
