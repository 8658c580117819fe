"""Addresses and MACs: subnets, pools, prefixes, and uniqueness on each layer-2 segment."""

from __future__ import annotations

from netaddr import IPNetwork

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.kinds import KINDS
from pipenet.validate.index import Index


def _special(net: IPNetwork) -> dict:
    """Addresses of a subnet no interface may take: the network and broadcast addresses (IPv4, up to /30)."""
    if net.version == 4 and net.prefixlen <= 30:
        return {net.network: "the network address", net.broadcast: "the broadcast address"}
    return {}


def check_bridges(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    subnets = []
    for b in topo.bridges:
        for key, address in (("address", b.address), ("address6", b.address6)):
            asp = b.spans.get(key, b.span)
            if address is None:
                continue
            if address.prefix is None:
                out.append(Diagnostic(f"bridge {b.name}'s address needs a prefix", asp,
                                      f"the prefix sets the subnet, e.g. {address.ip}/{24 if address.version == 4 else 64}"))
            else:
                net = address.network
                what = _special(net).get(address.ip)
                if what:
                    out.append(Diagnostic(f"{address} is {what} of {net}", asp,
                                          f"the bridge needs a host address, e.g. {net[1]}/{net.prefixlen}"))
                subnets.append((net, b, key))
        for key, pool, subnet in (("pool", b.pool, b.subnet), ("pool6", b.pool6, b.subnet6)):
            if pool is None:
                continue
            psp = b.spans.get(key, b.span)
            if b.auto and key == "pool":
                out.append(Diagnostic(f"bridge {b.name} chooses its own subnet (address auto): it cannot have a pool",
                                      psp, "give the bridge an address to choose a pool within it"))
            elif not b.addresses:
                out.append(Diagnostic(f"bridge {b.name} has no address, so it cannot have a pool", psp,
                                      "a pool is a range of the bridge's subnet, e.g. address 172.17.42.1/16"))
            elif b.address_of(pool.version) is None:
                out.append(Diagnostic(f"bridge {b.name} has no IPv{pool.version} address, so it cannot have an "
                                      f"IPv{pool.version} pool", psp,
                                      "a pool is a range of the bridge's subnet of its family, e.g. "
                                      + ("address 172.17.42.1/16" if pool.version == 4 else "address fd00:17::1/64")))
            elif subnet is not None and (pool.version != subnet.version or pool not in subnet):
                out.append(Diagnostic(f"pool {pool} is not inside bridge {b.name}'s subnet {subnet}", psp,
                                      f"choose a pool within {subnet}"))
        if b.masquerade and not b.gateway:
            out.append(Diagnostic(f"bridge {b.name} has no address, so it cannot masquerade",
                                  b.spans.get("masquerade", b.span), "give the bridge an address (a gateway)"))
    subnets.sort(key=lambda nb: (nb[0].version, nb[0].first))
    for (n1, b1, _), (n2, b2, k2) in zip(subnets, subnets[1:]):
        if n1.version == n2.version and n2.first <= n1.last:
            out.append(Diagnostic(f"bridge {b2.name}'s subnet {n2} overlaps bridge {b1.name}'s {n1}",
                                  b2.spans.get(k2, b2.span), "give each bridge its own subnet"))
    return out


def check_static_addresses(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for c in topo.containers:
        for i in c.interfaces:
            for key, address in (("address", i.address), ("address6", i.address6)):
                if address is not None:
                    out += _static(c.name, i, address, i.spans.get(key, i.span), idx)
    return out


def _static(node: str, i, address, asp, idx: Index) -> list[Diagnostic]:
    """One static address of an interface: its prefix, and on a bridge, its place in the bridge's subnet
    of its family."""
    kind = KINDS[i.kind]
    if not kind.on_bridge:
        if address.prefix is None and not kind.host_prefix:
            return [Diagnostic(f"address {address} on {node}:{i.name} needs a prefix", asp,
                               f"e.g. {address.ip}/24")]
        return []
    b = idx.bridges.get(i.bridge)
    if b is None:
        return []
    if b.auto and address.version == 4:
        return [Diagnostic(f"bridge {b.name} chooses its own subnet (address auto), "
                           f"so {node} cannot have a fixed address on it", asp,
                           "leave the address out; pipenet assigns one from the chosen subnet")]
    own = b.address_of(address.version)
    if b.subnet is None and b.subnet6 is None and not b.auto:
        if address.prefix is None:
            return [Diagnostic(f"address {address} needs a prefix", asp,
                               f"addresses on bridge {b.name} need a prefix, e.g. {address.ip}/24")]
        return []
    net = own.network if own is not None and own.prefix is not None else None
    if net is None or address.ip not in net:
        where = f"subnet {net}" if net is not None else f"subnet ({b.name} has no IPv{address.version} address)"
        return [Diagnostic(f"address {address.ip} is outside bridge {b.name}'s {where}", asp,
                           f"addresses on {b.name} must be in {net}" if net is not None else
                           f"give {b.name} an IPv{address.version} address too (dual stack)")]
    out = []
    if address.prefix is not None and address.prefix != net.prefixlen:
        out.append(Diagnostic(f"prefix /{address.prefix} differs from bridge {b.name}'s /{net.prefixlen}",
                              asp, f"write {address.ip} or {address.ip}/{net.prefixlen}"))
    what = _special(net).get(address.ip)
    if address.ip == own.ip:
        what = f"bridge {b.name}'s own address (the gateway)"
    if what:
        out.append(Diagnostic(f"{address.ip} is {what}", asp, f"choose another address in {net}"))
    return out


def check_segments(topo: Topology, idx: Index) -> list[Diagnostic]:
    """No address or MAC twice on one layer-2 segment (a bridge with its ports, or a p2p link)."""
    out: list[Diagnostic] = []
    for key, ports in idx.segments.items():
        addrs: dict = {}
        macs: dict = {}  # MAC -> (who has it, its IPv4 address)
        if key.startswith("br:"):
            b = idx.bridges.get(key[3:])
            for a in (b.addresses if b is not None else ()):
                addrs[a.ip] = f"bridge {b.name}"
        for p in ports:
            for a in (p.address, p.address6):
                if a is None:
                    continue
                prev = addrs.get(a.ip)
                if prev is not None:
                    out.append(Diagnostic(f"address {a.ip} is used twice on one segment "
                                          f"({prev} and {p.node}:{p.ifname})", p.address_span,
                                          "every interface on a bridge or link needs its own address"))
                else:
                    addrs[a.ip] = f"{p.node}:{p.ifname}"
            if p.mac is not None:
                ipv4 = p.address.ip if p.address is not None and p.address.version == 4 else None
                prev = macs.get(p.mac)
                if prev is not None and not p.mac_written and ipv4 is not None and prev[1] == ipv4:
                    continue  # made from the IPv4 address it shares with `prev`, said above: one mistake, once
                if prev is not None:
                    out.append(Diagnostic(f"MAC {p.mac} is used twice on one segment ({prev[0]} and "
                                          f"{p.node}:{p.ifname})", p.mac_span,
                                          "every interface on a segment needs its own MAC"))
                else:
                    macs[p.mac] = (f"{p.node}:{p.ifname}", ipv4)
    return out


def check_macs(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for c in topo.containers:
        for i in c.interfaces:
            if i.mac is None or "mac" not in i.spans:
                continue
            first = int(i.mac.split(":")[0], 16)
            if first & 1:
                out.append(Diagnostic(f"MAC {i.mac} is a multicast address", i.spans["mac"],
                                      "an interface needs a unicast MAC: the first byte must be even, e.g. 02:..."))
            elif i.mac == "00:00:00:00:00:00":
                out.append(Diagnostic("MAC 00:00:00:00:00:00 is not a usable address", i.spans["mac"],
                                      "e.g. 02:42:ac:11:00:02"))
    return out
