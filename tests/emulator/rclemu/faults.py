"""Run-time fault injection and the request log."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

ENDPOINTS: tuple[str, ...] = (
    "token",
    "v7.get_certificate", "v7.create_order", "v7.finalize",
    "v6.create_order", "v6.get_order", "v6.validate", "v6.finalize",
    "v6.get_certificate", "v6.list_certificates", "v6.delete_certificate",
    "v8.create_order", "v8.schedule", "v8.get_certificate", "v8.delete_certificate",
    "download",
)
# The other ordering systems list their own endpoints (and where the semantic kinds take effect).
from .certifire import ENDPOINTS as _CERTIFIRE_ENDPOINTS, SEMANTIC_ENDPOINTS as _CERTIFIRE_SEMANTIC  # noqa: E402
from .servertastic import ENDPOINTS as _ST_ENDPOINTS, SEMANTIC_ENDPOINTS as _ST_SEMANTIC  # noqa: E402

ENDPOINTS = ENDPOINTS + tuple(_CERTIFIRE_ENDPOINTS) + tuple(_ST_ENDPOINTS)

# Kinds applied before the handler runs (any endpoint).
WIRE_KINDS = ("status", "rate_limit", "delay", "drop", "malformed_json")
# Kinds that change what the handler does, with the endpoints where they take effect.
PFX_ENDPOINTS = ("v7.get_certificate", "v7.finalize", "v6.get_certificate", "v8.get_certificate", "download")
ORDER_ENDPOINTS = ("v7.create_order", "v7.finalize", "v6.create_order", "v6.validate", "v8.create_order",
                   "v8.schedule")
SEMANTIC_KINDS = {
    "truncated_pfx": PFX_ENDPOINTS,
    "mismatched_key": PFX_ENDPOINTS,
    "stuck_pending": ORDER_ENDPOINTS,
    "challenge_fail": ORDER_ENDPOINTS,
}
for _extra in (_CERTIFIRE_SEMANTIC, _ST_SEMANTIC):
    for _kind, _endpoints in _extra.items():
        SEMANTIC_KINDS[_kind] = tuple(SEMANTIC_KINDS.get(_kind, ())) + tuple(_endpoints)
KINDS = WIRE_KINDS + tuple(SEMANTIC_KINDS)


class FaultError(ValueError):
    pass


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def add(self, spec: Any) -> dict[str, Any]:
        if not isinstance(spec, dict):
            raise FaultError("a fault is a JSON object")
        endpoint = spec.get("endpoint", "*")
        kind = spec.get("kind")
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise FaultError("unknown endpoint %r; one of: *, %s" % (endpoint, ", ".join(ENDPOINTS)))
        if kind not in KINDS:
            raise FaultError("unknown kind %r; one of: %s" % (kind, ", ".join(KINDS)))
        if kind in SEMANTIC_KINDS and endpoint != "*" and endpoint not in SEMANTIC_KINDS[kind]:
            raise FaultError("kind %s does not apply to %s; use one of: *, %s"
                             % (kind, endpoint, ", ".join(SEMANTIC_KINDS[kind])))
        count = spec.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool):
            raise FaultError("count must be an integer (N > 0, or 0/-1 for until cleared)")
        fault: dict[str, Any] = {"endpoint": endpoint, "kind": kind, "count": count if count > 0 else -1}
        if kind == "status":
            status = spec.get("status", 503)
            if status not in (500, 502, 503, 504):
                raise FaultError("status must be 500, 502, 503 or 504")
            fault["status"] = status
            fault["body"] = str(spec.get("body") or _STATUS_TEXT.get(status, "Server error"))
        elif kind == "rate_limit":
            retry_after = spec.get("retry_after", spec.get("seconds", 1))
            if not isinstance(retry_after, int) or retry_after < 0:
                raise FaultError("retry_after must be a non-negative integer")
            fault["retry_after"] = retry_after
        elif kind == "delay":
            seconds = spec.get("seconds", 30)
            if not isinstance(seconds, (int, float)) or not 0 <= seconds <= 600:
                raise FaultError("seconds must be a number in 0..600")
            fault["seconds"] = float(seconds)
        with self._lock:
            fault["id"] = next(self._ids)
            fault["hits"] = 0
            fault["created"] = time.time()
            self._faults.append(fault)
            return dict(fault)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(f) for f in self._faults]

    def clear(self, fault_id: int | None = None) -> int:
        with self._lock:
            before = len(self._faults)
            if fault_id is None:
                self._faults = []
            else:
                self._faults = [f for f in self._faults if f["id"] != fault_id]
            return before - len(self._faults)

    def take(self, endpoint: str, kinds: tuple[str, ...]) -> dict[str, Any] | None:
        """Consume one use of the first active fault of ``kinds`` matching ``endpoint``."""
        with self._lock:
            for fault in self._faults:
                if fault["kind"] not in kinds:
                    continue
                if fault["endpoint"] not in ("*", endpoint):
                    continue
                if fault["kind"] in SEMANTIC_KINDS and endpoint not in SEMANTIC_KINDS[fault["kind"]]:
                    continue
                fault["hits"] += 1
                if fault["count"] > 0:
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        self._faults.remove(fault)
                return dict(fault)
        return None


_STATUS_TEXT = {
    500: "Internal Server Error (injected fault)",
    502: "Bad Gateway (injected fault)",
    503: "Service Unavailable (injected fault)",
    504: "Gateway Timeout (injected fault)",
}


class RequestLog:
    def __init__(self, limit: int = 10000) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._limit = limit

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            if len(self._entries) > self._limit:
                del self._entries[: len(self._entries) - self._limit]

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> int:
        with self._lock:
            n = len(self._entries)
            self._entries = []
            return n
