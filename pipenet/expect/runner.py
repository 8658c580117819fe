"""Run a topology's expectations against the live network.

Each check runs a probe agent (`pipenet.expect.agent`) inside the source
node. For TCP and UDP, when nothing listens on the target port a temporary
listener is started in the target for the length of the check, so a check
measures the network, not the application; for a port published on the host,
that is the container the port leads to. `as ADDR` is read from the target's
own table of established connections while the probe holds its connection
open: the address the server really saw, after any NAT. Independent checks run
in parallel; checks that share a target port run one after another, so their
connections cannot be confused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from netaddr import IPAddress

from pipenet.ir import Expectation, Topology
from pipenet.plan.etc import primary_address

REACH_TIMEOUT = 3.0
UNREACH_TIMEOUT = 1.0


@dataclass
class Result:
    expectation: Expectation
    ok: bool
    detail: str
    seconds: float

    def to_json(self) -> dict:
        e = self.expectation
        return {"expectation": e.describe(), "line": e.span.line, "passed": self.ok, "detail": self.detail,
                "seconds": round(self.seconds, 3)}


def _proc_net(text: str, want_state: str) -> list[tuple[str, int, str, int]]:
    """(local ip, local port, remote ip, remote port) of /proc/net/tcp* lines in a state."""
    out = []
    for line in text.splitlines()[1:]:
        w = line.split()
        if len(w) < 4 or w[3] != want_state:
            continue
        (lip, lport), (rip, rport) = (x.rsplit(":", 1) for x in (w[1], w[2]))
        out.append((_hexip(lip), int(lport, 16), _hexip(rip), int(rport, 16)))
    return out


def _hexip(h: str) -> str:
    if len(h) == 8:
        return ".".join(str(b) for b in bytes.fromhex(h)[::-1])
    words = [bytes.fromhex(h[i:i + 8])[::-1] for i in range(0, 32, 8)]
    raw = b"".join(words)
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return ".".join(str(b) for b in raw[12:])
    return str(IPAddress(int.from_bytes(raw, "big"), 6))


class Runner:
    def __init__(self, topo: Topology, record: dict, k):
        self.t = topo
        self.record = record
        self.k = k
        self.ns: dict[str, str] = record.get("ns", {})
        self.locks: dict[tuple, threading.Lock] = {}
        self.guard = threading.Lock()

    # ---- where things are ----------------------------------------------------------------------------
    def ns_path(self, node: str) -> str | None:
        ref = self.ns.get(node, "")
        if ref == "":
            return None
        return ref if ref.startswith("/") else os.path.join("/run/netns", ref)

    def host_address_for(self, node: str) -> str:
        """The host's address as `node` sees it: its bridge's gateway, or the host end of a p2p link."""
        c = self.t.container_map.get(node)
        if c is not None and c.primary is not None:
            b = self.t.bridge_map.get(c.primary.bridge)
            if b is not None and b.address is not None:
                return str(b.address.ip)
        for link in self.t.p2p:
            for end, peer in ((link.a, link.b), (link.b, link.a)):
                if end.node == node and peer.node == "host" and peer.address is not None:
                    return str(peer.address.ip)
        return "127.0.0.1"

    def owner_of(self, ip: str) -> str | None:
        for c in self.t.containers:
            for i in c.interfaces:
                if i.address is not None and str(i.address.ip) == ip:
                    return c.name
        for link in self.t.p2p:
            for end in (link.a, link.b):
                if end.address is not None and str(end.address.ip) == ip:
                    return end.node
        for b in self.t.bridges:
            if b.address is not None and str(b.address.ip) == ip:
                return "host"
        if ip.startswith("127."):
            return "host"
        return None

    def target(self, e: Expectation) -> tuple[str | None, str | None]:
        """(address, node) of the expectation's target."""
        t = e.target
        if t.node == "host":
            return self.host_address_for(e.source), "host"
        if t.node is not None:
            c = self.t.container_map[t.node]
            return primary_address(self.t, c), t.node
        ip = str(t.ip)
        return ip, self.owner_of(ip)

    def published_to(self, host_port: int, proto: str) -> tuple[str, int] | None:
        for p in self.record.get("published", []):
            if p["host_port"] == host_port and p["proto"] == proto:
                return p["node"], p["port"]
        return None

    # ---- agents ---------------------------------------------------------------------------------------------
    def agent(self, node: str, *args: str) -> subprocess.Popen:
        from pipenet.engine.enter import enter, etc_dir

        path = self.ns_path(node)
        owner = node
        c = self.t.container_map.get(node)
        hostname = c.hostname if c is not None else None
        etc = etc_dir(self.ns.get(owner, ""))
        pre = None if node == "host" or path is None else (lambda: enter(path, hostname, etc))
        env = dict(os.environ, RES_OPTIONS="timeout:1 attempts:1")
        return subprocess.Popen([sys.executable, "-m", "pipenet.expect.agent", *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=pre,
                                env=env)

    @staticmethod
    def answer(p: subprocess.Popen, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if line:
                break
            if p.poll() is not None:
                break
        try:
            return json.loads(line)
        except (json.JSONDecodeError, TypeError):
            return {"ok": False, "ready": False, "why": "the probe failed to run"}

    @staticmethod
    def finish(p: subprocess.Popen) -> None:
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def read_net(self, node: str, proto: str) -> str:
        ref = self.ns.get(node, "")

        def read():
            parts = []
            for name in (proto, proto + "6"):
                try:
                    with open(f"/proc/thread-self/net/{name}") as f:
                        parts.append(f.read())
                except OSError:
                    pass
            return "\n".join(parts)

        return self.k.ns.in_ns(ref, read)

    def listening(self, node: str, port: int, proto: str) -> bool:
        state = "0A" if proto == "tcp" else "07"
        return any(lp == port for _, lp, _, _ in _proc_net(self.read_net(node, proto), state))

    def seen_from(self, node: str, port: int) -> set[str]:
        return {rip for _, lp, rip, _ in _proc_net(self.read_net(node, "tcp"), "01") if lp == port}

    # ---- checks ------------------------------------------------------------------------------------------------
    def check(self, e: Expectation) -> Result:
        t0 = time.monotonic()
        try:
            ok, detail = self._check(e)
        except Exception as ex:  # noqa: BLE001 - reported as a failed check
            ok, detail = False, f"could not run: {ex}"
        return Result(e, ok, detail, time.monotonic() - t0)

    def _lock(self, key) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(key, threading.Lock())

    def _check(self, e: Expectation) -> tuple[bool, str]:
        if e.kind == "resolves":
            p = self.agent(e.source, "resolve", e.name)
            a = self.answer(p, 10)
            self.finish(p)
            got = a.get("addresses", [])
            if str(e.ip) in got:
                return True, f"{e.name} is {', '.join(got)}"
            return False, (f"{e.name} resolved to {', '.join(got)}" if got else f"{e.name} did not resolve: "
                           f"{a.get('why')}")
        ip, node = self.target(e)
        if ip is None:
            return False, f"{e.target} has no address to probe"
        want = e.kind == "reach"
        timeout = REACH_TIMEOUT if want else UNREACH_TIMEOUT
        port = e.target.port
        if port is None:
            p = self.agent(e.source, "ping", ip, str(timeout))
            a = self.answer(p, timeout + 5)
            self.finish(p)
            return self._verdict(want, a, f"ping {ip}")
        server_node, server_port = node, port.number
        if node == "host":
            pub = self.published_to(port.number, port.proto)
            if pub is not None:
                server_node, server_port = pub
        with self._lock((server_node, server_port, port.proto)):
            listener = None
            if server_node is not None and server_node in self.ns and not self.listening(server_node, server_port,
                                                                                          port.proto):
                listener = self.agent(server_node, "listen", port.proto, str(server_port))
                ready = self.answer(listener, 10)
                if not ready.get("ready"):
                    self.finish(listener)
                    listener = None
                    if "in use" not in str(ready.get("why")):  # in use: the application just bound it
                        return False, f"could not start a listener in {server_node}: {ready.get('why')}"
            try:
                p = self.agent(e.source, "connect", port.proto, ip, str(port.number), str(timeout))
                a = self.answer(p, timeout + 5)
                seen = set()
                if a.get("ok") and port.proto == "tcp" and (e.as_ip is not None or e.as_node is not None):
                    seen = self.seen_from(server_node, server_port)
                self.finish(p)
            finally:
                if listener is not None:
                    self.finish(listener)
        ok, detail = self._verdict(want, a, f"{port.proto} {ip}:{port.number}")
        if ok and want and (e.as_ip is not None or e.as_node is not None):
            expected = str(e.as_ip) if e.as_ip is not None else primary_address(
                self.t, self.t.container_map[e.as_node]) if e.as_node in self.t.container_map else None
            if expected not in seen:
                return False, f"connected, but {server_node} saw {', '.join(sorted(seen)) or 'nothing'}, " \
                              f"not {expected}"
            detail += f", seen as {expected}"
        return ok, detail

    @staticmethod
    def _verdict(want: bool, a: dict, what: str) -> tuple[bool, str]:
        if a.get("ok"):
            return want, f"{what}: answered in {a.get('ms')} ms"
        return (not want), f"{what}: {a.get('why')}"

    def run(self, expectations) -> list[Result]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(self.check, expectations))
