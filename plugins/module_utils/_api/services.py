# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The ordering systems this collection speaks, by ``service``. Adding one: a new unit and a line here."""

from __future__ import annotations

from ansible_collections.rcl.ssl.plugins.module_utils._api.certifire import CertifireService
from ansible_collections.rcl.ssl.plugins.module_utils._api.service import ServiceUnit
from ansible_collections.rcl.ssl.plugins.module_utils._api.servertastic import ServertasticService
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError

__all__ = ["DEFAULT_SERVICE", "SERVICES", "SERVICE_NAMES", "service_unit"]

#: ``rcl`` is RCL SSL itself: its API generations (``generations.py``) are chosen by ``api_version``.
DEFAULT_SERVICE = "rcl"
SERVICES: dict[str, type[ServiceUnit]] = {cls.service: cls for cls in (CertifireService, ServertasticService)}
SERVICE_NAMES = (DEFAULT_SERVICE,) + tuple(sorted(SERVICES))


def service_unit(service: str | None) -> type[ServiceUnit] | None:
    """The unit of that service; None for RCL SSL (the default)."""
    name = (service or DEFAULT_SERVICE).strip().lower() if isinstance(service, (str, type(None))) else ""
    if name == DEFAULT_SERVICE:
        return None
    if name not in SERVICES:
        raise RclInputError("service must be one of %s, not %r" % (", ".join(SERVICE_NAMES), str(service)[:20]))
    return SERVICES[name]
