"""`bridge NAME { address ...; pool ...; pool6 ...; mtu ...; icc ...; masquerade ...; external; machine ... }`.

A dual-stack bridge has two `address` lines, one of each family (Docker's
`--bip` and `--ipv6 --fixed-cidr-v6`). In the IR the IPv4 one (or `auto`) is
`address` and the IPv6 one `address6`; a bridge with one address of either
family has it in `address`, as before dual stack existed. Each pool goes
with the address of its family, so `pool6` (which must be IPv6) and a
`pool` of an IPv6 network mean the same.
"""

from __future__ import annotations

from pipenet.ir import Bridge
from pipenet.lang import values as V
from pipenet.lang.parser import Node, keywords
from pipenet.lang.statements import common
from pipenet.lang.walk import Fail, Scope, Walker, words


def bridge(w: Walker, st: Node, sc: Scope) -> Bridge:
    f, spans = common.named_block(w, st, sc, w.typed(words(st)[0], sc, V.ifname), _statement)
    _families(f, spans)
    return Bridge(**f, spans=spans)


def _families(f: dict, spans: dict) -> None:
    """Put a dual-stack bridge's IPv6 address and pool in `address6`/`pool6`, and the pool of a
    single-family bridge in `pool` (see the module's docstring)."""
    if not f.get("auto"):
        common.second_family(f, spans, "address")
    if f.get("address6") is None:
        common.second_family(f, spans, "pool")


def _statement(w: Walker, s: Node, sc: Scope, f: dict, spans: dict) -> None:
    kind = s.data
    t = words(s)
    if kind == "address":
        sp = w.span(t[0], sc)
        if w.text(t[0], sc) == "auto":
            w.set_once(f, spans, "auto", True, sp, "address")
            spans["address"] = sp
        else:
            a = w.typed(t[0], sc, V.if_address)
            common.set_family_once(w, f, spans, "address", a, sp)
    elif kind in ("pool", "pool6"):
        net = w.typed(t[0], sc, V.network, False)
        if kind == "pool6" and net.version != 6:
            w.error(f"pool6 {net} is not an IPv6 network", w.span(t[0], sc),
                    "pool6 is the bridge's IPv6 pool (Docker --fixed-cidr-v6), e.g. pool6 fd00:17::/80")
            raise Fail
        common.set_family_once(w, f, spans, "pool", net, w.span(t[0], sc))
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
