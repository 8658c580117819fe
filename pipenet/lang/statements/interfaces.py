"""`interface NAME KIND [address A] [mac M] [mtu N] [host-name H]`, or the same parts in a block.

An interface has exactly one kind (`on BRIDGE`, `dummy`, `macvlan of IF`,
`vlan ID of IF`); the other parts are common to every kind.
"""

from __future__ import annotations

from typing import Any

from lark import Token

from pipenet.ir import IfAddr, Interface
from pipenet.lang import values as V
from pipenet.lang.parser import Node
from pipenet.lang.walk import Fail, Scope, Walker, subnodes, words
from pipenet.source import Span

#: the parts common to every kind, and how their value reads
_COMMON = {"address": V.if_address, "mac": V.mac, "mtu": V.mtu}


def primary(bridge: str, address: IfAddr | None, mac: str | None, span: Span, spans: dict) -> Interface:
    """eth0 of `net BRIDGE`: a port of that bridge."""
    return Interface("eth0", "port", bridge=bridge, address=address, mac=mac, primary=True, span=span, spans=spans)


def interface(w: Walker, s: Node, sc: Scope, node: str) -> Interface:
    name_tok = words(s)[0]
    name = w.typed(name_tok, sc, V.ifname)
    f: dict[str, Any] = {"name": name, "span": w.node_span(s, sc)}
    spans: dict[str, Span] = {"name": w.span(name_tok, sc)}
    kinds: list[tuple[str, Span]] = []
    for part in subnodes(s):
        pw = words(part)
        psp = w.node_span(part, sc)
        try:
            if part.data == "on":
                f["bridge"] = w.typed(pw[0], sc, V.ifname)
                spans["bridge"] = w.span(pw[0], sc)
                kinds.append(("port", psp))
            elif part.data == "dummy":
                kinds.append(("dummy", psp))
            elif part.data == "macvlan":
                _parent(w, pw[0], sc, f, spans)
                kinds.append(("macvlan", psp))
                if len(pw) > 1:
                    mode = w.text(pw[1], sc)
                    if mode not in ("bridge", "private", "vepa", "passthru", "source"):
                        w.error(f"unknown macvlan mode `{mode}`", w.span(pw[1], sc),
                                "modes: bridge, private, vepa, passthru, source")
                    f["mode"] = mode
            elif part.data == "vlan":
                f["vlan_id"] = w.typed(pw[0], sc, V.integer, "a VLAN id", 1, 4094)
                spans["vlan_id"] = w.span(pw[0], sc)
                _parent(w, pw[1], sc, f, spans)
                kinds.append(("vlan", psp))
            elif part.data == "host_name":
                w.set_once(f, spans, "host_name", w.typed(pw[0], sc, V.ifname), w.span(pw[0], sc), "host-name")
            elif part.data in _COMMON:
                w.set_once(f, spans, part.data, w.typed(pw[0], sc, _COMMON[part.data]), w.span(pw[0], sc),
                           part.data)
        except Fail:
            pass
    if not kinds and any(p.data in ("on", "dummy", "macvlan", "vlan") for p in subnodes(s)):
        raise Fail  # the kind's own value was wrong, and that is already reported
    if not kinds:
        w.error(f"interface `{name}` needs a kind", w.span(name_tok, sc),
                "write `on BRIDGE`, `dummy`, `macvlan of host:eth0` or `vlan ID of IF`")
        raise Fail
    if len(kinds) > 1:
        w.error(f"interface `{name}` has more than one kind", kinds[1][1],
                "an interface is one of: on BRIDGE, dummy, macvlan, vlan")
    f["kind"] = kinds[0][0]
    spans["kind"] = kinds[0][1]
    return Interface(**f, spans=spans)


def _parent(w: Walker, tok: Token, sc: Scope, f: dict, spans: dict) -> None:
    text = w.text(tok, sc)
    if ":" in text:
        node, ifn = w.typed(tok, sc, V.node_interface)
        f["parent_node"], f["parent"] = node, ifn
    else:
        f["parent"] = w.typed(tok, sc, V.ifname)
    spans["parent"] = w.span(tok, sc)
