"""A snapshot of one network namespace's state, for "exactly as before" checks.

Interfaces (name, kind, flags, MTU, MAC, master), addresses, routes of every
table, iptables and ip6tables rules (without counters), the nftables ruleset, forwarding
sysctls, the contents of /run/netns, and all of /etc/netns (every entry's
owner and mode, every file's digest). `run` executes an argv in the
namespace to inspect (the host directly, or a sandbox through nsenter) and
returns its stdout.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Callable

Runner = Callable[[list[str]], str]


def host_runner(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout


def _ip_json(run: Runner, *args: str):
    out = run(["ip", "-j", *args])
    try:
        return json.loads(out or "[]")
    except json.JSONDecodeError:
        return out


def _links(run: Runner):
    keep = ("ifname", "flags", "mtu", "address", "master", "link_type")
    res = []
    for l in _ip_json(run, "-d", "link", "show"):
        item = {k: l.get(k) for k in keep}
        item["kind"] = (l.get("linkinfo") or {}).get("info_kind")
        res.append(item)
    return sorted(res, key=lambda x: x["ifname"])


def _addrs(run: Runner):
    res = []
    for l in _ip_json(run, "addr", "show"):
        for a in l.get("addr_info", []):
            res.append(f"{l['ifname']} {a.get('local')}/{a.get('prefixlen')}")
    return sorted(res)


def _routes(run: Runner):
    res = []
    for fam in ("-4", "-6"):
        for r in _ip_json(run, fam, "route", "show", "table", "all"):
            if isinstance(r, dict):
                r.pop("expires", None)
                res.append(json.dumps(r, sort_keys=True))
    return sorted(res)


def _iptables(run: Runner, tool: str = "iptables-save"):
    if not shutil.which(tool):
        return None
    out = run([tool])
    lines = [l for l in out.splitlines() if not l.startswith("#")]
    return [re.sub(r"\[\d+:\d+\]", "[-]", l) for l in lines]


def _nft(run: Runner):
    if not shutil.which("nft"):
        return None
    out = run(["nft", "list", "ruleset"])
    return [re.sub(r"counter packets \d+ bytes \d+", "counter", l) for l in out.splitlines()]


def _sysctls(run: Runner):
    keys = ["net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv6/conf/all/forwarding",
            "net/ipv4/conf/all/route_localnet"]
    return {k: run(["cat", f"/proc/sys/{k}"]).strip() for k in keys}


def _listing(run: Runner, path: str):
    out = run(["ls", "-a", path])
    return sorted(l for l in out.split() if l not in (".", "..")) if out else "absent"


def _tree(run: Runner, path: str):
    """Every entry under `path` (itself included) with its type, mode and owner, and every file's
    digest: another tool's files in /etc/netns must stay exactly as they were, not merely exist."""
    out = run(["find", path, "-printf", "%P %y %m %U:%G\n", "-type", "f", "-exec", "sha256sum", "{}", "+"])
    return sorted(out.splitlines()) if out else "absent"


def take(run: Runner = host_runner) -> dict:
    return {
        "links": _links(run),
        "addresses": _addrs(run),
        "routes": _routes(run),
        "iptables": _iptables(run),
        "ip6tables": _iptables(run, "ip6tables-save"),
        "nft": _nft(run),
        "sysctls": _sysctls(run),
        "/run/netns": _listing(run, "/run/netns"),
        "/etc/netns": _tree(run, "/etc/netns"),
    }


def diff(before: dict, after: dict) -> list[str]:
    out = []
    for key in before:
        if before[key] != after.get(key):
            out.append(f"{key}:\n  before: {before[key]}\n  after:  {after.get(key)}")
    return out


def world(netns) -> dict:
    """Everything a topology can touch in a harness namespace: the host namespace as `take` sees it,
    every namespace under /run/netns (links, addresses, routes, iptables, sysctls, qdiscs) with its
    inode, the files under /etc/netns with their contents, and the `run` processes."""
    snap = take(netns.runner)
    names = sorted(netns.runner(["ls", "/run/netns"]).split())
    for ns in names:
        def inside(argv, ns=ns):
            return netns.runner(["ip", "netns", "exec", ns, *argv])
        part = take(inside)
        for key in ("/run/netns", "/etc/netns"):
            part.pop(key)
        part["qdiscs"] = sorted(l for l in inside(["tc", "qdisc", "show"]).splitlines() if "noqueue" not in l)
        part["inode"] = netns.runner(["stat", "-L", "-c", "%i", f"/run/netns/{ns}"]).strip()
        snap[f"ns {ns}"] = part
    files = {}
    for path in sorted(netns.runner(["find", "/etc/netns", "-mindepth", "2"]).split()):
        files[path] = netns.runner(["cat", path])
    snap["etc files"] = files
    snap["processes"] = {p: netns.runner(["cat", f"/proc/{p}/cmdline"]).replace("\0", " ").strip()
                         for p in netns.pids("pipenet.services")}
    return snap


def settled_world(netns, tries: int = 15) -> dict:
    """`world`, once the kernel has finished what it does by itself after a change (a bridge losing
    carrier when its last port goes, a link-local address leaving duplicate detection): two snapshots
    a moment apart agree. What pipenet does happens inside the commands, never between snapshots."""
    import time

    for _ in range(50):  # first, duplicate address detection of IPv6 addresses finishes (up to 2-3 s)
        names = netns.runner(["ls", "/run/netns"]).split()
        tentative = netns.runner(["ip", "-6", "-o", "addr", "show", "tentative"]).strip() or any(
            netns.runner(["ip", "-n", ns, "-6", "-o", "addr", "show", "tentative"]).strip() for ns in names)
        if not tentative:
            break
        time.sleep(0.1)
    last = world(netns)
    for _ in range(tries):
        time.sleep(0.2)
        now = world(netns)
        if now == last:
            return now
        last = now
    return last
