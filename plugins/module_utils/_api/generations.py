# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The API generations this collection speaks, by ``api_version``. Adding one: a new ``vN.py`` and a line here."""

from __future__ import annotations

from ansible_collections.rcl.ssl.plugins.module_utils._api.base import ApiAdapter
from ansible_collections.rcl.ssl.plugins.module_utils._api.v6 import V6Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._api.v7 import V7Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._api.v8 import V8Adapter
from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclInputError

__all__ = ["DEFAULT_VERSION", "GENERATIONS", "generation"]

GENERATIONS: dict[str, type[ApiAdapter]] = {cls.version: cls for cls in (V6Adapter, V7Adapter, V8Adapter)}
DEFAULT_VERSION = V7Adapter.version


def generation(api_version: str | None) -> type[ApiAdapter]:
    """The generation of that ``api_version`` (the default when None)."""
    version = (api_version or DEFAULT_VERSION).strip().lower() if isinstance(api_version, (str, type(None))) else ""
    if version not in GENERATIONS:
        raise RclInputError(
            "api_version must be one of %s, not %r" % (", ".join(sorted(GENERATIONS)), str(api_version)[:20]),
            api_version=str(api_version)[:20],
        )
    return GENERATIONS[version]
