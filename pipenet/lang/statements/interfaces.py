"""`interface NAME KIND [address A] [mac M] [mtu N] [host-name H]`, or the same parts in a block.

An interface has exactly one kind, and each kind reads its own words: the
part of the statement that declares it (`on BRIDGE`, `dummy`, `vlan ID of
IF`, ...) is handed to its module in `pipenet.kinds`. The other parts are
common to every kind (what fits which kind is checked by the validation
passes).
"""

from __future__ import annotations

from typing import Any

from pipenet import kinds
from pipenet.ir import IfAddr, Interface
from pipenet.kinds.base import joined
from pipenet.kinds.port import KIND as PORT
from pipenet.lang import values as V
from pipenet.lang.parser import Node
from pipenet.lang.statements import common
from pipenet.lang.walk import Fail, Scope, Walker, subnodes, words
from pipenet.source import Span

#: the parts common to every kind, and how their value reads
_COMMON = {"address": V.if_address, "mac": V.mac, "mtu": V.mtu}


def primary(bridge: str, address: IfAddr | None, mac: str | None, span: Span, spans: dict,
            address6: IfAddr | None = None) -> Interface:
    """eth0 of `net BRIDGE`: a port of that bridge."""
    return Interface("eth0", PORT.name, bridge=bridge, address=address, mac=mac, primary=True,
                     span=span, spans=spans, address6=address6)


def interface(w: Walker, s: Node, sc: Scope, node: str) -> Interface:
    name_tok = words(s)[0]
    name = w.typed(name_tok, sc, V.ifname)
    f: dict[str, Any] = {"name": name, "span": w.node_span(s, sc)}
    spans: dict[str, Span] = {"name": w.span(name_tok, sc)}
    found: list[tuple[str, Span]] = []
    declared = False
    for part in subnodes(s):
        kind = kinds.by_rule(part.data)
        pw = words(part)
        try:
            if kind is not None:
                declared = True
                own: tuple[dict, dict] = ({}, {})
                kind.build(w, part, sc, *own)
                if not found:  # a second kind is an error (below): its words are read only for their own errors
                    f.update(own[0])
                    spans.update(own[1])
                found.append((kind.name, w.node_span(part, sc)))
            elif part.data == "host_name":
                w.set_once(f, spans, "host_name", w.typed(pw[0], sc, V.ifname), w.span(pw[0], sc), "host-name")
            elif part.data == "address":  # one per family (dual stack)
                a = common.interface_address(w, pw[0], sc, spans)
                common.set_family_once(w, f, spans, "address", a, w.span(pw[0], sc))
            elif part.data in _COMMON:
                w.set_once(f, spans, part.data, w.typed(pw[0], sc, _COMMON[part.data]), w.span(pw[0], sc),
                           part.data)
        except Fail:
            pass
    if not found and declared:
        raise Fail  # the kind's own value was wrong, and that is already reported
    if not found:
        w.error(f"interface `{name}` needs a kind", w.span(name_tok, sc),
                "write " + joined([f"`{k.usage}`" for k in kinds.KINDS.values()]))
        raise Fail
    if len(found) > 1:
        w.error(f"interface `{name}` has more than one kind", found[1][1],
                "an interface is one of: " + ", ".join(k.short for k in kinds.KINDS.values()))
    common.second_family(f, spans, "address")
    f["kind"] = found[0][0]
    spans["kind"] = found[0][1]
    return Interface(**f, spans=spans)
