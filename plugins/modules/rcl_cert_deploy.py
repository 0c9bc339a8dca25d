#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rcl_cert_deploy
short_description: Check and deploy all the certificates of a host in one run, each as a unit
version_added: 0.1.0
description:
  - Runs on the managed host with Python's standard library only, and makes no API request.
  - For every certificate in O(certificates) it checks the deployed files against the B(deployment record)
    written with them (C(.<file name>.rcl.json) beside the certificate or full chain file, mode C(0600)),
    which holds the SHA-256 of every file of the set and the facts of the leaf (names, serial, validity)
    that were checked on the controller before the set was deployed. Private keys are read on the host
    only, to hash them; they never leave it.
  - A certificate B(needs content) when a file is missing, changed or not part of the last deployment, there is
    no record, the certificate does not cover every name in C(names), it expires within O(remaining_days), or
    O(force=true). It is reported in RV(needs_content), and nothing of it is changed.
  - A certificate whose files are intact gets its owner, group and mode fixed in place when they drifted (no
    new content, so no API request is ever needed for that), and its leftovers of a killed run removed.
  - A certificate with O(material) is written as B(one set) - files and record together, all-or-nothing, through
    temporary files renamed into place, rolled back if a step fails - unless the files already hold exactly that
    material. After any failure each certificate is entirely old or entirely new; what a killed run leaves is
    repaired by the next run (the check sees the set is not the recorded one, and temporary files are removed).
  - The action plugin reads O(material_dir) on the controller (as written by M(rcl.ssl.rcl_obtain)) and hands the
    material of the certificates listed there to the host in the module arguments (the key and PFX in O(keys),
    which is C(no_log)).
author:
  - rcl.ssl maintainers (@rcl-ssl)
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the target.
    support: full
    details:
      - Reports what would be fixed or written; touches nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details:
      - Per changed certificate, the deployed and the new serial, names and validity, and the mode, owner and group
        of the files that change. Never file content.
  idempotent:
    description: When run twice in a row with the same arguments, the second run indicates no change.
    support: full
  action:
    description: Indicates this has a corresponding action plugin so some parts of the work happen on the controller.
    support: full
    details:
      - The action plugin reads O(material_dir) on the controller.
  safe_file_operations:
    description: Uses Ansible's strict file operation functions to ensure proper permissions and avoid data corruption.
    support: full
    details:
      - The collection's own writer - temporary file with the final owner and mode set before any byte is written,
        fsync, rename, directory locks; see the description.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
options:
  certificates:
    description:
      - The certificates this host holds.
      - The role P(rcl.ssl.rcl_certificate#role) builds this list with P(rcl.ssl.certificate_spec#filter) (its C(deploy) key).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The certificate's name (as in the service).
        type: str
        required: true
      names:
        description: The names the certificate must cover. Defaults to O(certificates[].name).
        type: list
        elements: str
      files:
        description:
          - The files of the certificate. Any kind may be left out, but one of C(certificate) and C(fullchain) is
            needed (the deployment record sits beside it).
        type: list
        elements: dict
        required: true
        suboptions:
          kind:
            description: What the file holds. V(privatekey) is the PEM key, V(pfx) a PKCS#12 file.
            type: str
            required: true
            choices: [certificate, chain, fullchain, privatekey, pfx]
          path:
            description: The absolute path. Its directory must exist or be listed in O(certificates[].directories).
            type: path
            required: true
          mode:
            description: The file's mode (octal string or symbolic). Without it a new file gets C(0666) minus the umask.
            type: raw
      owner:
        description: Owner of every file of the certificate.
        type: str
      group:
        description: Group of every file of the certificate.
        type: str
      backup:
        description:
          - Keep a copy of each replaced file, named like Ansible's backups (C(<path>.<pid>.<date>~)). Copies of the
            key and the PFX get mode C(0600).
          - At most O(backup_keep) copies per file are kept; older ones are removed.
        type: bool
        default: false
      directories:
        description:
          - Directories created (parents first) before the files are written, each with an optional C(mode),
            which an existing directory also gets.
        type: list
        elements: dict
        suboptions:
          path:
            description: The directory.
            type: path
            required: true
          mode:
            description: Its mode.
            type: raw
  material:
    description:
      - Per certificate name, the public material to deploy - keys C(certificate), C(chain), C(fullchain) (PEM texts)
        for the kinds the certificate's files use, and C(facts) (C(sans), C(not_after) as C(YYYY-MM-DDTHH:MM:SSZ),
        C(serial), C(not_before), C(fingerprint_sha256), C(issuer), C(subject)) as read on the controller.
      - The caller vouches for the material (key matching the leaf, chain in order); M(rcl.ssl.rcl_obtain) checks it
        before it writes O(material_dir).
      - Mutually exclusive with O(material_dir).
    type: dict
  keys:
    description:
      - Per certificate name of O(material), the secret material - C(privatekey) (PEM text) and C(pfx) (base64) for
        the kinds the certificate's files use. Never logged or returned.
      - Kept apart from O(material) so that masking the secrets does not mask the names and dates of the results.
      - Mutually exclusive with O(material_dir).
    type: dict
  material_dir:
    description:
      - A directory on the B(controller) written by M(rcl.ssl.rcl_obtain) - C(<material_dir>/<name>/) holding
        C(cert.pem), C(chain.pem), C(fullchain.pem), C(privkey.pem), C(cert.pfx) and C(facts.json), where C(<name>) is
        the certificate name with C(*) written C(_wildcard).
      - The material of every certificate of O(certificates) found there is deployed; the others are only checked.
    type: path
  remaining_days:
    description: A deployed certificate that expires within this many days needs content.
    type: int
    default: 30
  force:
    description: Every certificate without material needs content.
    type: bool
    default: false
  backup_keep:
    description: How many backups to keep per file when O(certificates[].backup=true).
    type: int
    default: 1
  lock_timeout:
    description: How long to wait, in seconds, for another run writing the same directories.
    type: int
    default: 30
notes:
  - Certificates are handled in the order given. One that fails is left as it was (each is all-or-nothing) and
    the others are still done; the module then fails with every failure in its message, and still returns
    RV(content_changed) so that the caller can reload what did change.
  - The module never parses a certificate or key. Files written by another tool (no deployment record) need
    content once; from then on they are checked by their record.
seealso:
  - module: rcl.ssl.rcl_obtain
  - module: rcl.ssl.rcl_cert_fetch
  - plugin: rcl.ssl.certificate_spec
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Describe the certificate of this host
  ansible.builtin.set_fact:
    my_certificates:
      - name: www.example.com
        names: [www.example.com]
        files:
          - {kind: fullchain, path: /etc/nginx/tls/www.example.com/fullchain.pem, mode: "0644"}
          - {kind: privatekey, path: /etc/nginx/tls/www.example.com/privkey.pem, mode: "0600"}
        owner: root
        group: root
        backup: true
        directories:
          - {path: /etc/nginx/tls/www.example.com, mode: "0755"}

- name: Check what this host has (one module run, no API request) and fix owner/group/mode drift
  rcl.ssl.rcl_cert_deploy:
    certificates: "{{ my_certificates }}"
    remaining_days: 30
  register: deployed

- name: Make a private directory on the controller for the material
  ansible.builtin.tempfile:
    state: directory
  register: material
  delegate_to: localhost
  when: deployed.needs_content | length > 0

- name: Obtain the material of what needs it, on the controller
  rcl.ssl.rcl_obtain:
    step: order
    certificates:
      - name: www.example.com
        challenge_type: http
    material_dir: "{{ material.path }}"
  delegate_to: localhost
  when: deployed.needs_content | length > 0
  register: obtained
  # then publish the challenges of obtained.certificates[].challenge_data and run step=finish when an order was
  # started; see the role rcl.ssl.rcl_certificate for the whole flow

- name: Deploy it, the certificate's files as one set, at most two backups per file
  rcl.ssl.rcl_cert_deploy:
    certificates: "{{ my_certificates }}"
    material_dir: "{{ material.path }}"
    backup_keep: 2
  when: deployed.needs_content | length > 0
  notify: Reload nginx
"""

RETURN = r"""
certificates:
  description: One entry per certificate, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The certificate's name.
      type: str
    needs_content:
      description: Whether new material is needed (and was not given).
      type: bool
    reasons:
      description: Why it needs content, one sentence each; empty otherwise.
      type: list
      elements: str
    changed:
      description: Whether anything of this certificate changed (or would change in check mode).
      type: bool
    content_changed:
      description: Whether new content was written (or would be).
      type: bool
    deployed:
      description: Facts of the deployed certificate from its record (after the run), empty when none.
      type: dict
      contains:
        serial:
          description: Serial number in colon hex.
          type: str
        sans:
          description: The names it covers.
          type: list
          elements: str
        not_before:
          description: Start of validity, ISO 8601 UTC.
          type: str
        not_after:
          description: End of validity, ISO 8601 UTC.
          type: str
        days_remaining:
          description: Whole days until it expires.
          type: int
    files:
      description: The files, when the certificate was not left for new content.
      type: list
      elements: dict
      contains:
        path:
          description: The file.
          type: str
        changed:
          description: Whether its content or attributes changed.
          type: bool
        backup_file:
          description: The backup made of it, if any.
          type: str
    backups_removed:
      description: Backups removed to keep O(backup_keep) per file.
      type: list
      elements: str
    error:
      description: Why this certificate failed (its files are as they were); null when it did not.
      type: str
  sample:
    - name: www.example.com
      needs_content: false
      reasons: []
      changed: false
      content_changed: false
      deployed: {serial: "04:A1", sans: [www.example.com], not_after: "2027-03-01T10:00:00Z", days_remaining: 80}
      files: [{path: /etc/ssl/rcl/www.example.com/cert.pem, changed: false, backup_file: null}]
      backups_removed: []
      error: null
needs_content:
  description: The names of the certificates that need new material.
  returned: always
  type: list
  elements: str
  sample: [api.example.com]
content_changed:
  description:
    - The names of the certificates whose files got new content (for handlers that reload services).
    - Also returned when the module fails because some certificates failed; those that succeeded are listed.
  returned: always
  type: list
  elements: str
  sample: [www.example.com]
failures:
  description: The names of the certificates that failed (their files are as they were). The module then fails.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclError, terminal_safe
from ansible_collections.rcl.ssl.plugins.module_utils._hostdeploy import converge, parse_entries, parse_material


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            certificates=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                names=dict(type="list", elements="str"),
                files=dict(type="list", elements="dict", required=True, options=dict(
                    kind=dict(type="str", required=True,
                              choices=["certificate", "chain", "fullchain", "privatekey", "pfx"]),
                    path=dict(type="path", required=True),
                    mode=dict(type="raw"),
                )),
                owner=dict(type="str"),
                group=dict(type="str"),
                backup=dict(type="bool", default=False),
                directories=dict(type="list", elements="dict", options=dict(
                    path=dict(type="path", required=True),
                    mode=dict(type="raw"),
                )),
            )),
            material=dict(type="dict"),
            keys=dict(type="dict", no_log=True),
            material_dir=dict(type="path"),
            remaining_days=dict(type="int", default=30),
            force=dict(type="bool", default=False),
            backup_keep=dict(type="int", default=1),
            lock_timeout=dict(type="int", default=30),
        ),
        mutually_exclusive=[("material", "material_dir"), ("keys", "material_dir")],
        supports_check_mode=True,
    )
    p = module.params
    if p["material_dir"]:
        module.fail_json(msg="material_dir is read on the controller by the rcl.ssl.rcl_cert_deploy action plugin; "
                             "call the module by that name, not through another action")
    if p["backup_keep"] < 0 or p["lock_timeout"] < 0:
        module.fail_json(msg="backup_keep and lock_timeout must be 0 or more")
    try:
        entries = parse_entries(p["certificates"])
        material = parse_material(p["material"], entries, p["keys"])
    except RclError as exc:
        module.fail_json(**exc.to_result())
    outcomes = converge(entries, material, remaining_days=p["remaining_days"], force=p["force"],
                        backup_keep=p["backup_keep"], check_mode=module.check_mode, diff=module._diff,
                        lock_timeout=float(p["lock_timeout"]))
    result = dict(
        changed=any(o.changed for o in outcomes),
        certificates=[o.to_result() for o in outcomes],
        needs_content=[o.name for o in outcomes if o.needs_content],
        content_changed=[o.name for o in outcomes if o.content_changed],
        failures=[o.name for o in outcomes if o.error],
    )
    diffs = [o.diff for o in outcomes if o.diff]
    if diffs:
        result["diff"] = diffs
    errors = [terminal_safe(o.error) for o in outcomes if o.error]
    if errors:
        module.fail_json(msg="; ".join(errors), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
