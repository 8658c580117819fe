"""One machine's share of a topology that spans several (docs/multi-host.md).

The coordinator compiles the whole file once; each machine then gets a
*slice*: a single-machine topology that the ordinary engine plans, applies
and journals there. A slice holds the machine's containers and its copy of
every bridge they use. A bridge whose ports are on several machines gets a
VXLAN tunnel on each copy to every other copy (`Tunnel`: learning off, one
static all-zeros forwarding entry per remote), and its address, NAT and
published-port rules only on the machine the bridge names (`machine M`, or
the local machine); its containers elsewhere keep their default route to
that address, across the tunnel. A p2p link between machines becomes a
segment of its own: a bridge without an address on each side, each end a
port of it, joined by a point-to-point tunnel (so it is carried exactly as
a spanning bridge is).

Everything here is a function of the file and the underlay MTUs the
coordinator read from the machines: every machine computes the same VNIs,
ports and names, and the same inner MTU, which is the smallest underlay's
minus the encapsulation (ENCAP bytes: 50 over an IPv4 underlay, 70 over an
IPv6 one; a declared MTU that does not fit is a located error before any
change, and so is a segment whose machines mix the two).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from netaddr import IPAddress

from pipenet.diagnostics import Diagnostic
from pipenet.ir import AddHost, Bridge, IfAddr, Interface, Route, Topology, Tunnel
from pipenet.kinds.vxlan import DEFAULT_PORT
from pipenet.validate.machines import LOCAL, machine_of, spanning_bridges, underlay

#: the underlay's IP version -> outer IPv4 (20) or IPv6 (40) + UDP (8) + VXLAN (8) + inner Ethernet (14)
ENCAP = {4: 50, 6: 70}
DEFAULT_UNDERLAY_MTU = 1500


def spans_machines(topo: Topology) -> bool:
    """Whether the topology names another machine at all (otherwise: today's single-machine pipenet)."""
    return bool(topo.machines) or any(c.machine for c in topo.containers) or any(b.machine for b in topo.bridges)


def machines_used(topo: Topology) -> list[str]:
    """The machines that get a slice, local first when it has one, then in file order."""
    wired = with_wires(topo)
    used = {machine_of(wired, c.name) for c in wired.containers}
    used |= {b.machine or LOCAL for b in wired.bridges if b.machine or b.gateway}
    order = [LOCAL] + [m.name for m in topo.machines if m.name != LOCAL]
    return [m for m in order if m in used]


def underlays(topo: Topology) -> dict[str, IPAddress]:
    return {m.name: underlay(m) for m in topo.machines if underlay(m) is not None}


def vni(topology: str, segment: str, taken: set[int]) -> int:
    """A VNI from the topology's and the segment's names (1 .. 2^24-1), the next free one on a collision."""
    n = 1 + int(hashlib.sha1(f"vni/{topology}/{segment}".encode()).hexdigest()[:8], 16) % (2**24 - 2)
    while n in taken:
        n = n % (2**24 - 2) + 1
    taken.add(n)
    return n


def wire_name(link) -> str:
    """The bridge that carries a p2p link between machines (one per link, from its two ends)."""
    return "pnw" + hashlib.sha1(f"{link.a.ref}--{link.b.ref}".encode()).hexdigest()[:10]


def with_wires(topo: Topology) -> Topology:
    """The topology with each p2p link between machines made a two-port segment (see the module's doc)."""
    across = [link for link in topo.p2p if machine_of(topo, link.a.node) != machine_of(topo, link.b.node)]
    if not across:
        return topo
    cmap = {c.name: c for c in topo.containers}
    bridges = list(topo.bridges)
    for link in across:
        name = wire_name(link)
        bridges.append(Bridge(name, mtu=link.mtu, masquerade=False, span=link.span))
        for end, peer in ((link.a, link.b), (link.b, link.a)):
            c = cmap[end.node]
            addr = end.address
            routes = c.routes
            if addr is not None and addr.prefix is None:  # a host address, and a route to the peer
                addr = addr.with_prefix(32 if addr.version == 4 else 128)
                if peer.address is not None:
                    routes += (Route(_host_network(peer.address), None, end.ifname, span=link.span),)
            iface = Interface(end.ifname, "port", bridge=name, address=addr, mac=end.mac, mtu=link.mtu,
                              span=end.span)
            shapes = c.shapes + ((replace(link.shape, ifname=end.ifname),) if link.shape is not None else ())
            cmap[end.node] = replace(c, interfaces=c.interfaces + (iface,), routes=routes, shapes=shapes)
    return replace(topo, bridges=tuple(bridges), containers=tuple(cmap[c.name] for c in topo.containers),
                   p2p=tuple(link for link in topo.p2p if link not in across))


def _host_network(addr: IfAddr):
    """The peer's address alone, as a route's destination (a p2p end without a prefix: a host route)."""
    from netaddr import IPNetwork

    return IPNetwork(f"{addr.ip}/{32 if addr.version == 4 else 128}")


def inner_mtus(topo: Topology, underlay_mtu: dict[str, int]) -> tuple[dict[str, int], list[Diagnostic]]:
    """{spanning bridge: its inner MTU}, and a located error for each declared MTU that does not fit."""
    wired = with_wires(topo)
    under = underlays(topo)
    out, diags = {}, []
    for b, ms in spanning_bridges(wired).items():
        br = wired.bridge_map[b]
        versions = {m: under[m].version for m in ms if m in under}
        version = max(versions.values(), default=4)
        if len(set(versions.values())) > 1:
            v6 = sorted(m for m, v in versions.items() if v == 6)
            diags.append(Diagnostic(
                f"the tunnel of {b} between {', '.join(ms)} mixes IPv4 and IPv6 underlays ({', '.join(v6)}: IPv6)",
                br.span, "give every machine of a segment an underlay of one family (underlay ADDR)"))
        encap = ENCAP[version]
        fit = min(underlay_mtu.get(m, DEFAULT_UNDERLAY_MTU) for m in ms) - encap
        declared = [(br.mtu, br.spans.get("mtu", br.span))] if br.mtu is not None else []
        for c in wired.containers:
            declared += [(i.mtu, i.spans.get("mtu", i.span)) for i in c.interfaces if i.bridge == b and i.mtu]
        for mtu, span in declared:
            if mtu > fit:
                lowest = min(ms, key=lambda m: underlay_mtu.get(m, DEFAULT_UNDERLAY_MTU))
                diags.append(Diagnostic(
                    f"MTU {mtu} does not fit in the tunnel between {', '.join(ms)}: the underlay of {lowest} has "
                    f"MTU {underlay_mtu.get(lowest, DEFAULT_UNDERLAY_MTU)}, less {encap} for VXLAN over "
                    f"IPv{version}", span, f"give mtu {fit} or less (or leave it out: pipenet then uses {fit})"))
        out[b] = min([fit] + [m for m, _ in declared])
    return out, diags


def slice_for(topo: Topology, machine: str, underlay_mtu: dict[str, int] | None = None) -> Topology:
    """The single-machine topology `machine` brings up (see the module's doc)."""
    wired = with_wires(topo)
    mtus, _ = inner_mtus(topo, underlay_mtu or {})
    spanning = spanning_bridges(wired)
    under = underlays(topo)
    taken: set[int] = set()
    vnis = {b: vni(topo.name, b, taken) for b in sorted(spanning)}
    containers = []
    for c in wired.containers:
        if machine_of(wired, c.name) != machine:
            continue
        p = c.primary
        b = wired.bridge_map.get(p.bridge) if p is not None else None
        routes = c.routes
        if (b is not None and b.address is not None and (b.machine or LOCAL) != machine and p.address is not None
                and not any(r.dest is None for r in routes)):  # its gateway is across the tunnel
            routes = (Route(None, b.address.ip, span=c.span),) + routes
        containers.append(replace(c, machine=None, routes=routes,
                                  add_hosts=c.add_hosts + _elsewhere(wired, c, machine)))
    mine = {i.bridge for c in containers for i in c.interfaces if i.bridge is not None}
    bridges, tunnels = [], []
    for b in wired.bridges:
        home = (b.machine or LOCAL) == machine and (b.machine or b.gateway)
        if not home and b.name not in mine:
            continue
        kw = {"machine": None}
        if not home:  # a copy: its address, NAT and ports live on the bridge's own machine
            kw.update(address=None, auto=False, masquerade=False)
        if b.name in spanning:
            kw["mtu"] = mtus[b.name]
            peers = [m for m in spanning[b.name] if m != machine]
            tunnels.append(Tunnel(b.name, f"pnx{vnis[b.name]:06x}", vnis[b.name], DEFAULT_PORT, under[machine],
                                  tuple(under[m] for m in peers), mtus[b.name]))
        bridges.append(replace(b, **kw))
    names = {c.name for c in containers}
    links = tuple(link for link in wired.p2p if link.a.node in names | {"host"} and link.b.node in names | {"host"})
    if machine != LOCAL:
        links = tuple(link for link in links if "host" not in (link.a.node, link.b.node))
    expects = tuple(_aimed(wired, e, names) for e in wired.expectations if machine_of(wired, e.source) == machine)
    host = wired.host if machine == LOCAL else type(wired.host)()
    return replace(wired, bridges=tuple(bridges), containers=tuple(containers), p2p=links, host=host,
                   expectations=expects, machines=(), tunnels=tuple(tunnels), machine=machine)


def _elsewhere(topo: Topology, c, machine: str) -> tuple[AddHost, ...]:
    """/etc/hosts entries of c for nodes on other machines (its `link`s, and every node with `hosts auto`),
    which the slice does not hold: the lines the whole topology would give it."""
    from pipenet.plan.etc import primary_address

    wanted = [(t.target, t.alias) for t in c.links]
    if topo.hosts_auto:
        wanted += [(o.name, None) for o in topo.containers if o.name != c.name and o.net.kind != "host"]
    out = []
    for name, alias in wanted:
        other = topo.container_map.get(name)
        if other is None or machine_of(topo, name) == machine:
            continue
        ip = primary_address(topo, other)
        if ip is not None:
            names = other.hostname if other.hostname == other.name else f"{other.hostname} {other.name}"
            head = f"{alias} " if alias and alias not in (other.hostname, other.name) else ""
            out.append(AddHost(head + names, IPAddress(ip), span=c.span))
    return tuple(out)


def _aimed(topo: Topology, e, here: set[str]):
    """An expectation of a slice: a target node on another machine becomes its address (its primary one),
    which the probe reaches across the tunnel."""
    from pipenet.plan.etc import primary_address

    t = e.target
    if t is None or t.node is None or t.node in here or t.node == "host":
        return e
    c = topo.container_map.get(t.node)
    ip = primary_address(topo, c) if c is not None else None
    if ip is None:
        return e
    return replace(e, target=replace(t, node=None, ip=IPAddress(str(ip))))
