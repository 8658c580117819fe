"""Deterministic addresses and MACs.

Addresses: each container interface on a bridge with an address and no
static address of its own gets the next free address of the bridge's pool
(the whole subnet by default), in file order, skipping the network and
broadcast addresses, the bridge's own address and every static address on
that bridge. Interfaces with an address but no prefix on a bridge take the
bridge's prefix. A dual-stack bridge has a pool per family (`pool6`, Docker's
`--fixed-cidr-v6`, for the IPv6 one; the whole subnet by default): each port
gets an address of each family, unless the file gives it one.

MACs (Docker's rule): `02:42` followed by the four bytes of the interface's
IPv4 address, so ARP caches stay right when a container is recreated with
the same address. An interface with no IPv4 address gets a locally
administered unicast MAC derived from a hash of the topology, node and
interface names: stable across runs and machines, different across
topologies.

`address auto` bridges, and external bridges that declare no address (they
use the one they have, as Docker's `-b` does), are allocated only once the
engine has resolved their subnet (`resolved` maps bridge name -> IfAddr).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from netaddr import IPAddress, IPNetwork

from pipenet.diagnostics import Diagnostic
from pipenet.ir import UNREADABLE_ADDRESS as UNREADABLE
from pipenet.ir import Bridge, IfAddr, Topology
from pipenet.kinds import KINDS


def docker_mac(ip: IPAddress) -> str:
    v = int(ip)
    return f"02:42:{v >> 24:02x}:{(v >> 16) & 255:02x}:{(v >> 8) & 255:02x}:{v & 255:02x}"


def hashed_mac(*parts: str) -> str:
    h = hashlib.sha256("\0".join(parts).encode()).digest()
    first = (h[0] & 0xFC) | 0x02  # locally administered, unicast
    if first == 0x02 and h[1] == 0x42:  # stay clear of Docker's 02:42 space
        first = 0x06
    return ":".join(f"{b:02x}" for b in bytes([first]) + h[1:6])


def mac_for(topology: str, node: str, ifname: str, address: IfAddr | None) -> str:
    if address is not None and address.version == 4:
        return docker_mac(address.ip)
    return hashed_mac(topology, node, ifname)


class _Pool:
    """Hands out a bridge's free addresses in order, without materialising the range."""

    def __init__(self, bridge: Bridge, subnet: IPNetwork, reserved: set[int], pool: IPNetwork | None):
        pool = pool if pool is not None else subnet
        self.bridge = bridge
        self.pool = pool
        self.subnet = subnet
        self.next = pool.first
        self.last = pool.last
        self.reserved = set(reserved)
        if subnet.version == 4 and subnet.prefixlen <= 30:
            self.reserved |= {subnet.first, subnet.last}
        if subnet.version == 6 and subnet.prefixlen <= 126:
            self.reserved.add(subnet.first)  # the subnet-router anycast address

    def take(self) -> IPAddress | None:
        while self.next <= self.last:
            n = self.next
            self.next += 1
            if n not in self.reserved:
                return IPAddress(n, self.subnet.version)
        return None


def allocate(topo: Topology, resolved: dict[str, IfAddr]) -> tuple[Topology, list[Diagnostic]]:
    diags: list[Diagnostic] = []
    bridges = {}
    for b in topo.bridges:
        if (b.auto or (b.external and b.address is None)) and b.name in resolved:
            b = replace(b, address=resolved[b.name])  # chosen by `address auto`, or an external bridge's own
        bridges.setdefault(b.name, b)
    # Static addresses first, so the pool skips them wherever they appear in the file.
    reserved: dict[tuple[str, int], set[int]] = {(name, v): set() for name in bridges for v in (4, 6)}
    for c in topo.containers:
        for i in c.interfaces:
            if KINDS[i.kind].on_bridge and (i.bridge, 4) in reserved:
                for a in i.addresses:
                    reserved[(i.bridge, a.version)].add(int(a.ip))
    pools: dict[tuple[str, int], _Pool] = {}
    for name, b in bridges.items():
        for address, pool in ((b.address, b.pool), (b.address6, b.pool6)):
            if address is not None and address.prefix is not None:
                key = (name, address.version)
                reserved[key].add(int(address.ip))
                pools[key] = _Pool(b, address.network, reserved[key], pool)
    exhausted: set[tuple[str, int]] = set()
    containers = []
    for c in topo.containers:
        ifaces = []
        changed = False
        for i in c.interfaces:
            new = i
            kind = KINDS[i.kind]
            if kind.on_bridge and UNREADABLE in i.spans:
                pass  # (its `address` could not be read, which is reported: no pool address in its place)
            elif kind.on_bridge and ((i.bridge, 4) in pools or (i.bridge, 6) in pools):
                given = {a.version: a for a in i.addresses}
                for version in (4, 6):
                    pool = pools.get((i.bridge, version))
                    if pool is None:
                        continue
                    if version not in given:
                        ip = pool.take()
                        if ip is None:
                            if (i.bridge, version) not in exhausted:
                                exhausted.add((i.bridge, version))
                                diags.append(Diagnostic(
                                    f"pool {pool.pool} of bridge {i.bridge} has no address left for {c.name}:{i.name}",
                                    i.spans.get("bridge", i.span),
                                    f"make the pool larger (it has {pool.pool.size} addresses) or use fewer containers"))
                        else:
                            given[version] = IfAddr(ip, pool.subnet.prefixlen)
                    elif given[version].prefix is None:
                        given[version] = given[version].with_prefix(pool.subnet.prefixlen)
                first = given.get(4) or given.get(6)
                second = given.get(6) if 4 in given else None
                if (first, second) != (i.address, i.address6):
                    new = replace(new, address=first, address6=second)
            elif kind.host_prefix and i.address is not None and i.address.prefix is None:
                new = replace(new, address=IfAddr(i.address.ip, i.address.prefixlen))
            if new.mac is None and not (kind.on_bridge and new.address is None and
                                        bridges.get(new.bridge) is not None and bridges[new.bridge].auto):
                new = replace(new, mac=mac_for(topo.name, c.name, new.name, new.address))
            if new is not i:
                changed = True
            ifaces.append(new)
        containers.append(replace(c, interfaces=tuple(ifaces)) if changed else c)
    links = []
    for link in topo.p2p:
        ends = []
        for end in (link.a, link.b):
            ends.append(end if end.mac is not None else
                        replace(end, mac=mac_for(topo.name, end.node, end.ifname, end.address)))
        links.append(replace(link, a=ends[0], b=ends[1]))
    new_bridges = tuple(bridges.get(b.name, b) if (b.auto or b.external) else b for b in topo.bridges)
    return replace(topo, bridges=new_bridges, containers=tuple(containers), p2p=tuple(links)), diags
