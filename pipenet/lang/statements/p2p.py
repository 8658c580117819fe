"""`p2p NODE:IF [ADDR] -- NODE:IF [ADDR] [{ mtu ...; delay ...; jitter ...; loss ...; rate ... }]`."""

from __future__ import annotations

from pipenet.ir import P2PEnd, P2PLink
from pipenet.lang import values as V
from pipenet.lang.parser import Node, keywords
from pipenet.lang.statements import common
from pipenet.lang.walk import Scope, Walker, subnodes, words


def p2p(w: Walker, st: Node, sc: Scope) -> P2PLink:
    made = []
    for e in (c for c in subnodes(st) if c.data == "p2p_end"):
        t = words(e)
        node, ifn = w.typed(t[0], sc, V.node_interface)
        spans = {"ref": w.span(t[0], sc)}
        addr = None
        if len(t) > 1:
            addr = w.typed(t[1], sc, V.if_address)
            spans["address"] = w.span(t[1], sc)
        made.append(P2PEnd(node, ifn, addr, None, w.span(t[0], sc), spans))
    mtu = None
    shape_opts = []
    for o in (c for c in subnodes(st) if c.data != "p2p_end"):
        if o.data == "mtu":
            mtu = w.safe(w.typed, words(o)[0], sc, V.mtu)
        elif o.data == "unknown":
            w.unknown(o, sc, "in a p2p block", keywords("_p2p_stmt"))
        else:
            shape_opts.append(o)
    span = w.node_span(st, sc)
    shape = common.shape(w, st, sc, "", span, shape_opts) if shape_opts else None
    return P2PLink(made[0], made[1], mtu, shape, span)
