"""HTTP-01 responder: serves WEBROOT/.well-known/acme-challenge/<token> for any Host, and
WEBROOT/.well-known/pki-validation/<file> (classic CA file validation, the Servertastic emulator's FILE/SFILE).

Pebble's validation authority connects here (its ``httpPort``) after BIND
resolved the name to 127.0.0.1. Run as ``python -m rclemu.http01 --webroot DIR --port N``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

TOKEN_RE = re.compile(r"^/\.well-known/acme-challenge/([A-Za-z0-9_-]+)$")
# DCV files (e.g. fileauth.txt): a plain file name, no path, not starting with a dot
PKI_RE = re.compile(r"^/\.well-known/pki-validation/([A-Za-z0-9][A-Za-z0-9._-]*)$")
log = logging.getLogger("rclemu.http01")


class Handler(BaseHTTPRequestHandler):
    webroot = "."
    protocol_version = "HTTP/1.1"
    server_version = "rcl-sandbox-http01"
    sys_version = ""
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.info("%s %s", self.headers.get("Host", "-") if hasattr(self, "headers") else "-", format % args)

    def _reply(self, status: int, body: bytes, head: bool, content_type: str | None = None) -> None:
        self.send_response(status)
        if content_type is None:
            content_type = "text/plain; charset=utf-8" if status != 200 else "application/octet-stream"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        path = urlsplit(self.path).path
        if path in ("/", "/health"):
            return self._reply(200, b"ok\n", head)
        pki_match = PKI_RE.match(path)
        if pki_match:
            file_path = os.path.join(self.webroot, ".well-known", "pki-validation", pki_match.group(1))
            try:
                with open(file_path, "rb") as fh:
                    data = fh.read()
            except OSError:
                return self._reply(404, b"no such validation file\n", head)
            return self._reply(200, data, head, "text/plain; charset=utf-8")
        match = TOKEN_RE.match(path)
        if not match:
            return self._reply(404, b"not found\n", head)
        file_path = os.path.join(self.webroot, ".well-known", "acme-challenge", match.group(1))
        try:
            with open(file_path, "rb") as fh:
                data = fh.read()
        except OSError:
            return self._reply(404, b"no such challenge file\n", head)
        return self._reply(200, data, head)

    def do_GET(self) -> None:
        self._serve(False)

    def do_HEAD(self) -> None:
        self._serve(True)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webroot", required=True)
    parser.add_argument("--port", type=int, default=5002)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state-dir", help="(informational: lets the sandbox recognise its processes)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.makedirs(os.path.join(args.webroot, ".well-known", "acme-challenge"), exist_ok=True)
    os.makedirs(os.path.join(args.webroot, ".well-known", "pki-validation"), exist_ok=True)
    handler = type("BoundHandler", (Handler,), {"webroot": os.path.abspath(args.webroot)})
    server = Server((args.host, args.port), handler)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
