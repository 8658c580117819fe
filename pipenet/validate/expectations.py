"""Expectations name nodes that exist."""

from __future__ import annotations

from pipenet.diagnostics import Diagnostic, did_you_mean
from pipenet.ir import Topology
from pipenet.validate.index import Index


def check_expectations(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    nodes = idx.node_names()
    for e in topo.expectations:
        refs = [("source", e.source)]
        if e.target is not None and e.target.node is not None:
            refs.append(("target", e.target.node))
        if e.as_node is not None:
            refs.append(("as", e.as_node))
        for key, name in refs:
            if not idx.is_node(name):
                out.append(Diagnostic(f"node `{name}` is not declared", e.spans.get(key, e.span),
                                      did_you_mean(name, nodes) or "expectations name containers or host"))
    return out
