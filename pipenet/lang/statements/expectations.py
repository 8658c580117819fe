"""`expect SRC can reach TARGET [as X] [over ipv4|ipv6] [within T]`, `expect SRC cannot reach TARGET
[over ipv4|ipv6] [within T]`, `expect SRC resolves NAME to IP`.

`over ipv6` says which of a dual-stack node's addresses its name means (the
target's, the `as` node's, the host's gateway): without it a name means the
node's primary address, IPv4 when it has one, as in the rest of the file.
"""

from __future__ import annotations

from lark import Token

from pipenet.ir import Expectation, Target
from pipenet.lang import values as V
from pipenet.lang.parser import Node
from pipenet.lang.walk import Fail, Scope, Walker, subnodes, words

#: the longest `within`: a lab that has not converged in an hour will not
MAX_WITHIN = 3600.0
FAMILIES = {"ipv4": 4, "ipv6": 6}


def expect(w: Walker, st: Node, sc: Scope) -> Expectation:
    t = words(st)
    src = w.typed(t[0], sc, V.name, "node name")
    spans = {"source": w.span(t[0], sc)}
    span = w.node_span(st, sc)
    if st.data == "expect_resolves":
        spans["name"], spans["ip"] = w.span(t[1], sc), w.span(t[2], sc)
        return Expectation("resolves", src, name=w.typed(t[1], sc, V.domain), ip=w.typed(t[2], sc, V.ip),
                           span=span, spans=spans)
    target = _target(w, t[1], sc)
    spans["target"] = w.span(t[1], sc)
    as_ip = as_node = None
    if len(t) > 2:
        spans["as"] = w.span(t[2], sc)
        text = w.text(t[2], sc)
        if V.NAME_RE.match(text):
            as_node = text
        else:
            as_ip = w.typed(t[2], sc, V.ip)
    kind = "reach" if st.data == "expect_reach" else "unreach"
    family, within = options(w, st, sc, spans, [a for a in (target.ip, as_ip) if a is not None])
    return Expectation(kind, src, target, as_ip, as_node, within=within, family=family, span=span, spans=spans)


def options(w: Walker, st: Node, sc: Scope, spans: dict, written: list) -> tuple[int | None, float | None]:
    """(family, within) of `over ipv4|ipv6` and `within T`, their spans put in `spans`; an address written
    out (`written`) must be of the family asked for."""
    family = within = None
    for part in subnodes(st):
        tok = words(part)[0]
        if part.data == "within":  # `within T`
            spans["within"] = w.span(tok, sc)
            within = w.typed(tok, sc, V.wait_seconds, MAX_WITHIN)
            continue
        spans["over"] = w.span(tok, sc)  # `over ipv4|ipv6`
        family = FAMILIES.get(w.text(tok, sc).lower())
        if family is None:
            w.error(f"`{w.text(tok, sc)}` is not an address family", spans["over"], "write over ipv4 or over ipv6")
            raise Fail
        wrong = [a for a in written if a.version != family]
        if wrong:
            w.error(f"{wrong[0]} is an IPv{wrong[0].version} address, and the expectation is over ipv{family}",
                    spans["over"], "`over` chooses among a node's addresses; an address written out has its family")
            raise Fail
    return family, within


def _target(w: Walker, tok: Token, sc: Scope) -> Target:
    text = w.text(tok, sc)
    span = w.span(tok, sc)
    head, port = text, None
    if text.count(":") == 1 or (":" in text and "." in text.rsplit(":", 1)[0] and text.count(":") == 1):
        head, p = text.rsplit(":", 1)
        try:
            port = V.port(p)
        except V.BadValue as e:
            w.error(str(e), span, e.hint)
            raise Fail from None
    if V.NAME_RE.match(head):
        return Target(head, None, port, span)
    try:
        return Target(None, V.ip(head), port, span)
    except V.BadValue:
        w.error(f"expected a node, an address or host, optionally with :PORT, got `{text}`", span,
                "e.g. www:80/tcp, 10.0.0.1, host")
        raise Fail from None
