"""What an expectation aims at: the address to probe and the node that will answer.

A node name means its primary address. An address means whoever owns it in
the topology; a loopback address means the source itself (127.0.0.1 in a
container is the container's own loopback, never the host's). `host` means
the host's address as the source sees it: the gateway address of a bridge the
source is plugged into, or the host's end of a point-to-point link to it. A
source with neither has no way to the host, and the check says so instead of
probing something else. (A source that shares the host's namespace, `net
host`, reaches it on 127.0.0.1.) A `net host` container is the host: aimed
at, it means the same address.

`over ipv6` (or `over ipv4`) makes every name of the expectation mean the
address of that family: the target's, the `as` node's and the host's (the
bridge's IPv6 gateway, `::1` in the host's own namespace). A node without
an address of that family has nothing to probe, and the check says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from netaddr import IPAddress

from pipenet.ir import Expectation, Topology
from pipenet.kinds import KINDS
from pipenet.plan.etc import primary_address

HOST = "host"


@dataclass(frozen=True)
class Aim:
    """The probed address, the node answering it (None: outside the topology), or why there is none."""

    ip: str | None
    node: str | None
    why: str | None = None


class Targets:
    def __init__(self, topo: Topology, record: dict):
        self.t = topo
        self.record = record
        self.ns: dict[str, str] = record.get("ns", {})

    def owner(self, node: str) -> str:
        """The node whose namespace `node` lives in (`net container` chains followed; `net host` is the host)."""
        seen = set()
        c = self.t.container_map.get(node)
        while c is not None and node not in seen:
            seen.add(node)
            if c.net.kind == "host":
                return HOST
            if c.net.kind != "container" or c.net.target is None:
                return node
            node = c.net.target
            c = self.t.container_map.get(node)
        return node

    def host_address_for(self, node: str, family: int | None = None) -> str | None:
        """The host's address as `node` sees it (of `family` when given), or None when `node` has no link
        to the host."""
        owner = self.owner(node)
        if owner == HOST:
            return "::1" if family == 6 else "127.0.0.1"
        c = self.t.container_map.get(owner)
        if c is not None:
            ports = sorted((i for i in c.interfaces if KINDS[i.kind].on_bridge), key=lambda i: not i.primary)
            for i in ports:
                b = self.t.bridge_map.get(i.bridge)
                gw = None if b is None else (b.address if family is None else b.address_of(family))
                if gw is not None:
                    return str(gw.ip)
        for link in self.t.p2p:
            for end, peer in ((link.a, link.b), (link.b, link.a)):
                if end.node == owner and peer.node == HOST and peer.address is not None and (
                        family is None or peer.address.version == family):
                    return str(peer.address.ip)
        return None

    def owner_of(self, ip: str) -> str | None:
        for c in self.t.containers:
            for i in c.interfaces:
                if any(str(a.ip) == ip for a in i.addresses):
                    return c.name
        for link in self.t.p2p:
            for end in (link.a, link.b):
                if end.address is not None and str(end.address.ip) == ip:
                    return end.node
        for b in self.t.bridges:
            if any(str(a.ip) == ip for a in b.addresses):
                return HOST
        return None

    def aim(self, e: Expectation) -> Aim:
        t = e.target
        over = f"IPv{e.family} " if e.family is not None else ""
        if t.node == HOST or (t.node is not None and self.owner(t.node) == HOST):  # (`net host`: the host)
            ip = self.host_address_for(e.source, e.family)
            if ip is None:
                why = (f"its links to the host have no {over}address" if e.family is not None
                       and self.host_address_for(e.source) is not None
                       else "no bridge with an address, no point-to-point link to the host")
                return Aim(None, HOST, f"no route to host: the host has no {over}address reachable from {e.source} "
                                       f"({why})")
            return Aim(ip, HOST)
        if t.node is not None:
            ip = primary_address(self.t, self.t.container_map[t.node], e.family)
            return Aim(ip, t.node, None if ip is not None else f"{t.node} has no {over}address to probe")
        ip = str(t.ip)
        if IPAddress(ip).is_loopback():
            return Aim(ip, e.source)
        return Aim(ip, self.owner_of(ip))

    def has_ipv6(self) -> bool:
        addrs = [a for c in self.t.containers for i in c.interfaces for a in i.addresses]
        addrs += [end.address for link in self.t.p2p for end in (link.a, link.b)]
        addrs += [a for b in self.t.bridges for a in b.addresses]
        return any(a is not None and a.ip.version == 6 for a in addrs)

    def published_to(self, host_port: int, proto: str) -> tuple[str, int] | None:
        for p in self.record.get("published", []):
            if p["host_port"] == host_port and p["proto"] == proto:
                return p["node"], p["port"]
        return None

    def ns_ref(self, node: str | None) -> str | None:
        """The namespace ref of a node ("" for the host), None when it has none pipenet knows."""
        if node is None:
            return None
        if node == HOST:
            return ""
        return self.ns.get(node)

    def expected_as(self, e: Expectation) -> str | None:
        if e.as_ip is not None:
            return str(e.as_ip)
        c = self.t.container_map.get(e.as_node) if e.as_node is not None else None
        return primary_address(self.t, c, e.family) if c is not None else None
