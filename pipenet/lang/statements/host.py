"""`host { route ...; forwarding ...; masquerade out ...; sysctl ... }`: every host block, as one."""

from __future__ import annotations

from pipenet.ir import HostConfig, Masquerade
from pipenet.lang import values as V
from pipenet.lang.parser import Node, keywords
from pipenet.lang.statements import common
from pipenet.lang.walk import Fail, Scope, Walker, subnodes, words


def host(w: Walker, blocks: list[tuple[Node, Scope]]) -> HostConfig:
    routes, masq, sysctls = [], [], []
    forwarding = None
    span = None
    for st, sc in blocks:
        span = span or w.node_span(st, sc)
        for s in subnodes(st):
            try:
                if s.data == "route":
                    routes.append(common.route(w, s, sc))
                elif s.data == "forwarding":
                    forwarding = w.typed(words(s)[0], sc, V.switch)
                elif s.data == "masquerade_out":
                    masq.append(Masquerade(w.typed(words(s)[0], sc, V.ifname), w.node_span(s, sc)))
                elif s.data == "sysctl":
                    sysctls.append(common.sysctl(w, s, sc))
                elif s.data == "unknown":
                    w.unknown(s, sc, "in the host block", keywords("_host_stmt"))
            except Fail:
                pass
    kw = {"span": span} if span else {}
    return HostConfig(tuple(routes), forwarding, tuple(masq), tuple(sysctls), **kw)
