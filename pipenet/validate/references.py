"""Every name a statement refers to must be declared (with a did-you-mean when not)."""

from __future__ import annotations

from pipenet.diagnostics import Diagnostic, did_you_mean
from pipenet.ir import Topology
from pipenet.kinds import KINDS
from pipenet.validate.index import HOST, Index


def check_references(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    bridges = list(idx.bridges)
    containers = list(idx.containers)
    nodes = idx.node_names()

    def need_bridge(name, span, what):
        if name is not None and name not in idx.bridges:
            hint = did_you_mean(name, bridges) or (
                f"declare it with `bridge {name}`" if not bridges else "bridges here: " + ", ".join(bridges[:8]))
            out.append(Diagnostic(f"{what} `{name}` is not declared", span, hint))

    def need_container(name, span, what):
        if name not in idx.containers:
            out.append(Diagnostic(f"{what} `{name}` is not declared", span,
                                  did_you_mean(name, containers) or f"declare it with `container {name}`"))

    def need_iface(node, ifname, span, what):
        if node == HOST:
            return  # the host's own interfaces are checked against the live system by the planner
        have = idx.ifaces.get(node, {})
        if ifname not in have:
            out.append(Diagnostic(f"{what} `{ifname}` is not an interface of {node}", span,
                                  did_you_mean(ifname, have) or
                                  ("interfaces of " + node + ": " + ", ".join(sorted(have)))))

    for c in topo.containers:
        if c.net.kind == "bridge":
            need_bridge(c.net.target, c.net.span, "bridge")
        elif c.net.kind == "container":
            need_container(c.net.target, c.net.span, "container")
        for i in c.interfaces:
            kind = KINDS[i.kind]
            if kind.on_bridge and not i.primary:
                need_bridge(i.bridge, i.spans.get("bridge", i.span), "bridge")
            if i.parent is not None:  # the interface it is made on (a macvlan's, a VLAN's)
                pnode = i.parent_node or c.name
                psp = i.spans.get("parent", i.span)
                if pnode != HOST and pnode != c.name:
                    out.append(Diagnostic(f"`{i.parent_node}:{i.parent}` is not an interface of {c.name} or host",
                                          psp, f"write {i.parent} (an interface of {c.name}) or host:{i.parent}"))
                elif pnode == c.name and i.parent == i.name:
                    out.append(Diagnostic(f"interface `{i.name}` cannot be its own {kind.parent_word}", psp))
                else:
                    need_iface(pnode, i.parent, psp, kind.parent_word)
        for link in c.links:
            need_container(link.target, link.spans.get("target", link.span), "linked container")
        for r in c.routes:
            if r.dev is not None:
                need_iface(c.name, r.dev, r.spans.get("dev", r.span), "route device")
        for m in c.masquerade:
            need_iface(c.name, m.out, m.span, "masquerade interface")
        for s in c.shapes:
            need_iface(c.name, s.ifname, s.span, "shaped interface")
    for link in topo.p2p:
        for end in (link.a, link.b):
            if not idx.is_node(end.node):
                hint = did_you_mean(end.node, nodes) or f"declare it with `container {end.node}`"
                if end.node in idx.bridges:
                    hint = f"`{end.node}` is a bridge; a p2p end is a container or host (use `interface ... on {end.node}`)"
                out.append(Diagnostic(f"node `{end.node}` is not declared", end.spans.get("ref", end.span), hint))
        if link.a.node == link.b.node and link.a.ifname == link.b.ifname:
            out.append(Diagnostic("a p2p link cannot join an interface to itself", link.span))
    return out
