"""`pipenet export --format clab FILE`: a `.pn` topology as a containerlab topology file.

The reverse of `clab_import`, for the forms that map: containers (kind
`linux`, or `ext-container` for `attach docker`), bridges (kind `bridge`),
the management network (the bridge most containers join with `net`), p2p
links, bridge ports, dummy and macvlan interfaces, `run` (exec, with an
`env` prefix given back as env), `publish` (ports), `net host|none|container
X` (network-mode), dns and net.* sysctls. Each form that has no containerlab
equivalent is one located warning, pointing at the statement in the `.pn`.
The file is read by the real front end first, so an invalid topology is
refused with its diagnostics, as `check` gives them.
"""

from __future__ import annotations

import shlex

import yaml

from pipenet.diagnostics import Diagnostic
from pipenet.errors import InvalidTopology
from pipenet.interchange import ipcommands
from pipenet.interchange.clab_import import MGMT_NETWORK, MGMT_SUBNET
from pipenet.ir import Container, Topology
from pipenet.results import Conversion
from pipenet.source import Span

#: containerlab needs an image for a linux node; pipenet runs the host's programs, so any small one will do
IMAGE = "alpine:3"


def convert(path: str, variables: dict | None = None) -> Conversion:
    """The containerlab YAML for the `.pn` file at `path`, with one warning per form it cannot carry."""
    from pipenet.lang.load import analyse, read

    topo, diags, sources = analyse(read(path), path, variables=variables)
    if diags or topo is None:
        raise InvalidTopology(diags, sources)
    ex = _Export(topo)
    doc = ex.run()
    head = f"# converted by `pipenet export --format clab` from {path.rsplit('/', 1)[-1]}\n"
    text = head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
    return Conversion(text, sorted(ex.warnings, key=Diagnostic.sort_key), sources)


def _span(obj, key: str | None = None) -> Span:
    spans = getattr(obj, "spans", None) or {}
    return spans.get(key) or obj.span if key else obj.span


class _Export:
    def __init__(self, topo: Topology):
        self.t = topo
        self.warnings: list[Diagnostic] = []
        self.links: list[dict] = []
        self.mgmt = self.mgmt_bridge()
        #: containers containerlab cannot have (attached by pid or netns): left out, with their links
        self.left_out = {c.name for c in topo.containers if c.attach is not None and c.attach.kind != "docker"}

    def warn(self, span: Span, message: str, hint: str | None = None) -> None:
        self.warnings.append(Diagnostic(message, span, hint, "warning"))

    def mgmt_bridge(self) -> str | None:
        """The bridge most containers join with `net` (file order breaks a tie): containerlab's management
        network, which every node joins as eth0 unless its network-mode says otherwise. It has an IPv4
        subnet (or `address auto`), as containerlab's does."""
        count: dict[str, int] = {}
        for c in self.t.containers:
            if c.net.kind == "bridge":
                count[c.net.target] = count.get(c.net.target, 0) + 1
        eligible = [b.name for b in self.t.bridges if b.name in count and not b.external
                    and (b.auto or (b.address is not None and b.address.version == 4))]
        return max(eligible, key=lambda n: count[n]) if eligible else None

    def run(self) -> dict:
        t = self.t
        doc: dict = {"name": t.name}
        mgmt = self.mgmt_section()
        if mgmt:
            doc["mgmt"] = mgmt
        nodes: dict = {}
        for b in t.bridges:
            if b.name != self.mgmt:
                nodes[b.name] = {"kind": "bridge"}
                self.bridge_fields(b)
        for c in t.containers:
            node = self.container(c)
            if node is not None:
                nodes[c.name] = node
        for link in t.p2p:
            self.p2p(link)
        said = set()
        for e in t.expectations:
            e = e.statement or e  # (an all-pairs statement: once, not once per pair)
            if id(e) not in said:
                said.add(id(e))
                self.warn(e.span, f"`expect {e.describe()}` is not carried: containerlab has no expectations")
        if t.hosts_auto:
            self.warn(Span(t.file, 0, 0, 0, 0), "`hosts auto` is not carried")
        h = t.host
        for what, items in (("route", h.routes), ("masquerade", h.masquerade), ("sysctl", h.sysctls)):
            for x in items:
                self.warn(x.span, f"the host's {what} is not carried: containerlab changes the host only "
                          "through exec on a node of kind host")
        if h.forwarding is not None:
            self.warn(h.span, "the host's forwarding is not carried")
        topology: dict = {}
        if any(n.get("kind") == "linux" for n in nodes.values()):
            topology["kinds"] = {"linux": {"image": IMAGE}}
        topology["nodes"] = nodes
        if self.links:
            topology["links"] = self.links
        doc["topology"] = topology
        return doc

    def mgmt_section(self) -> dict:
        """Only what differs from containerlab's defaults (network clab, 172.20.20.0/24, gateway .1)."""
        if self.mgmt is None:
            return {}
        b = self.t.bridge_map[self.mgmt]
        out: dict = {}
        if b.name != MGMT_NETWORK:
            out["network"] = b.name
        if b.auto:
            out["ipv4-subnet"] = "auto"
        elif b.subnet is not None:
            if str(b.subnet) != MGMT_SUBNET or b.name != MGMT_NETWORK:
                out["ipv4-subnet"] = str(b.subnet)
            if int(b.address.ip) != b.subnet.first + 1:
                out["ipv4-gw"] = str(b.address.ip)
            if b.pool is not None and b.pool != b.subnet:
                out["ipv4-range"] = str(b.pool)
        if b.mtu is not None:
            out["mtu"] = b.mtu
        if b.address6 is not None:  # (dual stack: containerlab's ipv6-subnet is not written by this export)
            self.warn(_span(b, "address6"), f"the IPv6 address of bridge {b.name} is not carried: the "
                      "management network is written with its IPv4 subnet only")
        if not b.icc:
            self.warn(_span(b, "icc"), "`icc off` is not carried")
        if b.masquerade is False:
            self.warn(_span(b, "masquerade"), "`masquerade off` is not carried: containerlab's management "
                      "network is NAT'd")
        return out

    def bridge_fields(self, b) -> None:
        if b.address is not None or b.auto:
            self.warn(_span(b, "address"), f"the address of bridge {b.name} is not carried: a containerlab "
                      "bridge is a plain switch that exists already")
        for key, bad in (("mtu", b.mtu is not None), ("icc", not b.icc), ("pool", b.pool is not None)):
            if bad:
                self.warn(_span(b, key), f"`{key}` of bridge {b.name} is not carried")

    # ---- containers ---------------------------------------------------------------------------------------
    def container(self, c: Container) -> dict | None:
        if c.attach is not None:
            if c.attach.kind == "docker":
                node = {"kind": "ext-container"}
                if c.attach.value != c.name:
                    self.warn(c.attach.span, f"container {c.name} attaches docker container {c.attach.value}; "
                              "containerlab's ext-container is named as the docker container")
                self.interfaces(c)
                return node
            self.warn(c.attach.span, f"container {c.name} (attach {c.attach.kind}) is left out, with its links: "
                      "containerlab attaches only docker containers")
            return None
        node: dict = {"kind": "linux"}
        net = c.net
        if net.kind == "host":
            node["network-mode"] = "host"
        elif net.kind == "container":
            node["network-mode"] = f"container:{net.target}"
        elif net.kind == "bridge" and net.target == self.mgmt:
            eth0 = c.primary
            if eth0 is not None and "address" in eth0.spans and eth0.address is not None:
                node["mgmt-ipv4"] = str(eth0.address.ip)
            if eth0 is not None and "address6" in eth0.spans:
                self.warn(eth0.spans["address6"], f"the IPv6 address of {c.name} is not carried")
        else:
            node["network-mode"] = "none"
        env, execs = self.commands(c)
        execs = self.configuration(c) + execs
        if env:
            node["env"] = env
        if execs:
            node["exec"] = execs
        ports = []
        for p in c.publish:
            proto = "" if p.proto == "tcp" else f"/{p.proto}"
            head = f"{p.host_ip}:" if p.host_ip is not None else ""
            hp = f"{p.host_port}:" if p.host_port is not None else (":" if head else "")
            ports.append(f"{head}{hp}{p.port}{proto}")
        if ports:
            if "network-mode" in node:
                self.warn(_span(c, "publish"), f"the published ports of {c.name} are not carried: containerlab "
                          "publishes ports on the management network only")
            else:
                node["ports"] = ports
        dns: dict = {}
        if c.dns:
            dns["servers"] = [str(a) for a in c.dns]
        if c.dns_search:
            dns["search"] = list(c.dns_search)
        if dns:
            node["dns"] = dns
        if c.sysctls:
            node["sysctls"] = {s.key: int(s.value) if s.value.isdigit() else s.value for s in c.sysctls}
        self.unmapped(c)
        self.interfaces(c)
        return node

    def commands(self, c: Container) -> tuple[dict, list[str]]:
        """env and exec from `run`: a leading `env K=V ...` shared by every command is the node's env."""
        def env_of(argv) -> list[str]:
            if not argv or argv[0] != "env":
                return []
            out = []
            for w in argv[1:]:
                name, eq, _ = w.partition("=")
                if not eq or not name.isidentifier():
                    break
                out.append(w)
            return out

        prefixes = [env_of(r.argv) for r in c.run]
        shared = prefixes[0] if prefixes and all(p == prefixes[0] for p in prefixes) else []
        execs = [shlex.join(r.argv[1 + len(shared):]) if shared else r.command for r in c.run]
        return dict(w.split("=", 1) for w in shared), execs

    def configuration(self, c: Container) -> list[str]:
        """The exec commands a containerlab linux node is addressed and routed with (ipcommands): its p2p
        ends' and interfaces' addresses, its routes, forwarding and NAT."""
        out = []
        for link in self.t.p2p:
            for end in (link.a, link.b):
                peer = link.peer_of(end)
                if end.node != c.name or end.address is None or peer.node in self.left_out:
                    continue
                out.append(ipcommands.address(end.ifname, end.address.cidr))
                if end.address.prefix is None and peer.address is not None:  # pipenet's /32 and a host route
                    host = 32 if peer.address.version == 4 else 128
                    out.append(ipcommands.route(f"{peer.address.ip}/{host}", None, end.ifname))
        for i in c.interfaces:
            if not i.primary and i.address is not None and "address" in i.spans:
                bridge = self.t.bridge_map.get(i.bridge) if i.bridge else None
                prefix = i.address.prefix if i.address.prefix is not None else (
                    bridge.subnet.prefixlen if bridge is not None and bridge.subnet is not None else None)
                out.append(ipcommands.address(i.name, f"{i.address.ip}/{prefix}" if prefix else i.address.cidr))
        for r in c.routes:
            if r.metric is not None:
                self.warn(r.span, "a route's metric is not carried")
            out.append(ipcommands.route(r.dest_text, None if r.via is None else str(r.via), r.dev))
        if c.forwarding:
            out.append(ipcommands.FORWARDING)
        out += [ipcommands.masquerade(m.out) for m in c.masquerade]
        return out

    def unmapped(self, c: Container) -> None:
        spans = c.spans
        if c.hostname != c.name:
            self.warn(_span(c, "hostname"), "`hostname` is not carried: a containerlab node is named as its node")
        if c.net.kind == "bridge" and c.net.target != self.mgmt:
            self.links.append({"endpoints": [f"{c.name}:eth0", f"{c.net.target}:{_host_end(self.t, c, c.primary)}"]})
            self.warn(c.net.span, f"`net {c.net.target}` becomes a link of eth0 to bridge {c.net.target}; "
                      "its address and default route are not carried")
        for what, items in (("expose", c.expose), ("add-host", c.add_hosts), ("link", c.links), ("shape", c.shapes)):
            for x in items:
                self.warn(getattr(x, "span", None) or spans.get(what.replace("-", "_"), c.span),
                          f"`{what}` is not carried")
        if c.publish_all:
            self.warn(spans.get("publish_all", c.span), "`publish-all` is not carried")
        if c.forwarding is False:
            self.warn(spans.get("forwarding", c.span), "`forwarding off` is not carried")

    def interfaces(self, c: Container) -> None:
        for i in c.interfaces:
            if i.primary:
                continue
            end: dict = {"node": c.name, "interface": i.name}
            if i.mac and "mac" in i.spans:
                end["mac"] = i.mac
            link: dict
            if i.kind == "port" and i.bridge == self.mgmt:
                link = {"type": "mgmt-net", "endpoint": end, "host-interface": _host_end(self.t, c, i)}
            elif i.kind == "port":
                link = {"type": "veth", "endpoints": [end, {"node": i.bridge, "interface": _host_end(self.t, c, i)}]}
            elif i.kind == "dummy":
                link = {"type": "dummy", "endpoint": end}
            elif i.kind == "macvlan" and i.parent_node == "host":
                link = {"type": "macvlan", "endpoint": end, "host-interface": i.parent}
                if i.settings is not None and i.settings.mode:
                    link["mode"] = i.settings.mode
            else:
                self.warn(i.span, f"interface {i.name} ({i.kind}) is not carried")
                continue
            if i.mtu is not None:
                link["mtu"] = i.mtu
            if link.get("type") == "veth" and len(end) == 2 and "mtu" not in link:
                link = {"endpoints": [f"{e['node']}:{e['interface']}" for e in link["endpoints"]]}
            self.links.append(link)

    def p2p(self, link) -> None:
        a, b = link.a, link.b
        if a.node in self.left_out or b.node in self.left_out:
            self.warn(link.span, "this p2p link is left out: one of its nodes is")
            return
        out: dict = {"endpoints": [a.ref, b.ref]}
        if link.mtu is not None:
            out["mtu"] = link.mtu
        self.links.append(out)
        for end in (a, b):
            if end.address is not None and end.node == "host":
                self.warn(end.span, f"the address of {end.ref} is not carried: containerlab changes the host "
                          "only through exec on a node of kind host")
        if link.shape is not None:
            self.warn(link.shape.span, "p2p shaping is not carried")


def _host_end(t: Topology, c: Container, i) -> str:
    """The name of a bridge port's host end: as given with host-name, or the one pipenet makes."""
    from pipenet.plan.names import host_port_name

    return i.host_name or host_port_name(t.name, c.name, i.name)
