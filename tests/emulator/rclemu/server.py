"""The emulator process: the API server (HTTPS, or HTTP with --plain-http) and
the admin server (plain HTTP, loopback).

Framework choice: the standard library's ``ThreadingHTTPServer``. It needs no
dependency, and the fault kinds need control that frameworks hide: closing
the socket without a reply, sending broken JSON with a 200, sleeping past a
client's timeout, exact status lines and text/plain bodies.

Run by the sandbox as ``python -m rclemu.server --config STATE/emulator.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import pki
from .acmeops import AcmeService
from .api import ApiError, Emulator, Reply, Request, json_reply, text_reply
from .common import read_json
from .faults import WIRE_KINDS, FaultError, Faults, RequestLog
from .seed import SeedError, load_seed_file, load_seed_text, parse_seed
from .store import Store

log = logging.getLogger("rclemu.server")

QUIET_ERRORS = (ConnectionError, BrokenPipeError, ssl.SSLError, socket.timeout, TimeoutError, OSError)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, QUIET_ERRORS):
            return
        log.error("unhandled error from %s:\n%s", client_address, traceback.format_exc())


class _Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rcl-ssl-emulator"
    sys_version = ""
    timeout = 120

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: Reply, head_only: bool = False) -> None:
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if not head_only and reply.body:
            self.wfile.write(reply.body)

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_HEAD(self) -> None:
        self.dispatch("HEAD")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def do_COPY(self) -> None:  # Certifire's reissue
        self.dispatch("COPY")

    def do_PURGE(self) -> None:  # Certifire's revoke + delete
        self.dispatch("PURGE")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def dispatch(self, method: str) -> None:
        raise NotImplementedError


class ApiHandler(_Base):
    emu: Emulator
    faults: Faults
    reqlog: RequestLog

    def dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path, query = split.path, split.query
        endpoint, handler, params = self.emu.route(method, path)
        entry: dict[str, Any] = {"method": method, "path": path, "query": query, "endpoint": endpoint,
                                 "status": 0, "time": time.time()}
        logged = False
        try:
            body = self._body()
            reply = self._handle(method, endpoint, handler, params, path, query, body, entry)
            logged = True  # _handle logged it (before replying, so the log is complete once a reply arrives)
            if reply is not None:
                self._send(reply, head_only=(method == "HEAD"))
        finally:
            if not logged:
                self.reqlog.add(entry)

    def _handle(self, method: str, endpoint: str, handler: Any, params: dict[str, str], path: str, query: str,
                body: bytes, entry: dict[str, Any]) -> Reply | None:
        reply = self._reply(method, endpoint, handler, params, path, query, body)
        if reply is None:
            entry["dropped"] = True
        else:
            entry["status"] = reply.status
        self.reqlog.add(entry)
        log.info("%s %s -> %s (%s)", method, path, entry["status"] or "dropped", endpoint)
        if reply is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return reply

    def _reply(self, method: str, endpoint: str, handler: Any, params: dict[str, str], path: str, query: str,
               body: bytes) -> Reply | None:
        if handler is None:
            if params.get("_method_not_allowed"):
                return text_reply(405, "Method %s is not allowed here." % method)
            return text_reply(404, "Resource not found.")
        malformed = False
        delay = self.faults.take(endpoint, ("delay",))
        if delay is not None:
            time.sleep(delay["seconds"])  # then answer normally (or apply another fault)
        fault = self.faults.take(endpoint, tuple(k for k in WIRE_KINDS if k != "delay"))
        if fault is not None:
            kind = fault["kind"]
            if kind == "drop":
                return None
            if kind == "status":
                return text_reply(fault["status"], fault["body"])
            if kind == "rate_limit":
                return text_reply(429, "Rate limit is exceeded. Try again in %d seconds." % fault["retry_after"],
                                  {"Retry-After": str(fault["retry_after"])})
            malformed = kind == "malformed_json"
        req = Request(method, path, parse_qs(query, keep_blank_values=True), self.headers, body, params)
        try:
            reply = handler(self.emu, req)
        except ApiError as exc:
            reply = text_reply(exc.status, exc.text, exc.headers)
        except Exception as exc:  # noqa: BLE001 - a bug: show it, keep serving
            log.error("handler %s failed:\n%s", endpoint, traceback.format_exc())
            reply = text_reply(500, "Internal error in the emulator: %s" % exc)
        if malformed:
            text = reply.body.decode("utf-8", "replace") if reply.is_json else '{"status": "valid", "certificat'
            cut = max(2, len(text) // 2)
            reply = Reply(200, text[:cut].encode("utf-8"), "application/json; charset=utf-8")
        return reply


class AdminHandler(_Base):
    emu: Emulator
    faults: Faults
    reqlog: RequestLog
    config: dict[str, Any]

    def dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path.rstrip("/")
        query = parse_qs(split.query)
        try:
            body = self._body()
            reply = self._admin(method, path, query, body)
        except ApiError as exc:
            reply = json_reply({"error": exc.text}, exc.status)
        except (FaultError, SeedError, ValueError) as exc:
            reply = json_reply({"error": str(exc)}, 400)
        except Exception as exc:  # noqa: BLE001
            log.error("admin %s %s failed:\n%s", method, path, traceback.format_exc())
            reply = json_reply({"error": "%s" % exc}, 500)
        self._send(reply, head_only=(method == "HEAD"))

    def _json(self, body: bytes) -> Any:
        if not body.strip():
            return {}
        try:
            return json.loads(body)
        except ValueError:
            # YAML is accepted for /seed
            return load_seed_text(body.decode("utf-8"))

    def _admin(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        emu = self.emu
        if not path.startswith("/admin"):
            return json_reply({"error": "not found"}, 404)
        sub = path[len("/admin"):] or "/"
        if sub in ("/", "/health") and method in ("GET", "HEAD"):
            return json_reply({"ok": True, "pid": os.getpid(), "base_url": emu.base_url})
        if sub == "/faults":
            if method == "GET":
                return json_reply(self.faults.list())
            if method == "POST":
                data = self._json(body)
                items = data if isinstance(data, list) else [data]
                added = [self.faults.add(item) for item in items]
                return json_reply(added if isinstance(data, list) else added[0])
            if method == "DELETE":
                return json_reply({"cleared": self.faults.clear()})
        if sub.startswith("/faults/") and method == "DELETE":
            return json_reply({"cleared": self.faults.clear(int(sub.split("/")[2]))})
        if sub == "/requests":
            if method == "GET":
                return json_reply(self.reqlog.list())
            if method == "DELETE":
                return json_reply({"cleared": self.reqlog.clear()})
        if sub == "/seed" and method == "POST":
            data = self._json(body)
            if query.get("replace", ["0"])[0].lower() in ("1", "true", "yes") and isinstance(data, dict):
                data["replace"] = True
            certs = emu.apply_seed(parse_seed(data))
            return json_reply({"certificates": certs, "subscriptions": emu.subscription_summaries()})
        if sub == "/certificates" and method == "GET":
            return json_reply(emu.certificate_summaries())
        if sub == "/subscriptions" and method == "GET":
            return json_reply(emu.subscription_summaries())
        if sub == "/orders" and method == "GET":
            return json_reply(emu.store.orders())
        if sub == "/jobs" and method == "GET":
            return json_reply(list(emu.jobs))
        if sub == "/settings":
            if method == "GET":
                return json_reply(dict(emu.settings))
            if method == "POST":
                return json_reply(emu.set_settings(self._json(body)))
        for service in (emu.certifire, emu.servertastic):
            prefix = "/" + service.name
            if sub == prefix or sub.startswith(prefix + "/"):
                return service.admin(method, sub[len(prefix):] or "/", query, self._json(body) if body.strip() else {})
        if sub == "/state" and method == "GET":
            return json_reply({"subscriptions": emu.subscription_summaries(),
                               "certificates": emu.certificate_summaries(), "orders": emu.store.orders(),
                               "faults": self.faults.list(), "settings": dict(emu.settings), "jobs": list(emu.jobs)})
        return json_reply({"error": "no such admin endpoint: %s %s" % (method, path)}, 404)


def build(config: dict[str, Any]) -> tuple[Server, Server, Emulator]:
    state = config["state_dir"]
    store = Store(config["db_path"])
    store.wipe()  # every start is a clean slate: Pebble forgot its orders and CA too
    scheme = "http" if config.get("plain_http") else "https"
    base_url = "%s://127.0.0.1:%d" % (scheme, config["api_port"])
    acme = AcmeService(config["acme_directory"], config["pebble_ca_path"], store)
    seed_int = pki.CA.load(config["seed_intermediate_path"], config["seed_intermediate_key_path"])
    faults = Faults()
    reqlog = RequestLog()
    emu = Emulator(store, acme, faults, base_url, seed_int, [seed_int.cert], config.get("settings", {}),
                   services_config=config)
    if config.get("seed_path"):
        emu.apply_seed(load_seed_file(config["seed_path"]))

    api_handler = type("BoundApiHandler", (ApiHandler,), {"emu": emu, "faults": faults, "reqlog": reqlog})
    admin_attrs = {"emu": emu, "faults": faults, "reqlog": reqlog, "config": config}
    admin_handler = type("BoundAdminHandler", (AdminHandler,), admin_attrs)
    api = Server(("127.0.0.1", config["api_port"]), api_handler)
    if not config.get("plain_http"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(config["tls_cert_path"], config["tls_key_path"])
        # handshake in the handler thread, not in the accept loop
        api.socket = ctx.wrap_socket(api.socket, server_side=True, do_handshake_on_connect=False)
    admin = Server(("127.0.0.1", config["admin_port"]), admin_handler)
    log.info("emulator %s, admin http://127.0.0.1:%d/admin, state %s", base_url, config["admin_port"], state)
    return api, admin, emu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--state-dir", help="(informational: lets the sandbox recognise its processes)")
    args = parser.parse_args(argv)
    config = read_json(args.config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("acme").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    api, admin, _emu = build(config)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=admin.serve_forever, name="admin", daemon=True).start()
    try:
        api.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        admin.shutdown()
        api.server_close()
        admin.server_close()
        log.info("emulator stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
