"""Small helpers shared by the sandbox CLI and the emulator processes."""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import string
from typing import Any

UTC = _dt.timezone.utc

# The documented scope of the V6 client-credentials grant (API.md, V6).
V6_SCOPE = "a9e1b21d-061d-42d6-99d9-115a328cd062/.default"

PATH_V7 = "/public"
PATH_V6 = "/production/ssl/core/v1"
PATH_V8 = "/prod/v3/ssl/certificate/subscription"

# The other ordering systems (PROVIDERS.md), served by the same process under their own path prefix.
PATH_CERTIFIRE = "/certifire"  # + /api/... (Certifire's Flask app is proxied at /api)
PATH_SERVERTASTIC = "/servertastic"  # + /order/<call>.json, /account/..., /product/...
CERTIFIRE_USERNAME = "admin"
CERTIFIRE_PASSWORD = "certifire-sandbox-password-0001"
SERVERTASTIC_API_KEY = "st-sandbox-reseller-key-0001"


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def api_date(value: _dt.datetime, fraction: int | None = None) -> str:
    """Format like the vendor: seven fractional digits, no time zone (UTC).

    ``fraction`` (0..9999999) replaces the sub-second part; by default it is
    derived from the microseconds plus one random digit, as the vendor's
    examples (``2023-08-29T04:53:07.4476228``) show non-zero 100 ns ticks.
    """
    value = value.astimezone(UTC)
    if fraction is None:
        fraction = value.microsecond * 10 + secrets.randbelow(10)
    return value.strftime("%Y-%m-%dT%H:%M:%S") + ".%07d" % fraction


def parse_api_date(text: str) -> _dt.datetime:
    """Parse the vendor's date (any number of fractional digits, optional zone)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    main, frac, tz = text, "", ""
    for sep in ("+", "-"):
        idx = text.rfind(sep)
        if idx > 10:
            main, tz = text[:idx], text[idx:]
            break
    if "." in main:
        main, frac = main.split(".", 1)
    value = _dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S")
    micro = int((frac + "000000")[:6]) if frac else 0
    value = value.replace(microsecond=micro)
    if tz:
        sign = 1 if tz[0] == "+" else -1
        hh, mm = tz[1:].split(":")
        value = value.replace(tzinfo=_dt.timezone(sign * _dt.timedelta(hours=int(hh), minutes=int(mm))))
        return value.astimezone(UTC)
    return value.replace(tzinfo=UTC)


def random_secret(length: int = 24, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _i in range(length))


def write_json(path: str, data: Any, mode: int = 0o600) -> None:
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_file(path: str, data: bytes | str, mode: int = 0o644) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
