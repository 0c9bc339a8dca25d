#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rcl_cert_fetch
short_description: Write a certificate, chain, key and PFX to files, atomically and only when changed
version_added: 0.1.0
description:
  - Reads the certificate from the RCL SSL API and writes any of the leaf, the intermediates, the full chain,
    the private key and a PKCS#12 (PFX) file.
  - Before anything is written it checks that the key matches the leaf, the chain is ordered, the leaf is valid
    now and names O(certificate_name). If a check fails nothing is written and the message says which check.
  - All files are written together - each to a temporary file in its directory with its final mode and owner
    set before content lands, then renamed into place. A failure before the renames leaves every file as it was.
    Only files whose content or attributes differ are touched.
  - Requests made - one certificate read; with O(source=download) one more download.
  - With O(service=certifire), takes the newest valid certificate that covers O(certificate_name) with its key
    (Certifire keeps the key; one request) and checks Certifire's fingerprint too. With O(service=servertastic),
    takes the leaf and CA certificates from the review of the name's last issued order and the key from the state
    file (the key never left the controller; one request). O(source) does not apply; a PFX is made here, encrypted
    with O(pfx_password) (without it, unencrypted).
author:
  - rcl.ssl maintainers (@rcl-ssl)
extends_documentation_fragment:
  - rcl.ssl.rcl
  - rcl.ssl.rcl.SERVICES
  - rcl.ssl.rcl.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the certificate and reports which files would change; it writes nothing.
  diff_mode:
    support: full
    details:
      - Shows the metadata of the deployed and the new certificate (subject, SANs, serial, issuer, validity).
        Never key material.
  idempotent:
    support: full
options:
  certificate_name:
    description: The certificate's host name as shown in the portal.
    type: str
    required: true
  certificate_path:
    description: Where to write the leaf certificate (PEM).
    type: path
  chain_path:
    description: Where to write the intermediate certificates (PEM), the leaf's issuer first.
    type: path
  fullchain_path:
    description: Where to write the leaf followed by the intermediates (PEM).
    type: path
  privatekey_path:
    description: Where to write the private key (PEM, PKCS#8, unencrypted). Mode O(privatekey_mode).
    type: path
  pfx_path:
    description:
      - Where to write a PKCS#12 (PFX) file with key, leaf and chain. Mode O(privatekey_mode).
      - Written as the service made it (protected by the service's password) unless O(pfx_password) is set.
    type: path
  pfx_password:
    description:
      - Re-encrypt the PFX written to O(pfx_path) with this password.
      - An existing file that holds the same key and certificates under this password is left alone.
    type: str
  owner:
    description: Owner of the written files (name or id).
    type: str
  group:
    description: Group of the written files (name or id).
    type: str
  mode:
    description: Mode of the certificate, chain and full chain files, as an octal string.
    type: raw
    default: '0644'
  privatekey_mode:
    description: Mode of the private key and PFX files, as an octal string.
    type: raw
    default: '0600'
  backup:
    description: Keep a timestamped copy of each file that is replaced.
    type: bool
    default: false
  follow:
    description:
      - When a destination is a symbolic link, replace the file it points to instead of the link, like
        O(ansible.builtin.copy#module:follow). A dangling link is then an error.
      - With V(false), the link itself is replaced by a regular file and its target is left alone.
      - Destinations are locked while they are written, so two runs writing the same files do not mix them.
    type: bool
    default: false
    version_added: 0.1.0
  source:
    description:
      - V(pfx) decodes the PKCS#12 carried in the certificate reply (one request, no download).
      - V(download) downloads the PFX from the reply's pre-signed link.
    type: str
    choices: [pfx, download]
    default: pfx
  return_content:
    description: Return the PEM certificate, chain and full chain in RV(content).
    type: bool
    default: false
  return_private_key:
    description:
      - Also return the private key in RV(content.private_key). B(Sensitive) - use C(no_log) on the task.
    type: bool
    default: false
notes:
  - The parent directories must exist.
  - Needs C(cryptography) where the module runs.
requirements:
  - cryptography >= 3.3
seealso:
  - module: rcl.ssl.rcl_finalize
  - module: community.crypto.x509_certificate_info
"""

EXAMPLES = r"""
- name: Deploy the certificate for nginx
  rcl.ssl.rcl_cert_fetch:
    certificate_name: www.example.com
    fullchain_path: /etc/ssl/rcl/www.example.com/fullchain.pem
    privatekey_path: /etc/ssl/rcl/www.example.com/privkey.pem
    owner: root
    group: www-data
    privatekey_mode: '0640'
  register: fetched
  notify: Reload nginx

- name: A PFX for IIS, re-encrypted with our own password
  rcl.ssl.rcl_cert_fetch:
    certificate_name: www.example.com
    pfx_path: /srv/export/www.example.com.pfx
    pfx_password: "{{ vault_pfx_password }}"
    backup: true
"""

RETURN = r"""
service:
  description: The ordering system, when it is not RCL SSL.
  returned: with O(service=certifire) or O(service=servertastic)
  type: str
certificate:
  description: Metadata of the fetched certificate, with the PEM facts (serial, SANs, issuer, validity, fingerprint).
  returned: success
  type: dict
  sample: {"name": "www.example.com", "serial": "04:45:85", "sans": ["www.example.com"], "not_after": "2024-02-25T04:53:07Z"}
files:
  description: One entry per requested file.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    changed:
      description: Whether content or attributes changed (or would change).
      type: bool
    backup_file:
      description: The backup taken, or V(null).
      type: str
backup_files:
  description: Backups taken, when O(backup=true) and files were replaced.
  returned: success
  type: list
  elements: str
content:
  description: The PEM material.
  returned: when O(return_content=true)
  type: dict
  contains:
    certificate: {description: The leaf., type: str}
    chain: {description: The intermediates., type: str}
    fullchain: {description: Leaf and intermediates., type: str}
    private_key: {description: The private key. Only with O(return_private_key=true)., type: str}
"""

from ansible_collections.rcl.ssl.plugins.module_utils._common import RclModule
from ansible_collections.rcl.ssl.plugins.module_utils._deploy import Targets, check_targets, deploy_bundle, deploy_certificate


def run(m: RclModule) -> dict:
    p = m.params
    if m.service != "rcl":
        c = m.service_client
        c.refuse_rcl_options(source=p["source"] if p["source"] != "pfx" else None)
        req = c.request(p["certificate_name"], None, m.service_options, ordering=False)
        targets = Targets.from_params(p)
        check_targets(targets, p["return_content"])
        cert, bundle = c.material(req)
        result = deploy_bundle(cert, bundle, None, None, req.certificate_name, targets, m.check_mode, m.diff,
                               p["return_content"], p["return_private_key"])
        result["service"] = c.service
        return result
    return deploy_certificate(m.client, p["certificate_name"], Targets.from_params(p), p["source"], m.check_mode,
                              m.diff, p["return_content"], p["return_private_key"])


def main() -> None:
    path = dict(type="path")
    RclModule(dict(
        certificate_name=dict(type="str", required=True),
        certificate_path=path, chain_path=path, fullchain_path=path, privatekey_path=path, pfx_path=path,
        pfx_password=dict(type="str", no_log=True),
        owner=dict(type="str"),
        group=dict(type="str"),
        mode=dict(type="raw", default="0644"),
        privatekey_mode=dict(type="raw", default="0600", no_log=False),
        backup=dict(type="bool", default=False),
        follow=dict(type="bool", default=False),
        source=dict(type="str", choices=["pfx", "download"], default="pfx"),
        return_content=dict(type="bool", default=False),
        return_private_key=dict(type="bool", default=False),
    ), needs_cryptography=True).run(run)


if __name__ == "__main__":
    main()
