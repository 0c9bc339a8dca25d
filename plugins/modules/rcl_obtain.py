#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rcl_obtain
short_description: Obtain the certificates of many names in two steps, the material written to a controller directory
version_added: 0.1.0
description:
  - Obtains the certificate material of many names with one module run per step and the fewest API requests,
    and writes it only into O(material_dir) on the controller, never into the result.
  - O(step=order) reads each certificate once (not with O(force=true)). A certificate that is not due has its
    material written from that same reply. For one that is missing, expires within O(remaining_days) or is forced,
    an order is started and the challenges to publish are returned, in the shape of M(rcl.ssl.rcl_order).
  - O(step=finish) takes the RV(certificates) that O(step=order) returned as O(orders), validates and finalizes
    each order that was started, and writes the material of the issued certificate. What O(step=order) read of
    the certificate held before (RV(certificates[].previous)) spares the read that M(rcl.ssl.rcl_finalize) makes
    before finalizing.
  - For each name whose material is written, the directory C(<material_dir>/<name>/) (mode C(0700); C(*) in a
    name becomes C(_wildcard)) holds C(cert.pem), C(chain.pem), C(fullchain.pem), C(privkey.pem), C(cert.pfx)
    (only for entries with C(pfx=true)) and C(facts.json), each mode C(0600). C(facts.json) holds the leaf's
    public facts C(name), C(serial), C(sans), C(not_before), C(not_after) (ISO 8601 UTC ending in C(Z)),
    C(fingerprint_sha256), C(issuer) and C(subject). The material is checked first (the key belongs to the
    leaf, the chain is in order, the leaf is valid and covers the name). A name's directory is written under a
    temporary name and renamed into place, so it is complete or absent; an earlier one of the same name is
    replaced.
  - Names are handled one after the other, in the order given. A failure stops the run with the API's message;
    the names done before it keep their material in O(material_dir) (the role C(rcl.ssl.rcl_certificate)
    removes the directory whatever happens) and orders started before it are listed in the failure's C(ordered).
  - Supports the API generations V7 (default), V6 and V8, and the other ordering systems (O(service)). With
    O(service=certifire) the service validates by itself (RV(certificates[].challenge_data) stays empty) and holds
    the key; with O(service=servertastic) the key is made on the controller, an unfinished order of a name is
    resumed (RV(certificates[].resumed)) instead of paying for a new token, and RV(certificates[].challenge_data)
    holds the TXT value or the C(.well-known/pki-validation/) file. With both, C(cert.pfx) is made here under
    O(pfx_password) (unencrypted without one), and an entry's C(root_domain) only names the DNS zone of its records.
author:
  - rcl.ssl maintainers (@rcl-ssl)
requirements:
  - cryptography >= 3.3 (to read the PKCS#12 and check the material)
  - publicsuffixlist >= 1.0 (to derive the root domain from the Public Suffix List)
extends_documentation_fragment:
  - rcl.ssl.rcl
  - rcl.ssl.rcl.SERVICES
  - rcl.ssl.rcl.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details:
      - Check mode makes only the reads, creates no order, finalizes nothing and writes nothing.
        RV(certificates[].ordered) and RV(certificates[].material) say what would be done.
      - O(step=order) reads each certificate (none with O(force=true)). O(step=finish) takes the result of
        O(step=order) in check mode (no order URIs) and predicts without a request; with real orders it makes no
        request with V7 and V8 (one read per name when O(step=order) read nothing) and reads the order with V6.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - O(step=order) orders only what is due; once the new certificates are issued, a second run orders
        nothing and only writes their material again.
      - O(step=finish) must run once per O(step=order). With V7 and V8 it does not read the certificate before
        finalizing (what O(step=order) read stands in for it), so running it again with the same O(orders)
        finalizes again; use M(rcl.ssl.rcl_finalize), which reads first, to resume after a failure.
options:
  step:
    description:
      - V(order) - read each certificate, write the material of those that are not due, order the others.
      - V(finish) - finalize the orders of a run with O(step=order) and write their material.
    type: str
    required: true
    choices: [order, finish]
  certificates:
    description:
      - Required with O(step=order). One dictionary per name with the keys C(name) (required; the certificate's
        host name as shown in the portal), C(root_domain), C(challenge_type) (C(dns) or C(http)), C(san) (bool)
        and C(pfx) (bool, also write C(cert.pfx)). They mean what the options of the same names of
        M(rcl.ssl.rcl_order) mean.
      - C(service), when set, must be the run's O(service) (the role groups its names by service). With
        O(service=servertastic) an entry may set its own C(product_code) and C(approver_email).
      - Every entry is checked before the first request; an unknown key, a bad name, a name listed twice or an
        input the API generation needs and lacks is an error and nothing is sent.
    type: list
    elements: dict
  orders:
    description:
      - Required with O(step=finish). The RV(certificates) returned by O(step=order), as they are. Entries whose
        RV(certificates[].ordered) is false are skipped.
      - Every entry to finalize is checked before the first request.
    type: list
    elements: dict
  material_dir:
    description:
      - An existing directory on the controller that receives one directory per name (see the description).
        It is not created. Keep it private and remove it after use.
    type: path
    required: true
  remaining_days:
    description:
      - O(step=order) - order when the certificate expires within this many days.
    type: int
    default: 30
  force:
    description:
      - O(step=order) - order every name, without reading the certificates first.
      - O(step=finish) then reads each certificate once before finalizing (V7, V8), as M(rcl.ssl.rcl_finalize) does.
    type: bool
    default: false
  email:
    description:
      - Contact address sent with V6 and V8 orders and finalizations.
    type: str
  pfx_password:
    description:
      - Password of the C(cert.pfx) files written. When not set, C(cert.pfx) is the service's PKCS#12 as it is,
        under the portal's password.
      - V6 and V8 also send it when finalizing, as the password of the PKCS#12 the service keeps.
    type: str
  wait_timeout:
    description:
      - O(step=finish) - seconds the whole step may wait for validation and issuance, all names together (not
        each name). When it runs out, the run fails; the names finalized before keep their material.
      - With V7 the finalize call of each name is bounded by what is left of it, so it must be at least 1.
    type: int
    default: 300
notes:
  - "API requests, per name. A renewal (O(step=order) then O(step=finish)) costs V7: 3 (read, order, finalize -
    the finalize reply carries the certificate and its PKCS#12). V8: at least 4 (read, order, schedule, and the
    polls of the certificate until the new one shows, whose reply carries the PKCS#12; 3 if the schedule reply
    already carries it). V6: at least 7 (read, order; read the order, validate, poll the order until ready,
    finalize, poll while processing, read the certificate), plus one access token per module run."
  - A name whose certificate is not due costs exactly one request (the read, whose reply carries the PKCS#12);
    with V6 plus the run's access token.
  - With O(force=true), O(step=order) makes no read, and O(step=finish) makes one read per name with V7 and V8
    (the renewal still costs V7 3 requests).
  - Creating an order or finalizing is never retried after it may have reached the service.
seealso:
  - module: rcl.ssl.rcl_order
  - module: rcl.ssl.rcl_finalize
  - module: rcl.ssl.rcl_cert_fetch
  - module: rcl.ssl.rcl_cert_deploy
"""

EXAMPLES = r"""
- name: Create a private directory for the material
  ansible.builtin.tempfile:
    state: directory
    prefix: rcl_material.
  delegate_to: localhost
  register: material

- name: Take the material of what is good, order what is due
  rcl.ssl.rcl_obtain:
    step: order
    certificates:
      - name: www.example.com
      - name: example.com
        san: true
        challenge_type: dns
        pfx: true
    material_dir: "{{ material.path }}"
    subscription_id: "{{ rcl_subscription_id }}"
    api_key: "{{ rcl_api_key }}"
  delegate_to: localhost
  register: orders

- name: Publish the DNS-01 records (one record set per name, several values for SAN orders)
  community.general.nsupdate:
    server: 192.0.2.53   # an IP address: nsupdate does not resolve names
    zone: example.com
    record: "{{ item.key }}."
    type: TXT
    value: "{{ item.value }}"
    key_name: acme
    key_secret: "{{ tsig_secret }}"
    key_algorithm: hmac-sha256
  loop: "{{ orders.certificates | selectattr('ordered') | map(attribute='challenge_data_dns') | map('dict2items') | flatten }}"

- name: Validate, issue and take the material of the new certificates
  rcl.ssl.rcl_obtain:
    step: finish
    orders: "{{ orders.certificates }}"
    material_dir: "{{ material.path }}"
    subscription_id: "{{ rcl_subscription_id }}"
    api_key: "{{ rcl_api_key }}"
  delegate_to: localhost
  when: orders is changed
"""

RETURN = r"""
certificates:
  description:
    - One entry per name, in the order given (O(step=finish) - per entry of O(orders) that was ordered).
    - Never a private key, PFX, password, download URL or file path.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The certificate name, lower-cased.
      type: str
      sample: www.example.com
    ordered:
      description: Whether an order was started (in check mode - would be).
      returned: O(step=order)
      type: bool
    reason:
      description: Why an order was (or would be) started, or why not.
      returned: O(step=order)
      type: str
      sample: expires in 12 days (threshold 30)
    material:
      description: Whether the material was written to O(material_dir) (in check mode - would be).
      type: bool
    pfx:
      description: Whether C(cert.pfx) is written for this name (the entry's C(pfx)); O(step=finish) reads it.
      returned: O(step=order)
      type: bool
    order_uri:
      description: The ACME order URL, V(null) unless an order was started.
      returned: O(step=order)
      type: str
    root_domain:
      description: The root domain the DNS records are named relative to.
      returned: O(step=order)
      type: str
    challenge_type:
      description: V(dns), V(http), or V(null) when not given.
      returned: O(step=order)
      type: str
    challenge_data:
      description: What to publish, as RV(rcl.ssl.rcl_order#module:challenge_data) returns it; empty unless ordered.
      returned: O(step=order)
      type: list
      elements: dict
    challenge_data_dns:
      description: TXT values per DNS record FQDN, as RV(rcl.ssl.rcl_order#module:challenge_data_dns); empty unless ordered.
      returned: O(step=order)
      type: dict
      sample: {"_acme-challenge.www.example.com": ["hW9A7-hOZw1WQxLaxZbZRtrn5r3Tq9ufJ5IYxCODB3w"]}
    service:
      description: The ordering system, when it is not RCL SSL.
      returned: O(step=order) with O(service=certifire) or O(service=servertastic)
      type: str
    resumed:
      description: Whether the order is one an earlier run left unfinished (Servertastic), resumed without a new token.
      returned: O(step=order) with O(service=certifire) or O(service=servertastic)
      type: bool
    approval:
      description: Who approves an order validated by e-mail (Servertastic).
      returned: O(step=order), when an order waits for an e-mail approval
      type: dict
    previous:
      description:
        - For O(step=finish), what the read showed of the certificate held before the order; V(null) unless ordered.
        - C(known) is false when nothing was read (O(force=true)); C(exists) whether the subscription held one;
          C(order_uri) its order URL; C(issue_date) its issue date, ISO 8601 UTC to the microsecond.
      returned: O(step=order)
      type: dict
      sample: {"known": true, "exists": true, "order_uri": "https://acme-v02.api.letsencrypt.org/acme/order/1/2",
               "issue_date": "2023-08-29T04:53:07.447622Z"}
    changed:
      description: Whether the order was finalized by this run.
      returned: O(step=finish)
      type: bool
    status:
      description: The order's status at the end, V(valid) once issued.
      returned: O(step=finish)
      type: str
      sample: valid
    certificate:
      description:
        - Metadata of the certificate, as RV(rcl.ssl.rcl_order#module:certificate) - O(step=order) the one read,
          O(step=finish) the one issued; V(null) when none.
      type: dict
      sample: {"name": "www.example.com", "expiry_date": "2024-02-25T04:53:07Z", "days_remaining": 89,
               "serial": "03:A1", "sans": ["www.example.com"]}
changed:
  description:
    - O(step=order) - whether an order was started (in check mode - would be). Writing material into
      O(material_dir) is not a change.
    - O(step=finish) - whether an order was finalized.
  returned: always
  type: bool
pending:
  description:
    - O(step=finish) with O(service=certifire) or O(service=servertastic) - the names whose order was not issued
      when O(wait_timeout) ran out (an e-mail approval, a CA's moderation). They get no material and a warning; the
      others are finished all the same. The next run resumes a Servertastic order without a new token.
  returned: O(step=finish) with another service
  type: list
  elements: str
requests:
  description: The HTTP requests this run made (token requests and retries included).
  returned: always
  type: int
  sample: 3
"""

from ansible_collections.rcl.ssl.plugins.module_utils._common import RclModule
from ansible_collections.rcl.ssl.plugins.module_utils._obtain import (
    finish_step,
    order_step,
    service_finish_step,
    service_order_step,
)


def run(m: RclModule) -> dict:
    p = m.params
    if m.service != "rcl":
        c = m.service_client
        c.refuse_rcl_options(email=p["email"])
        if p["step"] == "order":
            return service_order_step(c, p["certificates"], p["material_dir"], m.service_options, p["remaining_days"],
                                      p["force"], p["pfx_password"], m.check_mode)
        return service_finish_step(c, p["orders"], p["material_dir"], m.service_options, p["pfx_password"],
                                   p["wait_timeout"], m.check_mode)
    if p["step"] == "order":
        return order_step(m.client, p["certificates"], p["material_dir"], p["remaining_days"], p["force"], p["email"],
                          p["pfx_password"], m.check_mode)
    return finish_step(m.client, p["orders"], p["material_dir"], p["email"], p["pfx_password"], p["wait_timeout"],
                       m.check_mode)


def main() -> None:
    RclModule(dict(
        step=dict(type="str", required=True, choices=["order", "finish"]),
        # Plain dicts, checked by the module_util: with sub-options, ansible-core prints the credentials when a
        # value cannot be converted (ansible/ansible#81672).
        certificates=dict(type="list", elements="dict"),
        orders=dict(type="list", elements="dict"),
        material_dir=dict(type="path", required=True),
        remaining_days=dict(type="int", default=30),
        force=dict(type="bool", default=False),
        email=dict(type="str"),
        pfx_password=dict(type="str", no_log=True),
        wait_timeout=dict(type="int", default=300),
    ), needs_cryptography=True, needs_public_suffix_list=True,
        required_if=[("step", "order", ["certificates"]), ("step", "finish", ["orders"])],
        mutually_exclusive=[("certificates", "orders")]).run(run)


if __name__ == "__main__":
    main()
