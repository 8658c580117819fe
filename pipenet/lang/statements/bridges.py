"""`bridge NAME { address ...; pool ...; mtu ...; icc ...; masquerade ...; external; machine ... }`."""

from __future__ import annotations

from pipenet.ir import Bridge
from pipenet.lang import values as V
from pipenet.lang.parser import Node, keywords
from pipenet.lang.statements import common
from pipenet.lang.walk import Scope, Walker, words


def bridge(w: Walker, st: Node, sc: Scope) -> Bridge:
    f, spans = common.named_block(w, st, sc, w.typed(words(st)[0], sc, V.ifname), _statement)
    return Bridge(**f, spans=spans)


def _statement(w: Walker, s: Node, sc: Scope, f: dict, spans: dict) -> None:
    kind = s.data
    t = words(s)
    if kind == "address":
        sp = w.span(t[0], sc)
        if w.text(t[0], sc) == "auto":
            w.set_once(f, spans, "auto", True, sp, "address")
            spans["address"] = sp
        else:
            w.set_once(f, spans, "address", w.typed(t[0], sc, V.if_address), sp, "address")
    elif kind == "pool":
        w.set_once(f, spans, "pool", w.typed(t[0], sc, V.network, False), w.span(t[0], sc), "pool")
    elif kind == "mtu":
        w.set_once(f, spans, "mtu", w.typed(t[0], sc, V.mtu), w.span(t[0], sc), "mtu")
    elif kind == "icc":
        w.set_once(f, spans, "icc", w.typed(t[0], sc, V.switch), w.span(t[0], sc), "icc")
    elif kind == "bridge_masquerade":
        w.set_once(f, spans, "masquerade", w.typed(t[0], sc, V.switch), w.span(t[0], sc), "masquerade")
    elif kind == "external":
        w.set_once(f, spans, "external", True, w.node_span(s, sc), "external")
    elif kind == "placed":
        w.set_once(f, spans, "machine", w.typed(t[0], sc, V.name, "machine name"), w.span(t[0], sc), "machine")
    elif kind == "unknown":
        w.unknown(s, sc, "in a bridge", keywords("_bridge_stmt"))
