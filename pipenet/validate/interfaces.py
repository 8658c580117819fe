"""Interfaces: what each part of an `interface` statement may go with, and each kind's own checks."""

from __future__ import annotations

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.kinds import KINDS
from pipenet.validate.index import Index


def check_interfaces(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    by_kind: dict[str, list] = {}
    for c in topo.containers:
        for i in c.interfaces:
            if i.host_name is not None and not KINDS[i.kind].on_bridge:
                out.append(Diagnostic(f"`host-name` names the host end of a bridge port, and {i.name} is a "
                                      f"{i.kind} interface", i.spans.get("host_name", i.span),
                                      "use it with `on BRIDGE`: interface eth1 on br1 host-name vethweb"))
            by_kind.setdefault(i.kind, []).append((c, i))
    for name, found in by_kind.items():
        out.extend(KINDS[name].check(topo, idx, found))
    return out
