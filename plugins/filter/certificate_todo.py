# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: certificate_todo
short_description: Collect, across the hosts of a play, the certificate names that need new material
version_added: 0.1.0
author:
  - rcl.ssl contributors
description:
  - Takes the play's hosts and C(hostvars), and reads for each host the certificate entries the role described
    (C(__rcl_certificate_specs), from P(rcl.ssl.certificate_spec#filter)) and the result of its check
    (C(__rcl_certificate_check), from M(rcl.ssl.rcl_cert_deploy)).
  - Returns each name that needs new material on at least one host, once, however many hosts share it - in the
    shape M(rcl.ssl.rcl_obtain) takes - and the entries the challenge steps need.
  - Hosts without a check result (failed, unreachable, skipped) are left out.
  - A name must have the same C(root_domain), C(challenge_type) and C(san) on every host that needs it (one name,
    one order); otherwise the filter fails.
  - Reads two variables per host, once - meant to run once per play (C(run_once=true)), so the cost grows
    linearly with the hosts.
options:
  _input:
    description: The hosts (C(ansible_play_hosts)).
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
  specs_var:
    description: The variable holding a host's entries.
    type: str
    default: __rcl_certificate_specs
  check_var:
    description: The variable holding a host's check result.
    type: str
    default: __rcl_certificate_check
seealso:
  - module: rcl.ssl.rcl_cert_deploy
  - module: rcl.ssl.rcl_obtain
"""

EXAMPLES = r"""
---
- name: Collect the names to obtain
  ansible.builtin.set_fact:
    todo: "{{ ansible_play_hosts | rcl.ssl.certificate_todo(hostvars) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: What to obtain.
  type: dict
  contains:
    obtain:
      description: One entry per name, as O(rcl.ssl.rcl_obtain#module:certificates) takes it.
      type: list
      elements: dict
      contains:
        name:
          description: The certificate name.
          type: str
        root_domain:
          description: Its root domain.
          type: str
        challenge_type:
          description: V(dns) or V(http) (Servertastic also V(https), V(email); V(null) with Certifire).
          type: str
        san:
          description: Whether it is a SAN certificate.
          type: bool
        service:
          description: The ordering system of the name (V(rcl), V(certifire), V(servertastic)).
          type: str
        product_code:
          description: The entry's own Servertastic product, when it sets one.
          type: str
          returned: when set
        approver_email:
          description: The entry's own Servertastic approver, when it sets one.
          type: str
          returned: when set
        pfx:
          description: Whether any host that needs it deploys a PFX file for it.
          type: bool
    specs:
      description: The normalized entry of each name (the first host's), for the challenge steps.
      type: list
      elements: dict
    hosts:
      description: Per name, the hosts that need it.
      type: dict
      sample: {"www.example.com": ["web1", "web2"]}
"""

import typing as t

from ansible.errors import AnsibleFilterError

_SAME = ("service", "service_options", "root_domain", "challenge_type", "san")


def _get(variables: t.Any, name: str) -> t.Any:
    try:
        return variables[name]
    except (KeyError, TypeError):
        return None
    except Exception:  # pylint: disable=broad-except  # an undefined variable of another role's host
        return None


def certificate_todo(hosts: t.Any, hostvars: t.Any, specs_var: str = "__rcl_certificate_specs",
                     check_var: str = "__rcl_certificate_check") -> dict[str, t.Any]:
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("certificate_todo: the input must be the list of the play's hosts")
    found: dict[str, dict[str, t.Any]] = {}
    pfx: dict[str, bool] = {}
    needed_by: dict[str, list[str]] = {}
    for host in hosts:
        try:
            variables = hostvars[host]
        except (KeyError, TypeError):
            continue
        check = _get(variables, check_var)
        if not isinstance(check, dict) or check.get("failed") or check.get("skipped"):
            continue
        needs = set(check.get("needs_content") or [])
        if not needs:
            continue
        for spec in _get(variables, specs_var) or []:
            if not isinstance(spec, dict) or spec.get("name") not in needs:
                continue
            name = spec["name"]
            known = found.setdefault(name, spec)
            for key in _SAME:
                if known.get(key) != spec.get(key):
                    raise AnsibleFilterError(
                        "certificate_todo: certificate %s has %s %r on one host and %r on %s; one name, one order"
                        % (name, key, known.get(key), spec.get(key), host))
            pfx[name] = pfx.get(name, False) or bool(spec.get("pfx"))
            needed_by.setdefault(name, []).append(str(host))
    return dict(
        obtain=[dict(name=name, root_domain=spec.get("root_domain"), challenge_type=spec.get("challenge_type"),
                     san=bool(spec.get("san")), pfx=pfx[name], service=spec.get("service") or "rcl",
                     **(spec.get("service_options") or {}))
                for name, spec in found.items()],
        specs=list(found.values()),
        hosts=needed_by,
    )


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"certificate_todo": certificate_todo}
