"""`net` modes: what each allows, and `net container` chains without cycles."""

from __future__ import annotations

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.validate.index import Index


def check_net_modes(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    p2p_nodes = {}
    for link in topo.p2p:
        for end in (link.a, link.b):
            p2p_nodes.setdefault(end.node, end.span)
    for c in topo.containers:
        kind = c.net.kind
        if kind in ("container", "host"):
            what = f"shares {c.net.target}'s network namespace" if kind == "container" else \
                "is the host's network namespace"
            hint = ("declare interfaces, addresses, routes and ports on the container it shares"
                    if kind == "container" else "use `host { ... }` or a container of its own")
            for i in c.interfaces:
                out.append(Diagnostic(f"{c.name} {what}: it cannot declare interface `{i.name}`", i.span, hint))
            if c.name in p2p_nodes:
                out.append(Diagnostic(f"{c.name} {what}: it cannot be a p2p end", p2p_nodes[c.name], hint))
            for label, items in (("route", c.routes), ("masquerade", c.masquerade), ("sysctl", c.sysctls),
                                 ("shape", c.shapes)):
                for item in items:
                    out.append(Diagnostic(f"{c.name} {what}: it cannot declare a {label}", item.span, hint))
            for p in c.publish:
                out.append(Diagnostic(f"{c.name} {what}: it cannot publish ports", p.span,
                                      "publish on the container that owns the namespace"
                                      if kind == "container" else "a service in the host's namespace needs no publish"))
            if c.publish_all:
                out.append(Diagnostic(f"{c.name} {what}: it cannot publish ports", c.spans["publish_all"], hint))
            if c.forwarding is not None:
                out.append(Diagnostic(f"{c.name} {what}: it cannot set forwarding", c.spans["forwarding"], hint))
            if kind == "host" and "hostname" in c.spans:  # Docker: "conflicting options: hostname and net"
                out.append(Diagnostic(f"{c.name} is the host's network namespace: it keeps the host's hostname "
                                      f"and /etc files", c.spans["hostname"],
                                      "drop `hostname`, or give the container a namespace of its own "
                                      "(as Docker refuses -h with --net=host)"))
            if c.attach is not None:
                out.append(Diagnostic(f"an attached container cannot use net {kind}", c.attach.span,
                                      "attach gives the namespace; add interfaces to it instead"))
        elif kind == "none":
            for p in c.publish:
                out.append(Diagnostic(f"{c.name} has net none: publish needs a bridge", p.span,
                                      "add `net BRIDGE` (a bridge with an address) to publish ports"))
            if c.publish_all:
                out.append(Diagnostic(f"{c.name} has net none: publish-all needs a bridge", c.spans["publish_all"],
                                      "add `net BRIDGE` (a bridge with an address) to publish ports"))
    # cycles in net container chains
    target = {c.name: c.net.target for c in topo.containers if c.net.kind == "container"}
    reported: set[str] = set()
    for start in target:
        path, node = [], start
        while node in target and node not in path:
            path.append(node)
            node = target[node]
        if node in path and node not in reported:
            cycle = path[path.index(node):]
            reported.update(cycle)
            c = idx.containers[node]
            out.append(Diagnostic("`net container` makes a cycle: " + " -> ".join(cycle + [node]), c.net.span,
                                  "one container of the chain must own its namespace (net none or net BRIDGE)"))
    return out


def check_host_forwarding(topo: Topology, idx: Index) -> list[Diagnostic]:
    """`host { forwarding off }` in a topology with a gateway bridge asks for two things at once: the
    gateway's containers reach beyond it only through the host's forwarding."""
    if topo.host.forwarding is not False:
        return []
    gateways = [b.name for b in topo.bridges if b.gateway]
    if not gateways:
        return []
    return [Diagnostic(f"host forwarding off contradicts bridge {gateways[0]}, a gateway (it has an address): "
                       f"the host forwards its containers' traffic", topo.host.span,
                       f"drop `forwarding off`, or drop the address of {gateways[0]} to make it a plain switch")]
