"""SQLite state of the emulator: subscriptions, API keys, V6 clients and tokens,
portal certificates (with their key material), ACME orders and download links."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any, Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY, api_key TEXT NOT NULL UNIQUE, email TEXT,
    acme_key TEXT, acme_account_uri TEXT);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, client_secret TEXT NOT NULL, tenant_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, client_id TEXT NOT NULL, subscription_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS material (
    file_id TEXT PRIMARY KEY, name TEXT NOT NULL, password TEXT NOT NULL, key_pem TEXT NOT NULL,
    cert_pem TEXT NOT NULL, chain_pem TEXT NOT NULL, pfx BLOB NOT NULL, issuer TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    id INTEGER PRIMARY KEY AUTOINCREMENT, subscription_id TEXT NOT NULL, name TEXT NOT NULL,
    root_domain TEXT NOT NULL, challenge_type TEXT NOT NULL, is_san INTEGER NOT NULL,
    names TEXT NOT NULL, email TEXT, password TEXT NOT NULL, target TEXT,
    order_uri TEXT, issuer TEXT NOT NULL, file_id TEXT NOT NULL,
    issue_date TEXT NOT NULL, expiry_date TEXT NOT NULL, not_before TEXT NOT NULL,
    not_after TEXT NOT NULL, updated_at REAL NOT NULL,
    UNIQUE (subscription_id, name));
CREATE TABLE IF NOT EXISTS orders (
    order_uri TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, api TEXT NOT NULL,
    certificate_name TEXT NOT NULL, root_domain TEXT NOT NULL, challenge_type TEXT NOT NULL,
    is_san INTEGER NOT NULL, names TEXT NOT NULL, email TEXT, password TEXT, target TEXT,
    stuck INTEGER NOT NULL DEFAULT 0, fail INTEGER NOT NULL DEFAULT 0,
    certificate_uri TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS downloads (
    token TEXT PRIMARY KEY, file_id TEXT NOT NULL, expires_at REAL NOT NULL);
"""

CERT_COLUMNS = ("subscription_id", "name", "root_domain", "challenge_type", "is_san", "names", "email",
                "password", "target", "order_uri", "issuer", "file_id", "issue_date", "expiry_date",
                "not_before", "not_after")


class Store:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    # -- plumbing -------------------------------------------------------
    def _all(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, tuple(args)).fetchall()]

    def _one(self, sql: str, args: Iterable[Any] = ()) -> dict[str, Any] | None:
        rows = self._all(sql, args)
        return rows[0] if rows else None

    def _exec(self, sql: str, args: Iterable[Any] = ()) -> int:
        with self._lock:
            cur = self._db.execute(sql, tuple(args))
            return cur.rowcount

    def wipe(self) -> None:
        with self._lock:
            for table in ("downloads", "orders", "certificates", "material", "tokens", "clients", "subscriptions"):
                self._db.execute("DELETE FROM %s" % table)

    # -- subscriptions and credentials -------------------------------------
    def upsert_subscription(self, sid: str, api_key: str, email: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM subscriptions WHERE api_key = ? AND id != ?", (api_key, sid))
            self._db.execute(
                "INSERT INTO subscriptions (id, api_key, email) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET api_key = excluded.api_key, email = excluded.email",
                (sid, api_key, email))

    def subscription(self, sid: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM subscriptions WHERE id = ?", (sid,))

    def subscriptions(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM subscriptions ORDER BY rowid")

    def subscription_by_key(self, api_key: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM subscriptions WHERE api_key = ?", (api_key,))

    def set_acme_account(self, sid: str, key_json: str, uri: str | None) -> None:
        self._exec("UPDATE subscriptions SET acme_key = ?, acme_account_uri = ? WHERE id = ?", (key_json, uri, sid))

    def upsert_client(self, client_id: str, secret: str, tenant: str, sid: str) -> None:
        self._exec(
            "INSERT INTO clients (client_id, client_secret, tenant_id, subscription_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(client_id) DO UPDATE SET client_secret = excluded.client_secret, "
            "tenant_id = excluded.tenant_id, subscription_id = excluded.subscription_id",
            (client_id, secret, tenant, sid))

    def client(self, client_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM clients WHERE client_id = ?", (client_id,))

    def clients(self, sid: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM clients WHERE subscription_id = ? ORDER BY rowid", (sid,))

    def add_token(self, token: str, client_id: str, sid: str, tenant: str, expires_at: float) -> None:
        self._exec("DELETE FROM tokens WHERE expires_at < ?", (time.time() - 3600,))
        self._exec("INSERT INTO tokens (token, client_id, subscription_id, tenant_id, expires_at) VALUES (?, ?, ?, ?, ?)",
                   (token, client_id, sid, tenant, expires_at))

    def token(self, token: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM tokens WHERE token = ?", (token,))

    # -- certificates ----------------------------------------------------
    def add_material(self, file_id: str, name: str, password: str, key_pem: str, cert_pem: str,
                     chain_pem: str, pfx: bytes, issuer: str) -> None:
        self._exec("INSERT INTO material (file_id, name, password, key_pem, cert_pem, chain_pem, pfx, issuer) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (file_id, name, password, key_pem, cert_pem, chain_pem, pfx, issuer))

    def material(self, file_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM material WHERE file_id = ?", (file_id,))

    def put_certificate(self, row: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace the portal certificate (subscription_id, name); keeps its id."""
        values = [row[c] if c != "names" else json.dumps(row[c]) for c in CERT_COLUMNS]
        # Material replaced here stays downloadable through links already handed out.
        with self._lock:
            sets = ", ".join("%s = excluded.%s" % (c, c) for c in CERT_COLUMNS[2:])
            self._db.execute(
                "INSERT INTO certificates (%s, updated_at) VALUES (%s, ?) "
                "ON CONFLICT(subscription_id, name) DO UPDATE SET %s, updated_at = excluded.updated_at"
                % (", ".join(CERT_COLUMNS), ", ".join("?" * len(CERT_COLUMNS)), sets),
                values + [time.time()])
            result = self.certificate(row["subscription_id"], row["name"])
            assert result is not None
            return result

    @staticmethod
    def _cert(row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is not None:
            row["names"] = json.loads(row["names"])
            row["is_san"] = bool(row["is_san"])
        return row

    def certificate(self, sid: str, name: str) -> dict[str, Any] | None:
        return self._cert(self._one("SELECT * FROM certificates WHERE subscription_id = ? AND name = ?",
                                    (sid, name.lower())))

    def certificates(self, sid: str | None = None) -> list[dict[str, Any]]:
        if sid is None:
            rows = self._all("SELECT * FROM certificates ORDER BY subscription_id, id")
        else:
            rows = self._all("SELECT * FROM certificates WHERE subscription_id = ? ORDER BY id", (sid,))
        return [r for r in (self._cert(r) for r in rows) if r is not None]

    def delete_certificate(self, sid: str, name: str) -> bool:
        with self._lock:
            row = self.certificate(sid, name)
            if row is None:
                return False
            self._db.execute("DELETE FROM certificates WHERE id = ?", (row["id"],))
            self._db.execute("DELETE FROM downloads WHERE file_id = ?", (row["file_id"],))
            self._db.execute("DELETE FROM material WHERE file_id = ?", (row["file_id"],))
            return True

    # -- orders ------------------------------------------------------------
    def add_order(self, row: dict[str, Any]) -> None:
        cols = ("order_uri", "subscription_id", "api", "certificate_name", "root_domain", "challenge_type",
                "is_san", "names", "email", "password", "target", "stuck", "fail")
        values = [json.dumps(row[c]) if c == "names" else row.get(c) for c in cols]
        values[cols.index("stuck")] = int(bool(row.get("stuck")))
        values[cols.index("fail")] = int(bool(row.get("fail")))
        self._exec("INSERT INTO orders (%s, created_at) VALUES (%s, ?)" % (", ".join(cols), ", ".join("?" * len(cols))),
                   values + [time.time()])

    def order(self, order_uri: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM orders WHERE order_uri = ?", (order_uri,))
        if row is not None:
            row["names"] = json.loads(row["names"])
            row["is_san"] = bool(row["is_san"])
        return row

    def orders(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT * FROM orders ORDER BY created_at")
        for row in rows:
            row["names"] = json.loads(row["names"])
            row["is_san"] = bool(row["is_san"])
        return rows

    def update_order(self, order_uri: str, **fields: Any) -> None:
        if not fields:
            return
        sets = ", ".join("%s = ?" % k for k in fields)
        self._exec("UPDATE orders SET %s WHERE order_uri = ?" % sets, list(fields.values()) + [order_uri])

    # -- download links ------------------------------------------------------
    def add_download(self, token: str, file_id: str, expires_at: float) -> None:
        self._exec("DELETE FROM downloads WHERE expires_at < ?", (time.time() - 86400,))
        self._exec("INSERT INTO downloads (token, file_id, expires_at) VALUES (?, ?, ?)", (token, file_id, expires_at))

    def download(self, token: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM downloads WHERE token = ?", (token,))
