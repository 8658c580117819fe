"""Routes: a gateway must be on a link of the node, a device must be one of its interfaces."""

from __future__ import annotations

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.kinds import KINDS
from pipenet.validate.index import Index


def _links(c, idx: Index):
    """(ifname, subnet or None, peer address or None, unknown) for each way out of a container."""
    for i in c.interfaces:
        if KINDS[i.kind].on_bridge:
            b = idx.bridges.get(i.bridge)
            if b is not None and b.auto:
                yield i.name, None, None, True
            elif i.address is not None and i.address.prefix is not None:
                for a in i.addresses:
                    yield i.name, a.network, None, False
            elif b is not None and b.subnet is not None:
                for sub in (b.subnet, b.subnet6):
                    if sub is not None:
                        yield i.name, sub, None, False
        else:
            for a in i.addresses:
                if a.prefix is not None:
                    yield i.name, a.network, None, False
    for own, peer in idx.p2p_peers(c.name):
        sub = own.address.network if own.address is not None and own.address.prefix is not None else None
        yield own.ifname, sub, peer.address.ip if peer.address is not None else None, False


def check_routes(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for c in topo.containers:
        if c.net.kind in ("host", "container"):
            continue
        links = list(_links(c, idx))
        seen: dict = {}
        for r in c.routes:
            # (a dual-stack node has a default route of each family)
            key = (r.dest, r.metric, r.via.version if r.dest is None and r.via is not None else None)
            if key in seen:
                out.append(Diagnostic(f"{c.name} has two routes to {r.dest_text}", r.spans.get("dest", r.span),
                                      f"the first is at line {seen[key]}"))
            seen[key] = r.span.line
            if r.via is None:
                continue
            candidates = [l for l in links if r.dev is None or l[0] == r.dev]
            if any(l[3] for l in candidates):
                continue  # on a bridge whose subnet the engine chooses
            ok = any((sub is not None and r.via.version == sub.version and r.via in sub) or peer == r.via
                     for _, sub, peer, _ in candidates)
            if not ok:
                nets = sorted({str(sub) for _, sub, _, _ in links if sub is not None} |
                              {str(peer) for _, _, peer, _ in links if peer is not None})
                where = f" through {r.dev}" if r.dev else ""
                out.append(Diagnostic(f"gateway {r.via} is not on a link of {c.name}{where}",
                                      r.spans.get("via", r.span),
                                      ("its links reach " + ", ".join(nets)) if nets else
                                      f"{c.name} has no addressed interface; give it one on the gateway's subnet"))
    return out
