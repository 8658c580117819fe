"""Facts derived once from a topology and shared by the validation passes.

Which names are nodes, which interfaces each node has (its own, its p2p
ends, eth0 of `net BRIDGE`), and which interfaces share a layer-2 segment
(the ports of one bridge, the two ends of one p2p link). Building it is
linear in the size of the topology, so no pass needs a quadratic search.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipenet.ir import Container, IfAddr, Topology
from pipenet.kinds import KINDS
from pipenet.source import Span

HOST = "host"


@dataclass(frozen=True)
class Port:
    """One interface on a layer-2 segment."""

    node: str
    ifname: str
    address: IfAddr | None
    mac: str | None
    span: Span
    address_span: Span
    mac_span: Span
    address6: IfAddr | None = None  # a dual-stack port's IPv6 address
    mac_written: bool = True  # False: the allocator's (from the IPv4 address, as Docker does, or hashed)


class Index:
    def __init__(self, topo: Topology):
        self.topo = topo
        self.bridges = {}
        for b in topo.bridges:
            self.bridges.setdefault(b.name, b)
        self.containers: dict[str, Container] = {}
        for c in topo.containers:
            self.containers.setdefault(c.name, c)
        # interfaces per node: name -> span where declared
        self.ifaces: dict[str, dict[str, Span]] = {c: {"lo": c_.span} for c, c_ in self.containers.items()}
        self.ifaces[HOST] = {}
        # segments: key -> ports; bridges are "br:NAME", p2p links "p2p:N"
        self.segments: dict[str, list[Port]] = {}
        for c in topo.containers:
            node_if = self.ifaces.setdefault(c.name, {"lo": c.span})
            for i in c.interfaces:
                if i.name in node_if:
                    continue  # a duplicate interface, reported by the names pass
                node_if[i.name] = i.span
                if KINDS[i.kind].on_bridge and i.bridge is not None:
                    self.segments.setdefault(f"br:{i.bridge}", []).append(
                        Port(c.name, i.name, i.address, i.mac, i.span, i.spans.get("address", i.span),
                             i.spans.get("mac", i.span), i.address6, "mac" in i.spans))
        for n, link in enumerate(topo.p2p):
            seg = self.segments.setdefault(f"p2p:{n}", [])
            for end in (link.a, link.b):
                self.ifaces.setdefault(end.node, {}).setdefault(end.ifname, end.span)
                seg.append(Port(end.node, end.ifname, end.address, end.mac, end.span,
                                end.spans.get("address", end.span), end.span))
        for b in topo.bridges:
            self.ifaces[HOST].setdefault(b.name, b.span)

    def node_names(self) -> list[str]:
        return list(self.containers) + [HOST]

    def is_node(self, name: str) -> bool:
        return name == HOST or name in self.containers

    def p2p_peers(self, node: str):
        """(own end, peer end) for every p2p link of `node`."""
        for link in self.topo.p2p:
            if link.a.node == node:
                yield link.a, link.b
            if link.b.node == node:
                yield link.b, link.a
