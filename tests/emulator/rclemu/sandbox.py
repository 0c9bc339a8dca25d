"""``tests/emulator/sandbox``: start, stop and describe the local services.

Services (all on loopback):
  named     BIND9, authoritative for the test zones, RFC 2136 updates with TSIG
  http01    the HTTP-01 responder serving the webroot (Pebble's httpPort)
  pebble    the ACME test CA (https://127.0.0.1:14000/dir)
  emulator  the RCL SSL API emulator (HTTPS) + its admin API (HTTP)

Debian packages needed: pebble, bind9, bind9-dnsutils, iproute2, util-linux
(see bindep.txt). Python packages: requirements.txt.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Callable

from .common import (
    CERTIFIRE_PASSWORD,
    CERTIFIRE_USERNAME,
    PATH_CERTIFIRE,
    PATH_SERVERTASTIC,
    PATH_V6,
    PATH_V7,
    PATH_V8,
    SERVERTASTIC_API_KEY,
    V6_SCOPE,
    read_json,
    write_file,
    write_json,
)

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/emulator
DEFAULT_STATE = os.path.join(HERE, ".state")
DEFAULT_SEED = os.path.join(HERE, "seed-default.yml")
SERVICES = ("named", "http01", "pebble", "emulator")  # start order; stop is the reverse
TSIG_ALGORITHM = "hmac-sha256"
RESOLV_MARKER = "# added by the rcl.ssl sandbox"
CERT_KEYS = ("name", "root_domain", "challenge_type", "san", "is_san", "expiry_date", "not_after", "issuer", "password",
             "subscription_id")

# option -> (environment variable, default, type)
OPTIONS: dict[str, tuple[str, Any, Callable[[str], Any]]] = {
    "api_port": ("RCL_SANDBOX_API_PORT", 9443, int),
    "admin_port": ("RCL_SANDBOX_ADMIN_PORT", 9444, int),
    "http01_port": ("RCL_SANDBOX_HTTP01_PORT", 5002, int),
    "pebble_port": ("RCL_SANDBOX_PEBBLE_PORT", 14000, int),
    "pebble_mgmt_port": ("RCL_SANDBOX_PEBBLE_MGMT_PORT", 15000, int),
    "dns_addr": ("RCL_SANDBOX_DNS_ADDR", "127.0.0.2", str),
    "dns_port": ("RCL_SANDBOX_DNS_PORT", 53, int),
    "cert_validity": ("RCL_SANDBOX_CERT_VALIDITY", 7776000, int),  # Pebble certificateValidityPeriod (s)
    "zones": ("RCL_SANDBOX_ZONES", "example.test,example2.test", str),
    "seed": ("RCL_SANDBOX_SEED", DEFAULT_SEED, str),
    "plain_http": ("RCL_SANDBOX_PLAIN_HTTP", False, lambda v: v.lower() in ("1", "true", "yes", "on")),
    "system_resolver": ("RCL_SANDBOX_SYSTEM_RESOLVER", False, lambda v: v.lower() in ("1", "true", "yes", "on")),
    "settings": ("RCL_SANDBOX_SETTINGS", "{}", str),  # JSON: emulator settings (see README)
}


class SandboxError(Exception):
    pass


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- paths and config
class Paths:
    def __init__(self, state: str) -> None:
        self.state = os.path.abspath(state)
        self.config = os.path.join(self.state, "config.json")
        self.env = os.path.join(self.state, "env.json")
        self.pids = os.path.join(self.state, "pids")
        self.logs = os.path.join(self.state, "logs")
        self.tls = os.path.join(self.state, "tls")
        self.seedca = os.path.join(self.state, "seedca")
        self.pebble = os.path.join(self.state, "pebble")
        self.bind = os.path.join(self.state, "bind")
        self.webroot = os.path.join(self.state, "webroot")
        self.db = os.path.join(self.state, "emulator.db")
        self.emulator_config = os.path.join(self.state, "emulator.json")
        self.tsig = os.path.join(self.state, "tsig.json")
        self.resolv = os.path.join(self.state, "resolv.conf")
        self.net = os.path.join(self.state, "net.json")
        self.resolv_backup = os.path.join(self.state, "resolv.conf.orig")

    def pid(self, name: str) -> str:
        return os.path.join(self.pids, name + ".pid")

    def log(self, name: str) -> str:
        return os.path.join(self.logs, name + ".log")


def resolve_options(args: argparse.Namespace, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for key, (env, default, conv) in OPTIONS.items():
        value = getattr(args, key, None)
        if value is None and os.environ.get(env) not in (None, ""):
            value = conv(os.environ[env])
        if value is None and saved is not None and key in saved:
            value = saved[key]
        if value is None:
            value = default
        cfg[key] = value
    cfg["zones"] = [z.strip().lower().rstrip(".") for z in str(cfg["zones"]).split(",") if z.strip()] \
        if isinstance(cfg["zones"], str) else list(cfg["zones"])
    if isinstance(cfg["settings"], str):
        try:
            cfg["settings"] = json.loads(cfg["settings"] or "{}")
        except ValueError as exc:
            raise SandboxError("settings must be a JSON object: %s" % exc) from exc
    for item in getattr(args, "setting", None) or []:
        key, _sep, value = item.partition("=")
        try:
            cfg["settings"][key] = json.loads(value)
        except ValueError:
            cfg["settings"][key] = value
    if cfg["seed"]:
        cfg["seed"] = os.path.abspath(cfg["seed"])
    return cfg


# ---------------------------------------------------------------------------- processes
def _proc_state(pid: int) -> str | None:
    try:
        with open("/proc/%d/stat" % pid, "rb") as fh:
            data = fh.read().decode("utf-8", "replace")
        return data[data.rindex(")") + 2:].split()[0]
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Running and not a zombie (PID 1 here does not always reap orphans)."""
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def _mentions_state(argv: list[str], paths: Paths) -> bool:
    """Every service's command line names a file in the state folder (or --state-dir STATE)."""
    return any(arg == paths.state or (paths.state + os.sep) in arg for arg in argv)


def ours(pid: int, paths: Paths) -> bool:
    return alive(pid) and _mentions_state(_cmdline(pid), paths)


def read_pid(paths: Paths, name: str) -> int | None:
    try:
        with open(paths.pid(name)) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def service_pid(paths: Paths, name: str) -> int | None:
    pid = read_pid(paths, name)
    return pid if pid is not None and ours(pid, paths) else None


def stray_pids(paths: Paths) -> list[int]:
    """Our service processes (named/pebble/python -m rclemu.*) for this state dir without a pid file."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        argv = _cmdline(pid)
        if not argv or not alive(pid) or not _mentions_state(argv, paths):
            continue
        prog = os.path.basename(argv[0])
        if prog in ("named", "pebble") or ("-m" in argv and any(a.startswith("rclemu.") for a in argv)):
            found.append(pid)
    return found


def kill_group(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM the process group of ``pid`` (each service is a session leader), then SIGKILL."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    targets = [pgid] if pgid == pid else []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if targets:
                os.killpg(pgid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pid) and not _group_alive(pgid if targets else None):
                return
            time.sleep(0.05)


def _group_alive(pgid: int | None) -> bool:
    if pgid is None:
        return False
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid and alive(int(entry)):
                    return True
            except (ProcessLookupError, PermissionError):
                continue
    return False


def spawn(paths: Paths, name: str, argv: list[str], env: dict[str, str] | None = None,
          cwd: str | None = None) -> int:
    os.makedirs(paths.logs, exist_ok=True)
    os.makedirs(paths.pids, exist_ok=True)
    logf = open(paths.log(name), "ab")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env, cwd=cwd or paths.state)
    finally:
        logf.close()
    with open(paths.pid(name), "w") as fh:
        fh.write("%d\n" % proc.pid)
    return proc.pid


def log_tail(paths: Paths, name: str, lines: int = 25) -> str:
    try:
        with open(paths.log(name), "rb") as fh:
            return b"\n".join(fh.read().splitlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return "(no log)"


def wait_for(what: str, check: Callable[[], bool], pid: int | None, paths: Paths, name: str,
             timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            raise SandboxError("%s exited during start-up; last lines of %s:\n%s"
                               % (name, paths.log(name), log_tail(paths, name)))
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last_exc = exc
        time.sleep(0.1)
    raise SandboxError("%s did not answer within %ds (%s); last lines of %s:\n%s"
                       % (what, timeout, last_exc, paths.log(name), log_tail(paths, name)))


RESERVED_PORTS = "/proc/sys/net/ipv4/ip_local_reserved_ports"


def reserve_ports(ports: list[int]) -> None:
    """Keep the kernel from handing our ports out as the local port of outgoing connections (best effort, root).

    The fixed test ports (39443, 52000, ...) lie in Linux's ephemeral range (32768-60999): a client socket of an
    earlier test can hold one, and the next sandbox cannot bind it although nothing listens there.
    """
    try:
        with open(RESERVED_PORTS) as fh:
            current = fh.read().strip()
        wanted = sorted({str(p) for p in ports} - set(current.split(",")))
        if wanted:
            with open(RESERVED_PORTS, "w") as fh:
                fh.write(",".join([current] + wanted if current else wanted))
    except OSError:
        pass


def port_free(host: str, port: int, udp: bool = False) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    try:
        if not udp:
            sock.settimeout(0.3)
            return sock.connect_ex((host, port)) != 0
        sock.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


# ---------------------------------------------------------------------------- generated files
def ensure_tsig(paths: Paths) -> dict[str, str]:
    if os.path.exists(paths.tsig):
        return read_json(paths.tsig)
    data = {"name": "rcl-sandbox-key", "algorithm": TSIG_ALGORITHM,
            "secret": base64.b64encode(secrets.token_bytes(32)).decode()}
    write_json(paths.tsig, data)
    return data


def ensure_seed_ca(paths: Paths) -> None:
    from . import pki

    os.makedirs(paths.seedca, exist_ok=True)
    files = [os.path.join(paths.seedca, f) for f in ("root.pem", "root.key", "intermediate.pem", "intermediate.key")]
    if all(os.path.exists(f) for f in files):
        return
    root = pki.make_root_ca("RCL Sandbox Seed Root CA")
    inter = pki.make_intermediate_ca(root, "RCL Sandbox Seed Intermediate CA")
    root.save(files[0], files[1])
    inter.save(files[2], files[3])


def ip_has(addr: str) -> bool:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", "lo"], capture_output=True, text=True,
                         check=False).stdout
    return any(" %s/" % addr in line for line in out.splitlines())


def ensure_loopback_alias(paths: Paths, addr: str) -> None:
    """BIND only listens on addresses configured on an interface: add ADDR/32 to lo.

    Reversible: recorded in net.json and removed by ``stop``."""
    if addr == "127.0.0.1" or not addr.startswith("127."):
        return
    if shutil.which("ip") is None:
        raise SandboxError("the 'ip' command (Debian package iproute2) is needed to add %s to lo" % addr)
    if ip_has(addr):
        return
    res = subprocess.run(["ip", "addr", "add", "%s/32" % addr, "dev", "lo"], capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise SandboxError("could not add %s/32 to lo (needs root): %s" % (addr, res.stderr.strip()))
    write_json(paths.net, {"added": [addr]})
    say("sandbox: added loopback address %s/32 to lo (removed again by 'stop')" % addr)


def remove_loopback_alias(paths: Paths) -> None:
    if not os.path.exists(paths.net):
        return
    for addr in read_json(paths.net).get("added", []):
        if ip_has(addr):
            subprocess.run(["ip", "addr", "del", "%s/32" % addr, "dev", "lo"], capture_output=True, check=False)
    os.unlink(paths.net)


def parent_zones(zones: list[str]) -> list[str]:
    parents = []
    for zone in zones:
        tld = zone.split(".")[-1]
        if tld not in zones and tld not in parents:
            parents.append(tld)
    return parents


def write_bind(paths: Paths, cfg: dict[str, Any], tsig: dict[str, str]) -> str:
    os.makedirs(paths.bind, exist_ok=True)
    for entry in os.listdir(paths.bind):  # zone files are regenerated: drop journals and old zones
        if entry.endswith((".jnl", ".zone", ".zone.jnl")):
            os.unlink(os.path.join(paths.bind, entry))
    addr, zones = cfg["dns_addr"], cfg["zones"]
    serial = int(time.time())
    zone_stanzas = []
    for zone in zones:
        ns = "ns1.%s." % zone
        text = (
            "$ORIGIN {z}.\n$TTL 60\n"
            "@ IN SOA {ns} hostmaster.{z}. ( {serial} 60 30 600 5 )\n"
            "@ IN NS {ns}\n"
            "ns1 IN A {addr}\n"
            "@ IN A 127.0.0.1\n"
            "www IN A 127.0.0.1\n"
            "* IN A 127.0.0.1\n"
        ).format(z=zone, ns=ns, serial=serial, addr=addr)
        write_file(os.path.join(paths.bind, "%s.zone" % zone), text)
        zone_stanzas.append(
            'zone "%s." { type primary; file "%s/%s.zone"; update-policy { grant %s. zonesub ANY; }; '
            'notify no; };' % (zone, paths.bind, zone, tsig["name"]))
    for parent in parent_zones(zones):
        lines = ["$ORIGIN %s." % parent, "$TTL 60",
                 "@ IN SOA ns1.%s. hostmaster.%s. ( %d 60 30 600 5 )" % (parent, parent, serial),
                 "@ IN NS ns1.%s." % parent, "ns1 IN A %s" % addr]
        for zone in zones:
            if zone.endswith("." + parent):
                lines += ["%s. IN NS ns1.%s." % (zone, zone), "ns1.%s. IN A %s" % (zone, addr)]
        write_file(os.path.join(paths.bind, "%s.zone" % parent), "\n".join(lines) + "\n")
        zone_stanzas.append('zone "%s." { type primary; file "%s/%s.zone"; notify no; };'
                            % (parent, paths.bind, parent))
    conf = """// generated by tests/emulator/sandbox at every start
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    dump-file "{d}/cache_dump.db";
    statistics-file "{d}/named.stats";
    listen-on port {port} {{ {addr}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-transfer {{ none; }};
    dnssec-validation no;
    notify no;
    minimal-responses no;
}};
controls {{ }};
key "{kn}." {{ algorithm {alg}; secret "{ks}"; }};
logging {{
    channel main {{ file "{log}" versions 0 size 20m; print-time yes; severity info; }};
    category default {{ main; }};
    category update {{ main; }};
    category lame-servers {{ null; }};
}};
{zones}
""".format(d=paths.bind, port=cfg["dns_port"], addr=addr, kn=tsig["name"], alg=tsig["algorithm"],
           ks=tsig["secret"], log=paths.log("named-server"), zones="\n".join(zone_stanzas))
    path = os.path.join(paths.bind, "named.conf")
    write_file(path, conf)
    return path


def write_pebble(paths: Paths, cfg: dict[str, Any]) -> tuple[str, str]:
    from . import pki

    tls_dir = os.path.join(paths.pebble, "tls")
    shutil.rmtree(tls_dir, ignore_errors=True)  # throw-away TLS identity, new at every start
    ca_path, cert_path, key_path = pki.ensure_server_cert(tls_dir, "RCL Sandbox Pebble TLS CA")
    conf = {"pebble": {
        "listenAddress": "127.0.0.1:%d" % cfg["pebble_port"],
        "managementListenAddress": "127.0.0.1:%d" % cfg["pebble_mgmt_port"],
        "certificate": cert_path, "privateKey": key_path,
        "httpPort": cfg["http01_port"], "tlsPort": 5001,
        "ocspResponderURL": "", "externalAccountBindingRequired": False,
        "certificateValidityPeriod": int(cfg["cert_validity"]),
    }}
    path = os.path.join(paths.pebble, "config.json")
    write_json(path, conf, 0o644)
    return path, ca_path


def write_resolv(paths: Paths, cfg: dict[str, Any]) -> None:
    """The resolv.conf that ``sandbox exec`` bind-mounts over /etc/resolv.conf in a private
    mount namespace: our BIND first, then the machine's own nameservers."""
    try:
        with open("/etc/resolv.conf") as fh:
            original = [line for line in fh.read().splitlines() if RESOLV_MARKER not in line]
    except OSError:
        original = []
    lines = ["# generated by tests/emulator/sandbox for 'sandbox exec'",
             "nameserver %s" % cfg["dns_addr"]] + [line for line in original if line.strip()]
    write_file(paths.resolv, "\n".join(lines) + "\n")


def system_resolver_on(paths: Paths, cfg: dict[str, Any]) -> None:
    with open("/etc/resolv.conf") as fh:
        text = fh.read()
    if RESOLV_MARKER in text:
        return
    write_file(paths.resolv_backup, text)
    line = "nameserver %s %s (%s)\n" % (cfg["dns_addr"], RESOLV_MARKER, paths.state)
    mode = os.stat("/etc/resolv.conf").st_mode & 0o777
    with open("/etc/resolv.conf", "w") as fh:  # in place: it may be a bind mount
        fh.write(line + text)
    os.chmod("/etc/resolv.conf", mode)
    say("!" * 78)
    say("sandbox: CHANGED /etc/resolv.conf: first nameserver is now %s (our BIND)." % cfg["dns_addr"])
    say("sandbox: 'sandbox stop' removes that line again (backup: %s)." % paths.resolv_backup)
    say("!" * 78)


def system_resolver_off(paths: Paths) -> None:
    try:
        with open("/etc/resolv.conf") as fh:
            text = fh.read()
    except OSError:
        return
    if RESOLV_MARKER not in text or paths.state not in text:
        return
    kept = "".join(line for line in text.splitlines(True) if not (RESOLV_MARKER in line and paths.state in line))
    with open("/etc/resolv.conf", "w") as fh:
        fh.write(kept)
    say("sandbox: restored /etc/resolv.conf (removed the sandbox's nameserver line)")


# ---------------------------------------------------------------------------- env
def make_env(paths: Paths, cfg: dict[str, Any], tsig: dict[str, str], certs: list[dict[str, Any]],
             subs: list[dict[str, Any]]) -> dict[str, Any]:
    scheme = "http" if cfg["plain_http"] else "https"
    base = "%s://127.0.0.1:%d" % (scheme, cfg["api_port"])
    first = subs[0] if subs else {}
    client = (first.get("clients") or [{}])[0]
    tenant = client.get("tenant_id")
    sid = first.get("id")
    return {
        "state_dir": paths.state,
        "plain_http": bool(cfg["plain_http"]),
        "base_url": base,
        "v7_url": base + PATH_V7,
        "v6_url": base + PATH_V6,
        "v8_url": base + PATH_V8,
        "token_url": "%s/%s/oauth2/v2.0/token" % (base, tenant or "common"),
        "token_scope": V6_SCOPE,
        "subscription_id": sid,
        "api_key": first.get("api_key"),
        "client_id": client.get("client_id"),
        "client_secret": client.get("client_secret"),
        "tenant_id": tenant,
        "ca_path": os.path.join(paths.tls, "ca.pem"),
        "acme_directory": "https://127.0.0.1:%d/dir" % cfg["pebble_port"],
        "acme_roots": os.path.join(paths.pebble, "acme-roots.pem"),
        "acme_root_certs": os.path.join(paths.pebble, "acme-root-only.pem"),
        "acme_intermediates": os.path.join(paths.pebble, "acme-intermediates.pem"),
        "pebble_ca_path": os.path.join(paths.pebble, "tls", "ca.pem"),
        "pebble_mgmt_url": "https://127.0.0.1:%d" % cfg["pebble_mgmt_port"],
        "cert_validity": int(cfg["cert_validity"]),
        "seed_roots": os.path.join(paths.seedca, "root.pem"),
        "seed_intermediates": os.path.join(paths.seedca, "intermediate.pem"),
        "dns_server": cfg["dns_addr"],
        "dns_port": int(cfg["dns_port"]),
        "tsig_key_name": tsig["name"],
        "tsig_key_secret": tsig["secret"],
        "tsig_algorithm": tsig["algorithm"],
        "zones": list(cfg["zones"]),
        "resolv_conf": paths.resolv,
        "webroot": paths.webroot,
        "http01_port": int(cfg["http01_port"]),
        "admin_url": "http://127.0.0.1:%d/admin" % cfg["admin_port"],
        "certificates": [{k: c[k] for k in CERT_KEYS} for c in certs if c["subscription_id"] == sid],
        "subscriptions": subs,
        # the other ordering systems, served by the same emulator process under their own path
        "certifire_url": base + PATH_CERTIFIRE,
        "certifire_username": CERTIFIRE_USERNAME,
        "certifire_password": CERTIFIRE_PASSWORD,
        "servertastic_url": base + PATH_SERVERTASTIC,
        "servertastic_api_key": SERVERTASTIC_API_KEY,
        "servertastic_roots": os.path.join(paths.state, "services", "servertastic", "root.pem"),  # its own CA
    }


def admin_get(cfg: dict[str, Any], path: str, timeout: float = 5.0) -> Any:
    import requests

    resp = requests.get("http://127.0.0.1:%d/admin%s" % (cfg["admin_port"], path), timeout=timeout)
    resp.raise_for_status()
    return resp.json()


def refresh_env(paths: Paths, cfg: dict[str, Any]) -> dict[str, Any]:
    tsig = ensure_tsig(paths)
    certs = admin_get(cfg, "/certificates")
    subs = admin_get(cfg, "/subscriptions")
    env = make_env(paths, cfg, tsig, certs, subs)
    env["pids"] = {name: read_pid(paths, name) for name in SERVICES}
    write_json(paths.env, env)
    return env


# ---------------------------------------------------------------------------- commands
def running(paths: Paths) -> dict[str, int | None]:
    return {name: service_pid(paths, name) for name in SERVICES}


def cmd_start(paths: Paths, args: argparse.Namespace) -> int:
    saved = read_json(paths.config) if os.path.exists(paths.config) else None
    state = running(paths)
    if all(state.values()) and saved is not None:
        cfg = resolve_options(args, None)
        diff = [k for k in ("api_port", "admin_port", "http01_port", "pebble_port", "pebble_mgmt_port", "dns_addr",
                            "dns_port", "plain_http") if cfg[k] != saved.get(k)
                and (getattr(args, k, None) is not None or os.environ.get(OPTIONS[k][0]))]
        if diff:
            say("sandbox: already running with other settings (%s); 'stop' first to change them" % ", ".join(diff))
        say("sandbox: already running (%s)" % paths.state)
        print(json.dumps(refresh_env(paths, saved), indent=2, sort_keys=True))
        return 0
    if any(state.values()) or stray_pids(paths):
        say("sandbox: partly running; stopping the rest first")
        do_stop(paths, quiet=True)
    cfg = resolve_options(args, None)
    check_requirements()
    os.makedirs(paths.state, exist_ok=True)
    reserve_ports([int(cfg[k]) for k in ("api_port", "admin_port", "http01_port", "pebble_port", "pebble_mgmt_port")])
    for port_key in ("api_port", "admin_port", "http01_port", "pebble_port", "pebble_mgmt_port"):
        if not port_free("127.0.0.1", cfg[port_key]):
            raise SandboxError("port %d (%s) on 127.0.0.1 is already in use" % (cfg[port_key], port_key))
    if not port_free(cfg["dns_addr"], cfg["dns_port"], udp=True):
        raise SandboxError("DNS port %s:%d is already in use" % (cfg["dns_addr"], cfg["dns_port"]))
    if cfg["seed"] and not os.path.exists(cfg["seed"]):
        raise SandboxError("seed file %s not found" % cfg["seed"])
    write_json(paths.config, cfg, 0o644)
    t0 = time.monotonic()
    try:
        start_services(paths, cfg)
    except BaseException:
        do_stop(paths, quiet=True)
        raise
    env = refresh_env(paths, cfg)
    say("sandbox: started in %.1fs (%s)" % (time.monotonic() - t0, paths.state))
    print(json.dumps(env, indent=2, sort_keys=True))
    return 0


def check_requirements() -> None:
    missing = [m for m in ("acme", "josepy", "cryptography", "requests", "dns", "yaml")
               if not _importable(m)]
    if missing:
        raise SandboxError("missing Python packages in %s: %s (pip install -r %s)"
                           % (sys.executable, ", ".join(missing), os.path.join(HERE, "requirements.txt")))
    for prog in ("named", "pebble"):
        if shutil.which(prog) is None and not os.path.exists("/usr/sbin/" + prog):
            raise SandboxError("%s not found: apt-get install %s" % (prog, "bind9" if prog == "named" else prog))


def _importable(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def start_services(paths: Paths, cfg: dict[str, Any]) -> None:
    import dns.message
    import dns.query
    import dns.rdatatype
    import requests

    from . import pki

    for d in (paths.logs, paths.pids, paths.webroot, os.path.join(paths.webroot, ".well-known", "acme-challenge"),
              os.path.join(paths.webroot, ".well-known", "pki-validation")):  # + Servertastic FILE validation
        os.makedirs(d, exist_ok=True)
    tsig = ensure_tsig(paths)
    ensure_seed_ca(paths)
    ca_path, tls_cert, tls_key = pki.ensure_server_cert(paths.tls, "RCL Sandbox Emulator TLS CA")
    write_resolv(paths, cfg)

    # BIND
    ensure_loopback_alias(paths, cfg["dns_addr"])
    named_conf = write_bind(paths, cfg, tsig)
    named = shutil.which("named") or "/usr/sbin/named"
    check = subprocess.run([shutil.which("named-checkconf") or "/usr/bin/named-checkconf", "-z", named_conf],
                           capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise SandboxError("named-checkconf failed:\n%s%s" % (check.stdout, check.stderr))
    pid = spawn(paths, "named", [named, "-f", "-c", named_conf])

    def dns_up() -> bool:
        for zone in cfg["zones"]:
            q = dns.message.make_query(zone + ".", dns.rdatatype.SOA)
            r = dns.query.udp(q, cfg["dns_addr"], port=cfg["dns_port"], timeout=0.5)
            if not r.answer:
                return False
        return True

    wait_for("BIND on %s:%d" % (cfg["dns_addr"], cfg["dns_port"]), dns_up, pid, paths, "named")

    # HTTP-01 responder
    pyenv = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1")
    pid = spawn(paths, "http01", [sys.executable, "-m", "rclemu.http01", "--webroot", paths.webroot,
                                  "--port", str(cfg["http01_port"]), "--state-dir", paths.state], env=pyenv)
    wait_for("HTTP-01 responder", lambda: requests.get("http://127.0.0.1:%d/health" % cfg["http01_port"],
                                                       timeout=1).ok, pid, paths, "http01")

    # Pebble
    pebble_conf, pebble_ca = write_pebble(paths, cfg)
    penv = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
    pebble = shutil.which("pebble") or "/usr/bin/pebble"
    pid = spawn(paths, "pebble", [pebble, "-config", pebble_conf, "-dnsserver",
                                  "%s:%d" % (cfg["dns_addr"], cfg["dns_port"])], env=penv)
    wait_for("Pebble", lambda: requests.get("https://127.0.0.1:%d/dir" % cfg["pebble_port"], verify=pebble_ca,
                                            timeout=1).ok, pid, paths, "pebble")
    mgmt = "https://127.0.0.1:%d" % cfg["pebble_mgmt_port"]
    roots = requests.get(mgmt + "/roots/0", verify=pebble_ca, timeout=5)
    inters = requests.get(mgmt + "/intermediates/0", verify=pebble_ca, timeout=5)
    roots.raise_for_status()
    inters.raise_for_status()
    write_file(os.path.join(paths.pebble, "acme-root-only.pem"), roots.text)
    write_file(os.path.join(paths.pebble, "acme-intermediates.pem"), inters.text)
    write_file(os.path.join(paths.pebble, "acme-roots.pem"), roots.text.rstrip("\n") + "\n" + inters.text)

    # the emulator
    emu_conf = {
        "state_dir": paths.state, "db_path": paths.db, "api_port": cfg["api_port"],
        "admin_port": cfg["admin_port"], "plain_http": bool(cfg["plain_http"]),
        "tls_cert_path": tls_cert, "tls_key_path": tls_key, "ca_path": ca_path,
        "acme_directory": "https://127.0.0.1:%d/dir" % cfg["pebble_port"], "pebble_ca_path": pebble_ca,
        "seed_root_path": os.path.join(paths.seedca, "root.pem"),
        "seed_intermediate_path": os.path.join(paths.seedca, "intermediate.pem"),
        "seed_intermediate_key_path": os.path.join(paths.seedca, "intermediate.key"),
        "seed_path": cfg["seed"] or None, "settings": cfg["settings"],
        # for the Certifire and Servertastic emulators: their DNS (BIND + TSIG) and web root (http01)
        "dns_addr": cfg["dns_addr"], "dns_port": int(cfg["dns_port"]), "tsig": tsig, "zones": list(cfg["zones"]),
        "webroot": paths.webroot, "http01_port": int(cfg["http01_port"]),
        "services_dir": os.path.join(paths.state, "services"),
    }
    write_json(paths.emulator_config, emu_conf)
    for f in (paths.db, paths.db + "-wal", paths.db + "-shm"):
        if os.path.exists(f):
            os.unlink(f)
    pid = spawn(paths, "emulator", [sys.executable, "-m", "rclemu.server", "--config", paths.emulator_config,
                                    "--state-dir", paths.state], env=pyenv)
    wait_for("the emulator's admin API", lambda: admin_get(cfg, "/health", 1)["ok"], pid, paths, "emulator", 30)
    scheme = "http" if cfg["plain_http"] else "https"
    wait_for("the emulator's API", lambda: requests.get("%s://127.0.0.1:%d/" % (scheme, cfg["api_port"]),
                                                        verify=ca_path, timeout=1).status_code == 404,
             pid, paths, "emulator")
    if cfg["system_resolver"]:
        system_resolver_on(paths, cfg)


def do_stop(paths: Paths, quiet: bool = False) -> bool:
    stopped = []
    for name in reversed(SERVICES):
        pid = read_pid(paths, name)
        if pid is not None and ours(pid, paths):
            kill_group(pid)
            stopped.append(name)
        try:
            os.unlink(paths.pid(name))
        except FileNotFoundError:
            pass
    for pid in stray_pids(paths):
        kill_group(pid)
        stopped.append("stray pid %d" % pid)
    remove_loopback_alias(paths)
    system_resolver_off(paths)
    left = stray_pids(paths)
    if left:
        raise SandboxError("processes still running after stop: %s" % left)
    if not quiet:
        say("sandbox: stopped %s" % (", ".join(stopped) if stopped else "nothing (was not running)"))
    return bool(stopped)


def cmd_stop(paths: Paths, args: argparse.Namespace) -> int:
    do_stop(paths)
    return 0


def cmd_status(paths: Paths, args: argparse.Namespace) -> int:
    state = running(paths)
    if args.json:
        print(json.dumps({"state_dir": paths.state, "services": state, "running": all(state.values())}))
    else:
        for name in SERVICES:
            pid = state[name]
            print("%-9s %s" % (name, "running (pid %d)" % pid if pid else "stopped"))
    if all(state.values()):
        return 0
    return 3 if not any(state.values()) else 1


def cmd_env(paths: Paths, args: argparse.Namespace) -> int:
    if not os.path.exists(paths.env) or not os.path.exists(paths.config):
        raise SandboxError("no sandbox state in %s: run 'start' first" % paths.state)
    env = read_json(paths.env)
    if all(running(paths).values()):
        try:
            env = refresh_env(paths, read_json(paths.config))
        except Exception as exc:  # noqa: BLE001 - fall back to the file
            say("sandbox: could not refresh certificates from the admin API: %s" % exc)
    else:
        say("sandbox: not (fully) running; showing the last env")
    print(json.dumps(env, indent=2, sort_keys=True))
    return 0


def cmd_seed(paths: Paths, args: argparse.Namespace) -> int:
    import requests

    cfg = read_json(paths.config)
    with open(args.file, "rb") as fh:
        body = fh.read()
    url = "http://127.0.0.1:%d/admin/seed%s" % (cfg["admin_port"], "?replace=1" if args.replace else "")
    resp = requests.post(url, data=body, timeout=60)
    if not resp.ok:
        raise SandboxError("seeding failed: %s %s" % (resp.status_code, resp.text))
    env = refresh_env(paths, cfg)
    print(json.dumps(env["certificates"], indent=2, sort_keys=True))
    return 0


def cmd_exec(paths: Paths, args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise SandboxError("usage: sandbox exec [--] COMMAND [ARGS...]")
    if not os.path.exists(paths.resolv):
        raise SandboxError("no sandbox state in %s: run 'start' first" % paths.state)
    if not all(running(paths).values()):
        say("sandbox: warning: the sandbox in %s is not (fully) running" % paths.state)
    env = dict(os.environ, RCL_SANDBOX_DIR=paths.state, RCL_SANDBOX_ENV=paths.env)
    if shutil.which("unshare") is None or os.geteuid() != 0:
        raise SandboxError("'exec' needs root and unshare (util-linux) for a private /etc/resolv.conf")
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    full = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, paths.resolv] + argv
    return subprocess.call(full, env=env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", default=None,
                        help="state folder (env RCL_SANDBOX_DIR; default tests/emulator/.state)")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start every service (idempotent), print the env JSON")
    for key, (env, default, conv) in OPTIONS.items():
        if key in ("plain_http", "system_resolver"):
            continue
        start.add_argument("--" + key.replace("_", "-"), dest=key, default=None,
                           type=conv if conv in (int, str) else str,
                           help="env %s (default %s)" % (env, default if key != "seed" else "seed-default.yml"))
    start.add_argument("--plain-http", dest="plain_http", action="store_const", const=True, default=None,
                       help="serve the emulator over plain HTTP (env RCL_SANDBOX_PLAIN_HTTP=1)")
    start.add_argument("--system-resolver", dest="system_resolver", action="store_const", const=True, default=None,
                       help="ALSO put our BIND first in /etc/resolv.conf until 'stop' (env "
                            "RCL_SANDBOX_SYSTEM_RESOLVER=1); prefer 'sandbox exec'")
    start.add_argument("--setting", action="append", metavar="KEY=VALUE",
                       help="emulator setting, e.g. validation_timeout=5 (repeatable)")
    sub.add_parser("stop", help="stop every service, nothing left running")
    status = sub.add_parser("status", help="which services run (exit 0 all, 1 some, 3 none)")
    status.add_argument("--json", action="store_true")
    sub.add_parser("env", help="print the env JSON")
    seed = sub.add_parser("seed", help="(re)seed the running emulator from a YAML/JSON file")
    seed.add_argument("file")
    seed.add_argument("--replace", action="store_true", help="wipe subscriptions and certificates first")
    ex = sub.add_parser("exec", help="run a command whose /etc/resolv.conf points at our BIND "
                                     "(private mount namespace; the machine's file is untouched)")
    ex.add_argument("argv", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    state = args.state_dir or os.environ.get("RCL_SANDBOX_DIR") or DEFAULT_STATE
    paths = Paths(state)
    commands = {"start": cmd_start, "stop": cmd_stop, "status": cmd_status, "env": cmd_env, "seed": cmd_seed,
                "exec": cmd_exec}
    try:
        return commands[args.command](paths, args)
    except SandboxError as exc:
        say("sandbox: error: %s" % exc)
        return 1
    except KeyboardInterrupt:
        return 130
