#!/usr/bin/env python
"""Benchmark: rcl.ssl.rcl_certificate against the community.crypto way, on one sandbox (see README.md).

    python3 tests/benchmarks/bench.py [--scenarios 1x1,10x1,10x5,50x1,10x50:role] [--repeat N] [--out FILE]

Not part of the test suite. Starts its own sandbox (Pebble, BIND, emulator) on its own ports and always stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator", "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "role"))

from emuclient import SANDBOX, Sandbox, running_sandbox  # noqa: E402
from roleharness import RECAP as _RECAP, role_vars  # noqa: E402  (the role tests' own helpers)

PLAYBOOKS = os.path.join(HERE, "playbooks")
CALLBACKS = os.path.join(HERE, "callback_plugins")
FILES = ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem")
DEFAULT_SCENARIOS = "1x1,10x1,10x5,50x1,10x50:role"
DEFAULT_REPEATS = {(10, 5): 3}  # without --repeat: 10x5 three times (median), the others once
# Pebble logs every ACME request it handles: "Pebble 2026/01/01 10:00:00 POST /order-plz -> calling handler()"
_PEBBLE_REQ = re.compile(r"\b(GET|HEAD|POST) (\S+) -> calling handler\(\)")


# ---------------------------------------------------------------------------------------------- scenarios
class Scenario:
    def __init__(self, spec: str) -> None:
        m = re.fullmatch(r"(\d+)x(\d+)(:role)?", spec.strip())
        if not m:
            raise argparse.ArgumentTypeError("scenario %r: use NxM or NxM:role (N names, M hosts)" % spec)
        self.names_n, self.hosts_n = int(m.group(1)), int(m.group(2))
        self.role_only = bool(m.group(3))

    @property
    def label(self) -> str:
        return "%dx%d" % (self.names_n, self.hosts_n)

    def names(self, zone: str) -> list[str]:
        return ["bench-%03d.%s" % (i, zone) for i in range(1, self.names_n + 1)]

    def hosts(self) -> list[str]:
        return ["host%02d" % i for i in range(1, self.hosts_n + 1)]


# ---------------------------------------------------------------------------------------------- one run
class Bench:
    def __init__(self, sb: Sandbox, args: argparse.Namespace, collections: str, workdir: str) -> None:
        self.sb = sb
        self.args = args
        self.collections = collections
        self.workdir = workdir
        self.env = sb.env
        self.pebble_log = os.path.join(sb.state_dir, "logs", "pebble.log")
        self.zone = args.zone

    # -- the emulator ----------------------------------------------------------------------
    def reseed(self, names: list[str]) -> None:
        """Replace the portal's certificates by the benchmark's names, all expired: every name must be ordered."""
        sub = dict(self.env["subscriptions"][0])
        doc = {"subscriptions": [{
            "id": sub["id"], "api_key": sub["api_key"], "email": sub["email"], "clients": sub["clients"],
            "certificates": [{"name": n, "root_domain": self.zone, "challenge_type": "DNS", "expires_in_days": -1,
                              "password": "pw-" + n} for n in names]}]}
        self.sb.admin_call("POST", "/seed?replace=1", doc)
        self.sb.admin_call("DELETE", "/requests")

    # -- inventories -----------------------------------------------------------------------
    def write_inventory(self, contender_dir: str, sc: Scenario, names: list[str]) -> str:
        hosts = {}
        for host in sc.hosts():
            base = os.path.join(contender_dir, "hosts", host, "ssl")
            hosts[host] = {"ansible_connection": "local", "bench_base_dir": base, "bench_names": names,
                           "rcl_certificate_base_dir": base,
                           "rcl_certificate_certificates": [{"name": n} for n in names]}
        os.makedirs(contender_dir, exist_ok=True)
        path = os.path.join(contender_dir, "inventory.json")
        with open(path, "w") as fh:
            json.dump({"all": {"hosts": hosts}}, fh, indent=1)
        return path

    def role_vars(self) -> dict[str, Any]:
        return role_vars(self.env, dns_wait_timeout=120, finalize_timeout=120)

    def peer_vars(self, contender_dir: str) -> dict[str, Any]:
        env = self.env
        return {
            "peer_dir": os.path.join(contender_dir, "controller"),
            "peer_acme_directory": env["acme_directory"],
            "peer_account": self.args.peer_account,
            "peer_dns_server": env["dns_server"], "peer_dns_port": env["dns_port"],
            "peer_dns_key_name": env["tsig_key_name"], "peer_dns_key_secret": env["tsig_key_secret"],
            "peer_dns_key_algorithm": env["tsig_algorithm"], "peer_zone": self.zone,
        }

    # -- running a playbook ------------------------------------------------------------------
    def pebble_offset(self) -> int:
        try:
            return os.path.getsize(self.pebble_log)
        except OSError:
            return 0

    def pebble_requests(self, offset: int) -> dict[str, int]:
        with open(self.pebble_log, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
        counts: dict[str, int] = {}
        for m in _PEBBLE_REQ.finditer(text):
            key = "%s %s" % (m.group(1), m.group(2))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def playbook(self, playbook: str, inventory: str, extra: dict[str, Any], tag: str,
                 sc: Scenario) -> dict[str, Any]:
        run_dir = os.path.dirname(inventory)
        extra_path = os.path.join(run_dir, "vars-%s.json" % tag)
        with open(extra_path, "w") as fh:
            json.dump(extra, fh, indent=1)
        counts_path = os.path.join(run_dir, "module-runs-%s.json" % tag)
        log_path = os.path.join(run_dir, "ansible-%s.log" % tag)
        cmd = [SANDBOX, "--state-dir", self.sb.state_dir, "exec", "--", "ansible-playbook",
               "-i", inventory, "-e", "@" + extra_path, os.path.join(PLAYBOOKS, playbook)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RCL_SANDBOX_")}
        env.pop("ANSIBLE_CONFIG", None)
        env.update(ANSIBLE_COLLECTIONS_PATH=self.collections, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                   ANSIBLE_FORKS=str(self.args.forks), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_HOST_KEY_CHECKING="0",
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0",
                   ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED="module_runs",
                   RCL_MODULE_RUNS_FILE=counts_path)
        self.sb.admin_call("DELETE", "/requests")
        offset = self.pebble_offset()
        timeout = self.args.timeout + 15 * sc.names_n + 5 * sc.names_n * sc.hosts_n
        started = time.monotonic()
        rc, out = run_group(cmd, env, run_dir, timeout)
        seconds = time.monotonic() - started
        with open(log_path, "w") as fh:
            fh.write(out)
        api = self.sb.admin_call("GET", "/requests")
        acme = self.pebble_requests(offset)
        counts: dict[str, Any] = {}
        if os.path.exists(counts_path):
            with open(counts_path) as fh:
                counts = json.load(fh)
            os.unlink(counts_path)
        hosts = counts.get("hosts", {})
        managed = [hosts.get(h, {}).get("module_runs", 0) for h in sc.hosts()]
        recap = {m.group(1): int(m.group(3)) for m in _RECAP.finditer(out)}
        return {
            "seconds": round(seconds, 2), "rc": rc, "log": log_path,
            "module_runs_per_host": round(statistics.mean(managed), 2) if managed else 0,
            "module_runs_max_host": max(managed) if managed else 0,
            "controller_module_runs": hosts.get("localhost", {}).get("module_runs", 0),
            "changed": sum(recap.values()),
            "api_requests": len(api),
            "api_by_endpoint": _tally(r["endpoint"] for r in api),
            "acme_requests": sum(acme.values()), "acme_by_request": acme,
            "actions": counts.get("actions", {}),
        }


def run_group(cmd: list[str], env: dict[str, str], cwd: str, timeout: float) -> tuple[int, str]:
    """Run cmd in a process group of its own (output merged); the whole group is ended on timeout or interruption."""
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, text=True,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except BaseException as exc:  # timeout, Ctrl-C, SIGTERM (KeyboardInterrupt from running_sandbox)
            _end_group(proc)
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            rc = -1
            out.write("\nTIMEOUT after %ss\n" % timeout)
        out.seek(0)
        return rc, out.read()


def _end_group(proc: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tally(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def deployed_ok(contender_dir: str, sc: Scenario, names: list[str]) -> bool:
    return all(os.path.isfile(os.path.join(contender_dir, "hosts", h, "ssl", n, f))
               for h in sc.hosts() for n in names for f in FILES)


def run_once(bench: Bench, sc: Scenario, rep: int) -> dict[str, dict[str, Any]]:
    """One repetition of a scenario: fresh directories, reseeded portal; role/peer interleaved."""
    names = sc.names(bench.zone)
    base = os.path.join(bench.workdir, "%s%s-%d" % (sc.label, "-role" if sc.role_only else "", rep))
    if os.path.exists(base):
        shutil.rmtree(base)
    bench.reseed(names)
    role_dir, peer_dir = os.path.join(base, "role"), os.path.join(base, "peer")
    role_inv = bench.write_inventory(role_dir, sc, names)
    peer_inv = bench.write_inventory(peer_dir, sc, names)
    role_extra = bench.role_vars()
    peer_extra = bench.peer_vars(peer_dir)
    results: dict[str, dict[str, Any]] = {}

    def go(key: str, playbook: str, inv: str, extra: dict[str, Any], cdir: str) -> None:
        log("  %s %s #%d ..." % (sc.label, key, rep + 1))
        res = bench.playbook(playbook, inv, extra, key.replace(" ", "-"), sc)
        problems = []
        if res["rc"] != 0:
            problems.append("rc=%d" % res["rc"])
        if not key.startswith("floor") and not deployed_ok(cdir, sc, names):
            problems.append("files missing")
        if key.endswith("warm") and res["changed"]:
            problems.append("changed=%d" % res["changed"])
        res["status"] = "ok" if not problems else " ".join(problems)
        results[key] = res
        log("    %.1fs, %s module runs/host, %s on the controller, %d API, %d ACME requests: %s (%s)"
            % (res["seconds"], res["module_runs_per_host"], res["controller_module_runs"], res["api_requests"],
               res["acme_requests"], res["status"], res["log"]))

    go("role cold", "role.yml", role_inv, role_extra, role_dir)
    if not sc.role_only:
        go("peer cold", "peer.yml", peer_inv, peer_extra, peer_dir)
    go("role warm", "role.yml", role_inv, role_extra, role_dir)
    if not sc.role_only:
        go("peer warm", "peer.yml", peer_inv, peer_extra, peer_dir)
        # the floor reads the role's estate; the peer's (same layout, same key type) when the role's is incomplete
        if deployed_ok(role_dir, sc, names) or not deployed_ok(peer_dir, sc, names):
            go("floor", "floor.yml", role_inv, {}, role_dir)
        else:
            go("floor", "floor.yml", peer_inv, {}, peer_dir)
            results["floor"]["status"] += " (on the peer's estate)"
    return results


# ---------------------------------------------------------------------------------------------- report
NUMERIC = ("seconds", "module_runs_per_host", "module_runs_max_host", "controller_module_runs", "changed",
           "api_requests", "acme_requests")
ORDER = ("role cold", "peer cold", "role warm", "peer warm", "floor")


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[-1])
    for key in NUMERIC:
        out[key] = statistics.median(r[key] for r in runs)
    out["seconds_all"] = [r["seconds"] for r in runs]
    bad = [r["status"] for r in runs if r["status"] != "ok"]
    out["status"] = "ok" if not bad else "; ".join(bad)
    out["repeats"] = len(runs)
    return out


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return ("%.2f" % value).rstrip("0").rstrip(".") if value != int(value) else "%d" % value
    return str(value)


def ratio(a: float, b: float) -> str:
    return "%.2f" % (a / b) if b else "n/a"


def ratios(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    """Time and module-run ratios of two runs; marked when one of them did not succeed."""
    mark = "" if a["status"] == "ok" and b["status"].startswith("ok") else " (failed run)"
    return (ratio(a["seconds"], b["seconds"]) + mark,
            ratio(a["module_runs_per_host"], b["module_runs_per_host"]) + mark)


def report(results: dict[str, dict[str, dict[str, Any]]], meta: dict[str, Any]) -> str:
    lines = ["# rcl_certificate vs community.crypto: benchmark", "",
             "%s; forks %d; sandbox Pebble + BIND + RCL emulator; peer account: %s." % (
                 meta["date"], meta["forks"], meta["peer_account"]), "",
             "| scenario (names x hosts) | contender | run | wall (s) | module runs / managed host | "
             "controller module runs | changed | API requests | ACME requests | status |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for label, runs in results.items():
        for key in ORDER:
            if key not in runs:
                continue
            r = runs[key]
            contender, _sep, kind = key.partition(" ")
            contender = {"role": "rcl.ssl role", "peer": "community.crypto", "floor": "floor (stat + x509 info)"}[
                contender]
            reps = " (median of %d: %s)" % (r["repeats"], ", ".join("%.1f" % s for s in r["seconds_all"])) \
                if r.get("repeats", 1) > 1 else ""
            lines.append("| %s | %s | %s | %s%s | %s | %s | %s | %s | %s | %s |" % (
                label, contender, kind or "-", "%.1f" % r["seconds"], reps, fmt(r["module_runs_per_host"]),
                fmt(r["controller_module_runs"]), fmt(r["changed"]), fmt(r["api_requests"]),
                fmt(r["acme_requests"]), r["status"]))
    lines += ["", "## Ratios", "", "| ratio | scenario | wall time | module runs / managed host |",
              "| --- | --- | ---: | ---: |"]
    for label, runs in results.items():
        rw, fl = runs.get("role warm"), runs.get("floor")
        if rw and fl:
            lines.append("| role warm / floor | %s | %s | %s |" % ((label,) + ratios(rw, fl)))
    for label, runs in results.items():
        rw, pw = runs.get("role warm"), runs.get("peer warm")
        if rw and pw:
            lines.append("| role warm / peer warm | %s | %s | %s |" % ((label,) + ratios(rw, pw)))
    for label, runs in results.items():
        rc, pc = runs.get("role cold"), runs.get("peer cold")
        if rc and pc and "role warm" in runs and "peer warm" in runs:
            lines.append("| role cold / peer cold | %s | %s | %s |" % ((label,) + ratios(rc, pc)))
    # warm time per extra host: (T(NxM) - T(Nx1)) / (M - 1), for every M measured with the same N
    by_size: dict[tuple[int, int], float] = {}
    for label, runs in results.items():
        n, m = (int(x) for x in re.match(r"(\d+)x(\d+)", label).groups())
        if "role warm" in runs and runs["role warm"]["status"] == "ok":
            by_size[(n, m)] = runs["role warm"]["seconds"]
    per_host = []
    for (n, m), t in sorted(by_size.items()):
        if m > 1 and (n, 1) in by_size:
            per_host.append("(T(%dx%d) - T(%dx1)) / %d = %.2f s" % (n, m, n, m - 1, (t - by_size[(n, 1)]) / (m - 1)))
    if per_host:
        lines += ["", "Role, warm time per extra host: " + "; ".join(per_host) + "."]
    lines += ["", "Module runs: per managed host, the task results (loop items one by one) that ran a module on "
              "that host, skipped ones and controller-only actions (set_fact, debug, assert, meta, include_*, "
              "validate_argument_spec, ...) left out; delegated runs count for the delegated host (controller "
              "column). API requests: the emulator's request log. ACME requests: requests handled by Pebble "
              "(its log), the role's via the emulator, the peer's direct."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- main
def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default=DEFAULT_SCENARIOS,
                   help="comma-separated NxM (N names, M hosts; both contenders, cold + warm + floor) or NxM:role "
                        "(the role alone, cold + warm); default %(default)s")
    p.add_argument("--repeat", type=int, default=None,
                   help="runs per scenario, the median reported (default: 3 for 10x5, 1 for the others)")
    p.add_argument("--forks", type=int, default=5)
    p.add_argument("--peer-account", choices=("acme_account", "terms_agreed"), default="acme_account",
                   help="peer: manage the ACME account with community.crypto.acme_account + modify_account: false "
                        "(documented) or let acme_certificate create it (terms_agreed)")
    p.add_argument("--zone", default="example.test", help="the BIND zone the names are made in")
    p.add_argument("--out", default=os.path.join(HERE, "results", "latest.md"),
                   help="markdown table (a .json with every detail is written next to it)")
    p.add_argument("--workdir", default=None,
                   help="keep the estates, logs and sandbox state here (default: a temporary directory, removed "
                        "at the end)")
    p.add_argument("--timeout", type=int, default=600, help="base timeout of one ansible-playbook run (s)")
    g = p.add_argument_group("sandbox ports (defaults: the benchmark's own set)")
    g.add_argument("--api-port", default="49443")
    g.add_argument("--admin-port", default="49444")
    g.add_argument("--http01-port", default="45002")
    g.add_argument("--pebble-port", default="54000")
    g.add_argument("--pebble-mgmt-port", default="55000")
    g.add_argument("--dns-addr", default="127.0.0.7")
    g.add_argument("--setting", action="append", default=None,
                   help="sandbox setting KEY=VALUE (default: validation_timeout=8, key_type=ec256)")
    args = p.parse_args(argv)
    args.scenario_list = [Scenario(s) for s in args.scenarios.split(",") if s.strip()]
    if args.setting is None:
        args.setting = ["validation_timeout=8", "key_type=ec256"]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    own_tmp = args.workdir is None
    workdir = tempfile.mkdtemp(prefix="rcl-bench-") if own_tmp else os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    collections = os.path.join(workdir, "collections")
    link = os.path.join(collections, "ansible_collections", "rcl", "ssl")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    start = ["--api-port", args.api_port, "--admin-port", args.admin_port, "--http01-port", args.http01_port,
             "--pebble-port", args.pebble_port, "--pebble-mgmt-port", args.pebble_mgmt_port,
             "--dns-addr", args.dns_addr]
    for setting in args.setting:
        start += ["--setting", setting]
    state = os.path.join(workdir, "sandbox")
    os.makedirs(state, exist_ok=True)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    status = 0
    try:
        log("sandbox: starting in %s" % state)
        with running_sandbox(state, *start) as sb:  # stopped on leaving, on errors and on SIGTERM
            bench = Bench(sb, args, collections, workdir)
            for sc in args.scenario_list:
                repeats = args.repeat or DEFAULT_REPEATS.get((sc.names_n, sc.hosts_n), 1)
                per_rep = [run_once(bench, sc, rep) for rep in range(repeats)]
                label = sc.label + (" role" if sc.role_only and sc.label in results else "")
                results[label] = {key: median_of([r[key] for r in per_rep]) for key in per_rep[0]}
                if any(r["status"] != "ok" for r in results[label].values()):
                    status = 1
    except KeyboardInterrupt:
        log("interrupted: the sandbox is stopped; partial results follow")
        status = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the report be written
    meta = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "forks": args.forks, "peer_account": args.peer_account,
            "scenarios": args.scenarios}
    text = report(results, meta)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as fh:
        json.dump({"meta": meta, "results": results}, fh, indent=1, sort_keys=True)
    sys.stdout.write(text)
    log("written: %s (+ .json)%s" % (args.out, "" if own_tmp else "; logs and estates under %s" % workdir))
    if own_tmp and status == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    elif own_tmp:
        log("kept for inspection: %s" % workdir)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
