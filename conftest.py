# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make this checkout importable as ``ansible_collections.rcl.ssl`` for plain pytest.

ansible-test wants the collection at ``.../ansible_collections/rcl/ssl``; a fresh
clone lives anywhere. We add a throwaway tree with a symlink to the checkout to
``sys.path``, so ``pytest`` works from the clone as it is.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile

_ROOT = os.path.dirname(os.path.abspath(__file__))


def _collection_root() -> str:
    parts = _ROOT.split(os.sep)
    if len(parts) >= 3 and parts[-3:-1] == ["ansible_collections", "rcl"] and parts[-1] == "ssl":
        return os.sep.join(parts[:-3])
    base = os.path.join(tempfile.gettempdir(), "rcl-ssl-pytest-%d" % os.getuid(), hashlib.sha256(_ROOT.encode()).hexdigest()[:12])
    link_dir = os.path.join(base, "ansible_collections", "rcl")
    link = os.path.join(link_dir, "ssl")
    os.makedirs(link_dir, exist_ok=True)
    if not (os.path.islink(link) and os.readlink(link) == _ROOT):
        tmp = link + ".%d" % os.getpid()
        os.symlink(_ROOT, tmp)
        os.replace(tmp, link)
    return base


_BASE = _collection_root()
if _BASE not in sys.path:
    sys.path.insert(0, _BASE)
# ansible_collections is a namespace package: make sure an already imported one sees us.
if "ansible_collections" in sys.modules:
    _path = getattr(sys.modules["ansible_collections"], "__path__", None)
    _entry = os.path.join(_BASE, "ansible_collections")
    if _path is not None and _entry not in list(_path):
        _path.append(_entry)
