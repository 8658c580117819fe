"""The host's side: names of the interfaces a topology makes there, and ports per bridge.

Bridges, p2p ends in `host` and the host ends of bridge ports all live in one
namespace (the host's), so their names must differ. A port's host end is
named by `host-name` or else made by `pipenet.plan.names.host_port_name`
(`pn` + 10 hex digits of a hash): two made names can collide, rarely, and
that is found here, at check time, not by the kernel at `up`.

A Linux bridge holds at most 1,023 ports (port numbers are 10 bits, 0 unused).
"""

from __future__ import annotations

import re

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.kinds import KINDS
from pipenet.plan.names import host_port_name
from pipenet.validate.index import HOST, Index
from pipenet.validate.machines import machine_of, spanning_bridges

#: The kernel's limit on the ports of one bridge (BR_MAX_PORTS - 1).
MAX_BRIDGE_PORTS = 1023

_MADE = re.compile(r"pn[0-9a-f]{10}\Z")


def check_host_side_names(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    taken: dict[str, tuple[str, int]] = {}  # name -> (what has it, line)

    def claim(name: str, what: str, span, made: bool) -> None:
        if name not in taken:
            taken[name] = (what, span.line)
            return
        other, line = taken[name]
        if made:
            out.append(Diagnostic(f"the host end of {what} would be named {name}, as is {other} (line {line})",
                                  span, "two names pipenet makes from a hash collided: rename the interface or "
                                        "the container, or name its host end with `host-name`"))
        else:
            out.append(Diagnostic(f"`{name}` on the host is already {other} (line {line})", span,
                                  "every interface on the host needs its own name"))

    for b in topo.bridges:
        claim(b.name, f"bridge {b.name}", b.spans.get("name", b.span), False)
    for link in topo.p2p:
        for end in (link.a, link.b):
            if end.node == HOST:
                claim(end.ifname, f"the p2p end host:{end.ifname}", end.spans.get("ref", end.span), False)
    for c in idx.containers.values():  # (each name at its first declaration: one declared twice is said once)
        if c.net.kind in ("host", "container"):
            continue  # no interfaces of its own (reported by the net-modes pass when it declares some)
        for i in c.interfaces:
            if not KINDS[i.kind].on_bridge:
                continue
            if i.host_name is not None:
                span = i.spans.get("host_name", i.span)
                if _MADE.match(i.host_name):
                    out.append(Diagnostic(f"`{i.host_name}` has the form of the names pipenet makes for host ends",
                                          span, "pick another name, e.g. veth" + c.name[:11]))
                    continue
                claim(i.host_name, f"the host end of {c.name}:{i.name}", span, False)
            else:
                claim(host_port_name(topo.name, c.name, i.name), f"{c.name}:{i.name}",
                      i.spans.get("name", i.span), True)
    return out


def check_bridge_ports(topo: Topology, idx: Index) -> list[Diagnostic]:
    """Ports per Linux bridge: a bridge on several machines (its containers', and its own gateway's) is
    one bridge on each of them (`plan.slice`), holding that machine's containers and one tunnel port."""
    out: list[Diagnostic] = []
    spanning = None
    for key, ports in idx.segments.items():
        if not key.startswith("br:") or len(ports) + 1 <= MAX_BRIDGE_PORTS:
            continue  # (no machine's share, with its tunnel, is more than the whole and one)
        name = key[3:]
        if spanning is None:
            spanning = spanning_bridges(topo)
        shares: dict[str, list] = {}
        for p in ports:
            shares.setdefault(machine_of(topo, p.node), []).append(p)
        tunnel = 1 if name in spanning else 0
        for machine, mine in shares.items():
            if len(mine) + tunnel <= MAX_BRIDGE_PORTS:
                continue
            extra = mine[MAX_BRIDGE_PORTS - tunnel]
            where = f" on machine {machine} (with its tunnel)" if tunnel else ""
            out.append(Diagnostic(f"bridge {name} would have {len(mine) + tunnel:,} ports{where}; a Linux bridge "
                                  f"holds at most {MAX_BRIDGE_PORTS:,}", extra.span,
                                  f"this is port {MAX_BRIDGE_PORTS + 1:,} ({extra.node}:{extra.ifname}): split the "
                                  f"containers over several bridges (joined by a p2p link or a router container)"))
    return out
