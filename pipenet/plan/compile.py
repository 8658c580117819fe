"""IR to the desired list of operations, in an order the kernel accepts.

Namespaces, then bridges and their addresses, then interfaces (each made by
its kind's module, `pipenet.kinds`, and each after the interface it is made
on: the node's own first, then p2p pairs, then those made on a p2p end),
then addresses, then routes (p2p host routes, the default route via a
gateway bridge, the file's own routes), then sysctls and shaping. Each
interface's operation key is remembered so that what lives on it names it as
a parent.
"""

from __future__ import annotations

import os

from pipenet.allocate import hashed_mac
from pipenet.ir import Container, IfAddr, Interface, Topology
from pipenet.kinds import KINDS
from pipenet.plan import etc as etc_files
from pipenet.plan.firewall import TABLE_JUMPS, Published, bare_table, chain_base, tables_for, with_tag
from pipenet.plan.names import netns_name
from pipenet.plan.ops import (AddAddress, AddLink, AddRoute, AddTunnel, AddVeth, CreateBridge, CreateNamespace,
                              Firewall, HostSetting, NodePath, Op, SetShape, SetSysctl, StartProcess, UseNamespace, WriteEtc)

HOST = "host"


def attach_ref(c: Container, docker_pid=None) -> str:
    a = c.attach
    if a.kind == "pid":
        return f"/proc/{a.value}/ns/net"
    if a.kind == "netns":
        return a.value
    if docker_pid is None:
        raise ValueError("docker pid not resolved")
    return f"/proc/{docker_pid}/ns/net"


def port_key(node: str, port: int, proto: str) -> str:
    return f"{node}/{port}/{proto}"


def auto_ports_needed(topo: Topology) -> list[str]:
    """Keys of published ports whose host port pipenet chooses (`publish PORT`, `publish-all`)."""
    keys = []
    for c in topo.containers:
        explicit = {(p.port, p.proto) for p in c.publish}
        for p in c.publish:
            if p.host_port is None:
                keys.append(port_key(c.name, p.port, p.proto))
        if c.publish_all:
            for e in c.expose:
                if (e.number, e.proto) not in explicit:
                    keys.append(port_key(c.name, e.number, e.proto))
    return keys


def published(topo: Topology, ports: dict[str, int]) -> list[Published]:
    out = []
    for c in topo.containers:
        p0 = c.primary
        if p0 is None or p0.address is None:
            continue
        ip = str(p0.address.ip)
        ip6 = str(p0.address6.ip) if p0.address6 is not None else None  # dual stack: published over both
        explicit = {(p.port, p.proto) for p in c.publish}
        for p in c.publish:
            hp = p.host_port if p.host_port is not None else ports.get(port_key(c.name, p.port, p.proto))
            if hp is not None:
                out.append(Published(c.name, p0.bridge, None if p.host_ip is None else str(p.host_ip), hp, ip,
                                     p.port, p.proto, ip6))
        if c.publish_all:
            for e in c.expose:
                hp = ports.get(port_key(c.name, e.number, e.proto))
                if (e.number, e.proto) not in explicit and hp is not None:
                    out.append(Published(c.name, p0.bridge, None, hp, ip, e.number, e.proto, ip6))
    return out


def quiet_bridges(topo: Topology) -> set[str]:
    """Bridges whose segment has no IPv6 at all (not on the bridge, not on any interface on it): their
    ports get no IPv6 autoconfiguration, as Docker does for networks without IPv6. (Each port would
    otherwise take a link-local address, run duplicate address detection and join multicast groups,
    flooded to every other port: at a thousand containers, half the kernel's work.)"""
    v6 = {b.name for b in topo.bridges if b.has_ipv6}
    for c in topo.containers:
        for i in c.interfaces:
            if KINDS[i.kind].on_bridge and i.address_of(6) is not None:
                v6.add(i.bridge)
    return {b.name for b in topo.bridges if b.name not in v6}


def ipv6_nodes(topo: Topology) -> set[str]:
    """Containers with an IPv6 address or route anywhere (the others get no IPv6 autoconfiguration)."""
    out = set()
    v6_bridges = {b.name for b in topo.bridges if b.has_ipv6}
    for c in topo.containers:
        if any(i.address_of(6) is not None or (KINDS[i.kind].on_bridge and i.bridge in v6_bridges)
               for i in c.interfaces) or any(
                (r.dest is not None and r.dest.version == 6) or (r.via is not None and r.via.version == 6)
                for r in c.routes):
            out.add(c.name)
    for link in topo.p2p:
        for end in (link.a, link.b):
            if end.address is not None and end.address.version == 6:
                out.add(end.node)
    return out


class Compiler:
    def __init__(self, topo: Topology, docker_pids: dict[str, int] | None = None, ports: dict[str, int] | None = None,
                 host_resolv: str = "", log_dir: str = ""):
        self.t = topo
        self.ops: list[Op] = []
        self.ns: dict[str, str] = {HOST: ""}
        self.iface_key: dict[tuple[str, str], str] = {}
        self.docker_pids = docker_pids or {}
        self.ports = ports or {}
        self.host_resolv = host_resolv
        self.log_dir = log_dir
        self.published = published(topo, self.ports)
        self.quiet_bridges = quiet_bridges(topo)
        self.v6_nodes = ipv6_nodes(topo)

    def node_ns(self, node: str) -> str:
        return self.ns[node]

    def owner(self, node: str) -> str:
        """The node that owns `node`'s namespace (net container chains lead to it)."""
        seen = set()
        c = self.t.container_map.get(node)
        while c is not None and c.net.kind == "container" and c.name not in seen:
            seen.add(c.name)
            node = c.net.target
            c = self.t.container_map.get(node)
        if c is not None and c.net.kind == "host":
            return HOST
        return node

    def compile(self) -> list[Op]:
        t = self.t
        # namespaces
        for c in t.containers:
            if c.net.kind in ("host", "container"):
                continue
            if c.attach is not None:
                ref = attach_ref(c, self.docker_pids.get(c.name))
                self.ns[c.name] = ref
                self.ops.append(UseNamespace(c.name, ref))
            else:
                ref = netns_name(t.name, c.name)
                self.ns[c.name] = ref
                self.ops.append(CreateNamespace(c.name, ref, owner=t.name, quiet=c.name not in self.v6_nodes))
        for c in t.containers:
            if c.net.kind in ("host", "container"):
                self.ns[c.name] = self.ns.get(self.owner(c.name), "")
        # bridges
        for b in t.bridges:
            key = f"link:host:{b.name}"
            self.iface_key[(HOST, b.name)] = key
            if not b.external:
                # a MAC of its own: a bridge otherwise takes its lowest port's, which changes as ports come and go
                self.ops.append(CreateBridge(b.name, b.mtu, owner=t.name, quiet=b.name in self.quiet_bridges,
                                             mac=hashed_mac(t.name, t.machine or HOST, b.name)))
            for address in b.addresses:
                if address.prefix is not None:
                    # on an external bridge an address already there is adopted (never added, never removed)
                    self.ops.append(AddAddress(HOST, "", b.name, str(address.ip), address.prefix,
                                               key if not b.external else "", nodad=not b.external))
        for tn in t.tunnels:  # (a slice's, to the other machines its bridge spans: docs/multi-host.md)
            self.ops.append(AddTunnel(HOST, "", tn.name, "vxlan", mtu=tn.mtu, owner=t.name, master=tn.bridge,
                                      options={"id": tn.vni, "remote": str(tn.remotes[0]), "local": str(tn.local),
                                               "port": tn.port, "learning": False},
                                      fdb=tuple(str(r) for r in tn.remotes[1:])))
        # interfaces
        made: dict[str, set[str]] = {}
        on_p2p: list[tuple[Container, list[Interface]]] = []
        for c in t.containers:
            if c.name not in self.ns or c.net.kind in ("host", "container"):
                continue
            made[c.name] = set()
            later = self._interfaces(c, list(c.interfaces), made[c.name])
            if later:
                on_p2p.append((c, later))
        for link in t.p2p:
            a, b = link.a, link.b
            if a.node not in self.ns or b.node not in self.ns:
                continue
            if b.node == HOST and a.node != HOST:
                a, b = b, a  # the host's end is made and brought up first (see AddVeth.quiet)
            segment_v6 = any(e.address is not None and e.address.version == 6 for e in (a, b))
            op = AddVeth(a.node, self.ns[a.node], a.ifname, b.node, self.ns[b.node], b.ifname, mac=a.mac,
                         peer_mac=b.mac, mtu=link.mtu, owner=t.name,
                         quiet=not segment_v6 and a.node not in self.v6_nodes)
            self.ops.append(op)
            self.iface_key[(a.node, a.ifname)] = op.key
            self.iface_key[(b.node, b.ifname)] = op.key
            for end in (a, b):
                made.get(end.node, set()).add(end.ifname)
        for c, later in on_p2p:  # made on a p2p end: after the pair
            self._interfaces(c, later, made[c.name])
        # addresses
        for c in t.containers:
            if c.name not in self.ns or c.net.kind in ("host", "container"):
                continue
            for i in c.interfaces:
                for address in i.addresses:  # (a macvlan or VLAN is on a real segment: it keeps DAD)
                    self._addr(c.name, i.name, address, nodad=KINDS[i.kind].own_segment)
        for link in t.p2p:
            for end in (link.a, link.b):
                if end.address is not None and end.node in self.ns:
                    self._addr(end.node, end.ifname, end.address)
        # routes
        for link in t.p2p:
            for end, peer in ((link.a, link.b), (link.b, link.a)):
                if end.node not in self.ns:
                    continue
                if end.address is not None and end.address.prefix is None and peer.address is not None:
                    key = self.iface_key[(end.node, end.ifname)]
                    self.ops.append(AddRoute(end.node, self.ns[end.node], f"{peer.address.ip}/32", None, end.ifname,
                                             None, (key,)))
        for c in t.containers:
            if c.name not in self.ns or c.net.kind in ("host", "container"):
                continue
            ns = self.ns[c.name]
            # a route default of the file replaces the automatic one of its family (that of its gateway)
            own_default = {r.via.version if r.via is not None else 4: True for r in c.routes if r.dest is None}
            p = c.primary
            b = t.bridge_map.get(p.bridge) if p is not None else None
            for version in (4, 6):  # a default route of each family the bridge and the port share
                gw = b.address_of(version) if b is not None else None
                if gw is not None and p.address_of(version) is not None and not own_default.get(version):
                    self.ops.append(AddRoute(c.name, ns, None, str(gw.ip), None, None,
                                             (self.iface_key[(c.name, p.name)],)))
            for r in c.routes:
                self.ops.append(self._route(c.name, ns, r))
        for r in t.host.routes:
            self.ops.append(self._route(HOST, "", r))
        # sysctls
        for c in t.containers:
            if c.name not in self.ns or c.net.kind in ("host", "container"):
                continue
            if c.forwarding is not None:
                value = "1" if c.forwarding else "0"
                self.ops.append(SetSysctl(c.name, self.ns[c.name], "net.ipv4.ip_forward", value))
                if c.name in self.v6_nodes:  # a router of both families
                    self.ops.append(SetSysctl(c.name, self.ns[c.name], "net.ipv6.conf.all.forwarding", value))
            for s in c.sysctls:
                self.ops.append(SetSysctl(c.name, self.ns[c.name], s.key, s.value))
        if any(b.gateway for b in t.bridges) or t.host.forwarding:
            self.ops.append(HostSetting(t.name, "net.ipv4.ip_forward", "1"))
        elif t.host.forwarding is False:
            self.ops.append(HostSetting(t.name, "net.ipv4.ip_forward", "0"))
        if any(b.has_ipv6 for b in t.bridges):
            self.ops.append(HostSetting(t.name, "net.ipv6.conf.all.forwarding", "1"))
        for br in sorted({p.bridge for p in self.published}):
            name = f"net/ipv4/conf/{br}/route_localnet"
            if t.bridge_map[br].external:  # someone else's bridge: shared with whoever else uses it
                self.ops.append(HostSetting(t.name, name, "1"))
            else:  # a setting of pipenet's own bridge: it goes with the bridge
                self.ops.append(SetSysctl(HOST, "", name, "1", self.iface_key.get((HOST, br), "")))
        if any(not b.icc for b in t.bridges):
            self.ops.append(HostSetting(t.name, "net.bridge.bridge-nf-call-iptables", "1"))
        if any(not b.icc and b.has_ipv6 for b in t.bridges):  # so icc off drops IPv6 between ports too
            self.ops.append(HostSetting(t.name, "net.bridge.bridge-nf-call-ip6tables", "1"))
        for s in t.host.sysctls:
            self.ops.append(HostSetting(t.name, s.key, s.value))
        # shaping
        for c in t.containers:
            if c.name not in self.ns or c.net.kind in ("host", "container"):
                continue
            for s in c.shapes:
                self.ops.append(SetShape(c.name, self.ns[c.name], s.ifname, s.delay_ms, s.jitter_ms, s.loss_pct,
                                         s.rate_bps, self.iface_key.get((c.name, s.ifname), "")))
        for link in t.p2p:
            if link.shape is None:
                continue
            s = link.shape
            for end in (link.a, link.b):
                if end.node in self.ns:
                    self.ops.append(SetShape(end.node, self.ns[end.node], end.ifname, s.delay_ms, s.jitter_ms,
                                             s.loss_pct, s.rate_bps, self.iface_key[(end.node, end.ifname)]))
        self._firewall()
        self._files_and_processes()
        self._quiet_interfaces()
        return self.ops

    def _quiet_interfaces(self) -> None:
        """Every interface made in or moved into the namespace of a node without IPv6 is made quiet (no
        IPv6 autoconfiguration), one by one: the namespace's default would do it for all of them, but
        setting it costs milliseconds per namespace at thousands of them (backends/netns.py)."""
        # (an attached namespace is not pipenet's, but the interfaces it makes there are)
        quiet = {op.ns for op in self.ops if (isinstance(op, CreateNamespace) and op.quiet)
                 or (isinstance(op, UseNamespace) and op.node not in self.v6_nodes)}
        if not quiet:
            return
        for op in self.ops:
            if isinstance(op, AddVeth):
                op.peer_quiet = op.peer_ns in quiet
                op.quiet = op.quiet or op.ns in quiet
            elif isinstance(op, AddLink) and op.ns in quiet:
                op.quiet = True

    def _firewall(self) -> None:
        base = chain_base(self.t.name)
        tag = f"pipenet:{self.t.name}"
        for (node, table), chains in sorted(tables_for(self.t, self.published, self.ns).items()):
            if node not in self.ns:
                continue
            names = {suffix: f"{base}-{suffix}" for suffix in chains}
            jumps = tuple((builtin, match, names[suffix]) for builtin, suffix, match in TABLE_JUMPS[bare_table(table)[0]]
                          if suffix in chains)
            self.ops.append(Firewall(node, self.ns[node], table, tag,
                                     tuple((names[sfx], tuple(with_tag(r, tag) for r in rules))
                                           for sfx, rules in chains.items()), jumps))

    def _files_and_processes(self) -> None:
        from pipenet.backends.enter import etc_dir

        t = self.t
        for c in t.containers:
            if c.net.kind == "host" or c.name not in self.ns:
                continue
            ref = self.ns[c.name]
            d = etc_dir(ref)
            if d is None or (c.net.kind == "container"):
                continue
            self.ops.append(WriteEtc(c.name, d, etc_files.files(t, c, self.host_resolv)))
        for c in t.containers:
            if c.name not in self.ns:
                continue
            ref = self.ns[c.name]
            owner = self.owner(c.name)
            d = etc_dir(self.ns.get(owner, ""))
            binds, keys = self._node_paths(c)
            for n, r in enumerate(c.run):
                log = os.path.join(self.log_dir, f"{c.name}.{n}.log") if self.log_dir else f"/tmp/{c.name}.{n}.log"
                self.ops.append(StartProcess(c.name, ref, n, tuple(r.argv), c.uts_hostname or "", d or "", log,
                                             binds=binds, paths=keys, home=owner if owner != c.name else ""))

    def _node_paths(self, c: Container) -> tuple[tuple, tuple]:
        """The node's `file` and `private` operations (a directory before what is inside it); the
        (kept, path) bind mounts its processes get, outermost first, and the operations' keys."""
        root = os.path.join(os.path.dirname(self.log_dir), "nodes") if self.log_dir else "/tmp/pipenet-nodes"
        binds, keys = [], []
        for p in sorted(c.paths, key=lambda p: p.path):
            within = c.private_holding(p.path) or ""
            op = NodePath(c.name, p.path, root, p.what, p.content, p.uid, p.gid, p.mode, within)
            self.ops.append(op)
            keys.append(op.key)
            if not within:
                binds.append((op.source, p.path))
        return tuple(binds), tuple(keys)

    def _interfaces(self, c: Container, pending: list[Interface], made: set[str]) -> list[Interface]:
        """Make c's interfaces, each after the one of c's own it is made on (a VLAN of eth1 after eth1);
        return those whose parent is not c's own (a p2p end, made later), and so not made yet."""
        ns = self.ns[c.name]
        later: list[Interface] = []
        if all(i.parent is None for i in pending):  # (most containers: nothing waits for anything)
            for i in pending:
                op = KINDS[i.kind].compile(self, c, ns, i)
                self.ops.append(op)
                self.iface_key[(c.name, i.name)] = op.key
                made.add(i.name)
            return later
        for _ in range(len(pending) + 1):
            waiting = {i.name for i in pending}
            rest = []
            for i in pending:
                parent = i.parent if i.parent is not None and (i.parent_node or c.name) == c.name else None
                if parent is not None and parent not in made:
                    (rest if parent in waiting else later).append(i)
                    continue
                op = KINDS[i.kind].compile(self, c, ns, i)
                self.ops.append(op)
                self.iface_key[(c.name, i.name)] = op.key
                made.add(i.name)
            pending = rest
            if not pending:
                break
        return later

    def _addr(self, node: str, ifname: str, addr: IfAddr, nodad: bool = True) -> None:
        # a segment pipenet made (a bridge, a veth) needs no IPv6 duplicate address detection
        self.ops.append(AddAddress(node, self.ns[node], ifname, str(addr.ip), addr.prefixlen,
                                   self.iface_key.get((node, ifname), ""), nodad=nodad))

    def _route(self, node: str, ns: str, r) -> AddRoute:
        keys = []
        if r.dev is not None and (node, r.dev) in self.iface_key:
            keys.append(self.iface_key[(node, r.dev)])
        elif r.via is not None:
            keys.extend(self._links_reaching(node, r.via))
        return AddRoute(node, ns, None if r.dest is None else str(r.dest), None if r.via is None else str(r.via),
                        r.dev, r.metric, tuple(keys))

    def _links_reaching(self, node: str, via) -> list[str]:
        """The interfaces through which `via` is on-link (the route dies with them)."""
        out = []
        c = self.t.container_map.get(node)
        if c is not None:
            for i in c.interfaces:
                if any(a.prefix is not None and a.reaches(via) for a in i.addresses):
                    out.append(self.iface_key[(node, i.name)])
        for link in self.t.p2p:
            for end, peer in ((link.a, link.b), (link.b, link.a)):
                if end.node != node:
                    continue
                if (peer.address is not None and peer.address.ip == via) or (
                        end.address is not None and end.address.prefix is not None and end.address.reaches(via)):
                    out.append(self.iface_key[(node, end.ifname)])
        return out[:1]


def compile_topology(topo: Topology, docker_pids: dict[str, int] | None = None, ports: dict[str, int] | None = None,
                     host_resolv: str = "", log_dir: str = "") -> tuple[list[Op], dict[str, str]]:
    c = Compiler(topo, docker_pids, ports, host_resolv, log_dir)
    ops = c.compile()
    return ops, dict(c.ns)
