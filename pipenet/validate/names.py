"""Names: the topology's name, the reserved node name, and nothing declared twice."""

from __future__ import annotations

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.validate.index import HOST, Index


#: pipenet names kernel objects and firewall chains after the topology: its name is kept short
MAX_TOPOLOGY_NAME = 32


def check_topology_name(topo: Topology, idx: Index) -> list[Diagnostic]:
    if len(topo.name) <= MAX_TOPOLOGY_NAME:
        return []
    return [Diagnostic(f"topology name `{topo.name}` is longer than {MAX_TOPOLOGY_NAME} characters", topo.span,
                       "pipenet names kernel objects and firewall chains after it; shorten it")]


def check_reserved(topo: Topology, idx: Index) -> list[Diagnostic]:
    out = []
    for c in topo.containers:
        if c.name == HOST:
            out.append(Diagnostic("`host` is reserved: it names the namespace pipenet runs in", c.span,
                                  "use `host { ... }` to change the host, or pick another container name"))
    for b in topo.bridges:
        if b.name == HOST:
            out.append(Diagnostic("`host` is reserved and cannot name a bridge", b.span, "pick another name"))
    return out


def check_duplicate_nodes(topo: Topology, idx: Index) -> list[Diagnostic]:
    out = []
    seen: dict[str, tuple[str, int]] = {}
    for kind, items in (("bridge", topo.bridges), ("container", topo.containers)):
        for item in items:
            if item.name in seen:
                other_kind, line = seen[item.name]
                what = "declared twice" if other_kind == kind else f"already the name of a {other_kind}"
                out.append(Diagnostic(f"{kind} `{item.name}` is {what}", item.span,
                                      f"the first is at line {line}"))
            else:
                seen[item.name] = (kind, item.span.line)
    return out


def check_duplicate_interfaces(topo: Topology, idx: Index) -> list[Diagnostic]:
    out = []
    declared: dict[tuple[str, str], int] = {}

    def see(node: str, ifname: str, span) -> None:
        key = (node, ifname)
        if ifname == "lo":
            out.append(Diagnostic("`lo` is the loopback interface every node already has", span,
                                  "pick another interface name"))
        elif key in declared:
            out.append(Diagnostic(f"{node} has two interfaces named `{ifname}`", span,
                                  f"the first is at line {declared[key]}"))
        else:
            declared[key] = span.line

    for c in idx.containers.values():  # (each name at its first declaration: a second is said once, above)
        for i in c.interfaces:
            see(c.name, i.name, i.spans.get("name", i.span))
    for link in topo.p2p:
        for end in (link.a, link.b):
            see(end.node, end.ifname, end.span)
    for b in topo.bridges:
        if (HOST, b.name) in declared:
            out.append(Diagnostic(f"bridge `{b.name}` has the same name as a host p2p end", b.span))
    return out
