"""Seed documents: subscriptions, API keys, V6 API clients and portal certificates.

Format (YAML or JSON; see ../README.md and ../seed-default.yml)::

    replace: false            # admin /seed only: wipe everything first
    subscriptions:
      - id: sub_rclsandbox0001
        api_key: "..."        # V7/V8 bearer key
        email: ops@example.test
        clients:              # V6 Azure AD client-credentials
          - {client_id: "...", client_secret: "...", tenant_id: "..."}
        certificates:
          - name: due.example.test
            root_domain: example.test      # default: the last two labels
            challenge_type: DNS            # DNS | HTTP
            san: false                     # true: apex+www (HTTP) / apex+* (DNS); or a list
            expires_in_days: 10            # or expiry_date: "2030-01-01T00:00:00Z"
            validity_days: 90              # optional; notBefore = notAfter - validity
            password: "..."                # PFX password (random when omitted)
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from .common import parse_api_date, random_secret, utcnow


class SeedError(ValueError):
    pass


@dataclass
class CertSeed:
    name: str
    root_domain: str
    challenge_type: str
    is_san: bool
    names: list[str]
    not_after: _dt.datetime
    not_before: _dt.datetime
    password: str
    email: str | None
    target: str


@dataclass
class ClientSeed:
    client_id: str
    client_secret: str
    tenant_id: str


@dataclass
class SubscriptionSeed:
    id: str
    api_key: str
    email: str
    clients: list[ClientSeed] = field(default_factory=list)
    certificates: list[CertSeed] = field(default_factory=list)


@dataclass
class Seed:
    subscriptions: list[SubscriptionSeed]
    replace: bool = False


def load_seed_text(text: str) -> Any:
    import yaml  # JSON is a subset of YAML

    return yaml.safe_load(text)


def load_seed_file(path: str) -> Seed:
    with open(path, encoding="utf-8") as fh:
        return parse_seed(load_seed_text(fh.read()))


def _s(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SeedError("%s must be a non-empty string" % what)
    return value.strip()


def san_names_for(name: str, root: str, challenge: str, san: Any) -> tuple[bool, list[str]]:
    """Apply the vendor's SAN rules; returns (is_san, names)."""
    if isinstance(san, list):
        names = [_s(n, "san entry").lower() for n in san]
        if not names:
            raise SeedError("%s: san list is empty" % name)
        if names[0] != name:
            names = [name] + [n for n in names if n != name]
        is_san = len(names) > 1
    elif san:
        if name != root or "*" in name:
            raise SeedError("%s: a SAN certificate's name must be its root domain %s" % (name, root))
        names = [root, ("www.%s" if challenge == "HTTP" else "*.%s") % root]
        is_san = True
    else:
        names, is_san = [name], False
    for n in names:
        if "," in n or " " in n:
            raise SeedError("%s: invalid name %r" % (name, n))
        if n != root and not n.endswith("." + root):
            raise SeedError("%s: %s is not in the root domain %s" % (name, n, root))
        if "*" in n and (challenge != "DNS" or not n.startswith("*.") or "*" in n[2:]):
            raise SeedError("%s: wildcard %s needs the DNS challenge" % (name, n))
    return is_san, names


def parse_cert(raw: Any, sub_email: str, now: _dt.datetime | None = None) -> CertSeed:
    if not isinstance(raw, dict):
        raise SeedError("certificate entries must be mappings")
    now = now or utcnow()
    name = _s(raw.get("name"), "certificate name").lower()
    root = raw.get("root_domain") or ".".join(name.lstrip("*.").split(".")[-2:])
    root = _s(root, "root_domain").lower()
    challenge = _s(raw.get("challenge_type", "DNS"), "challenge_type").upper()
    if challenge not in ("DNS", "HTTP"):
        raise SeedError("%s: challenge_type must be DNS or HTTP" % name)
    is_san, names = san_names_for(name, root, challenge, raw.get("san", False))
    if raw.get("expiry_date") is not None:
        value = raw["expiry_date"]
        if isinstance(value, _dt.datetime):
            not_after = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
        else:
            not_after = parse_api_date(str(value))
    else:
        days = raw.get("expires_in_days", 60)
        if not isinstance(days, (int, float)):
            raise SeedError("%s: expires_in_days must be a number" % name)
        not_after = now + _dt.timedelta(days=float(days))
    not_after = not_after.replace(microsecond=0)
    validity = float(raw.get("validity_days", 90))
    not_before = not_after - _dt.timedelta(days=validity)
    if not_before > now:
        not_before = now.replace(microsecond=0) - _dt.timedelta(minutes=5)
    password = raw.get("password")
    password = str(password) if password is not None else random_secret(16)
    return CertSeed(name=name, root_domain=root, challenge_type=challenge, is_san=is_san, names=names,
                    not_after=not_after, not_before=not_before, password=password,
                    email=raw.get("email") or sub_email, target=str(raw.get("target", "Stand Alone")))


def parse_seed(doc: Any) -> Seed:
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise SeedError("a seed is a mapping with a 'subscriptions' list")
    subs_raw = doc.get("subscriptions", [])
    if not isinstance(subs_raw, list):
        raise SeedError("'subscriptions' must be a list")
    subs: list[SubscriptionSeed] = []
    now = utcnow()
    for raw in subs_raw:
        if not isinstance(raw, dict):
            raise SeedError("subscription entries must be mappings")
        sid = _s(raw.get("id"), "subscription id")
        email = str(raw.get("email") or "ops@example.test")
        sub = SubscriptionSeed(id=sid, api_key=_s(raw.get("api_key") or random_secret(32), "api_key"), email=email)
        for c in raw.get("clients", []) or []:
            if not isinstance(c, dict):
                raise SeedError("client entries must be mappings")
            sub.clients.append(ClientSeed(client_id=_s(c.get("client_id"), "client_id"),
                                          client_secret=_s(c.get("client_secret"), "client_secret"),
                                          tenant_id=_s(c.get("tenant_id"), "tenant_id")))
        seen = set()
        for c in raw.get("certificates", []) or []:
            cert = parse_cert(c, email, now)
            if cert.name in seen:
                raise SeedError("duplicate certificate %s in subscription %s" % (cert.name, sid))
            seen.add(cert.name)
            sub.certificates.append(cert)
        subs.append(sub)
    return Seed(subscriptions=subs, replace=bool(doc.get("replace", False)))
