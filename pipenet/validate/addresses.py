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
        asp = b.spans.get("address", b.span)
        if b.address is not None:
            if b.address.prefix is None:
                out.append(Diagnostic(f"bridge {b.name}'s address needs a prefix", asp,
                                      f"the prefix sets the subnet, e.g. {b.address.ip}/24"))
            else:
                net = b.subnet
                what = _special(net).get(b.address.ip)
                if what:
                    out.append(Diagnostic(f"{b.address} is {what} of {net}", asp,
                                          f"the bridge needs a host address, e.g. {net[1]}/{net.prefixlen}"))
                subnets.append((net, b))
        if b.pool is not None:
            psp = b.spans.get("pool", b.span)
            if b.auto:
                out.append(Diagnostic(f"bridge {b.name} chooses its own subnet (address auto): it cannot have a pool",
                                      psp, "give the bridge an address to choose a pool within it"))
            elif b.address is None:
                out.append(Diagnostic(f"bridge {b.name} has no address, so it cannot have a pool", psp,
                                      "a pool is a range of the bridge's subnet, e.g. address 172.17.42.1/16"))
            elif b.subnet is not None and (b.pool.version != b.subnet.version or b.pool not in b.subnet):
                out.append(Diagnostic(f"pool {b.pool} is not inside bridge {b.name}'s subnet {b.subnet}", psp,
                                      f"choose a pool within {b.subnet}"))
        if b.masquerade and not b.gateway:
            out.append(Diagnostic(f"bridge {b.name} has no address, so it cannot masquerade",
                                  b.spans.get("masquerade", b.span), "give the bridge an address (a gateway)"))
    subnets.sort(key=lambda nb: (nb[0].version, nb[0].first))
    for (n1, b1), (n2, b2) in zip(subnets, subnets[1:]):
        if n1.version == n2.version and n2.first <= n1.last:
            out.append(Diagnostic(f"bridge {b2.name}'s subnet {n2} overlaps bridge {b1.name}'s {n1}",
                                  b2.spans.get("address", b2.span), "give each bridge its own subnet"))
    return out


def check_static_addresses(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for c in topo.containers:
        for i in c.interfaces:
            if i.address is None:
                continue
            asp = i.spans.get("address", i.span)
            kind = KINDS[i.kind]
            if not kind.on_bridge:
                if i.address.prefix is None and not kind.host_prefix:
                    out.append(Diagnostic(f"address {i.address} on {c.name}:{i.name} needs a prefix", asp,
                                          f"e.g. {i.address.ip}/24"))
                continue
            b = idx.bridges.get(i.bridge)
            if b is None:
                continue
            if b.auto:
                out.append(Diagnostic(f"bridge {b.name} chooses its own subnet (address auto), "
                                      f"so {c.name} cannot have a fixed address on it", asp,
                                      "leave the address out; pipenet assigns one from the chosen subnet"))
                continue
            if b.subnet is None:
                if i.address.prefix is None:
                    out.append(Diagnostic(f"address {i.address} needs a prefix", asp,
                                          f"addresses on bridge {b.name} need a prefix, e.g. {i.address.ip}/24"))
                continue
            net = b.subnet
            if i.address.version != net.version or i.address.ip not in net:
                out.append(Diagnostic(f"address {i.address.ip} is outside bridge {b.name}'s subnet {net}", asp,
                                      f"addresses on {b.name} must be in {net}"))
                continue
            if i.address.prefix is not None and i.address.prefix != net.prefixlen:
                out.append(Diagnostic(f"prefix /{i.address.prefix} differs from bridge {b.name}'s /{net.prefixlen}",
                                      asp, f"write {i.address.ip} or {i.address.ip}/{net.prefixlen}"))
            what = _special(net).get(i.address.ip)
            if i.address.ip == b.address.ip:
                what = f"bridge {b.name}'s own address (the gateway)"
            if what:
                out.append(Diagnostic(f"{i.address.ip} is {what}", asp,
                                      f"choose another address in {net}"))
    return out


def check_segments(topo: Topology, idx: Index) -> list[Diagnostic]:
    """No address or MAC twice on one layer-2 segment (a bridge with its ports, or a p2p link)."""
    out: list[Diagnostic] = []
    for key, ports in idx.segments.items():
        addrs: dict = {}
        macs: dict = {}
        if key.startswith("br:"):
            b = idx.bridges.get(key[3:])
            if b is not None and b.address is not None:
                addrs[b.address.ip] = f"bridge {b.name}"
        for p in ports:
            if p.address is not None:
                prev = addrs.get(p.address.ip)
                if prev is not None:
                    out.append(Diagnostic(f"address {p.address.ip} is used twice on one segment "
                                          f"({prev} and {p.node}:{p.ifname})", p.address_span,
                                          "every interface on a bridge or link needs its own address"))
                else:
                    addrs[p.address.ip] = f"{p.node}:{p.ifname}"
            if p.mac is not None:
                prev = macs.get(p.mac)
                if prev is not None:
                    out.append(Diagnostic(f"MAC {p.mac} is used twice on one segment ({prev} and {p.node}:{p.ifname})",
                                          p.mac_span, "every interface on a segment needs its own MAC"))
                else:
                    macs[p.mac] = f"{p.node}:{p.ifname}"
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
