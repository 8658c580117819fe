"""Published ports and container links (Docker's -p/-P and --link)."""

from __future__ import annotations

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.validate.index import Index


def check_publish(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    taken: dict[tuple[int, str], list] = {}
    for c in topo.containers:
        b = idx.bridges.get(c.net.target) if c.net.kind == "bridge" else None
        if (c.publish or c.publish_all) and b is not None and not b.gateway:
            span = c.publish[0].span if c.publish else c.spans["publish_all"]
            out.append(Diagnostic(f"{c.name} publishes ports, but bridge {b.name} has no address", span,
                                  f"publishing needs a gateway bridge: give {b.name} an address"))
        for p in c.publish:
            if p.host_port is None:
                continue
            key = (p.host_port, p.proto)
            for other_c, other in taken.get(key, ()):
                if p.host_ip is None or other.host_ip is None or p.host_ip == other.host_ip:
                    where = f"{p.host_ip}:" if p.host_ip is not None else ""
                    out.append(Diagnostic(f"host port {where}{p.host_port}/{p.proto} is published twice "
                                          f"({other_c} and {c.name})", p.span,
                                          f"the first is at line {other.span.line}; pick another host port"))
                    break
            taken.setdefault(key, []).append((c.name, p))
    return out


def check_links(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for c in topo.containers:
        for link in c.links:
            tsp = link.spans.get("target", link.span)
            if link.target == c.name:
                out.append(Diagnostic(f"{c.name} cannot link to itself", tsp))
                continue
            other = idx.containers.get(link.target)
            if other is None:
                continue
            mine = c.net.target if c.net.kind == "bridge" else None
            theirs = other.net.target if other.net.kind == "bridge" else None
            if mine is None:
                out.append(Diagnostic(f"{c.name} links to {link.target} but is on no bridge", tsp,
                                      "a link joins two containers on the same bridge (net BRIDGE)"))
            elif mine != theirs:
                where = f"on bridge {theirs}" if theirs else "on no bridge"
                out.append(Diagnostic(f"{link.target} is {where}, not on {c.name}'s bridge {mine}", tsp,
                                      f"a link needs both containers on one bridge: give {link.target} net {mine}"))
    return out
