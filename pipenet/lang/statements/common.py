"""Statements several blocks share: `route` (containers, host), `sysctl` (containers, host), `shape`
(containers; a p2p block's shaping options); and the walk of a named block's statements (bridges,
machines)."""

from __future__ import annotations

import re
from typing import Any

from pipenet.ir import UNREADABLE_ADDRESS, IfAddr, Route, Shape, Sysctl
from pipenet.lang import values as V
from pipenet.lang.parser import Node
from pipenet.lang.walk import Fail, Scope, Walker, subnodes, value_token, words
from pipenet.source import Span


def named_block(w: Walker, st: Node, sc: Scope, name: str, statement) -> tuple[dict[str, Any], dict[str, Span]]:
    """(fields, spans) of a block `KEYWORD NAME { ... }`: its name, then each statement read by
    `statement(w, s, sc, fields, spans)`, every one of them (a wrong one is reported and skipped)."""
    tok = words(st)[0]
    f: dict[str, Any] = {"name": name, "span": w.span(tok, sc)}
    spans: dict[str, Span] = {"name": w.span(tok, sc)}
    for s in subnodes(st):
        try:
            statement(w, s, sc, f, spans)
        except Fail:
            pass
    return f, spans


def route(w: Walker, s: Node, sc: Scope) -> Route:
    t = words(s)
    dest_text = w.text(t[0], sc)
    dest = None if dest_text == "default" else w.typed(t[0], sc, V.network)
    f: dict[str, Any] = {"dest": dest, "span": w.node_span(s, sc)}
    spans = {"dest": w.span(t[0], sc)}
    for opt in subnodes(s):
        tok = words(opt)[0]
        osp = w.span(tok, sc)
        try:
            if opt.data == "via":
                w.set_once(f, spans, "via", w.typed(tok, sc, V.ip), osp, "via")
            elif opt.data == "dev":
                w.set_once(f, spans, "dev", w.typed(tok, sc, V.ifname), osp, "dev")
            elif opt.data == "metric":
                w.set_once(f, spans, "metric", w.typed(tok, sc, V.integer, "a metric", 0, 2**32 - 1), osp, "metric")
        except Fail:
            pass
    if "via" not in f and "dev" not in f:
        w.error(f"route {dest_text} needs a gateway or a device", f["span"],
                f"write `route {dest_text} via GATEWAY` or `route {dest_text} dev IF`")
        raise Fail
    return Route(**f, spans=spans)


def family_key(key: str, version: int) -> str:
    """Where a value of IP `version` goes: `key` for IPv4, `key6` for IPv6 (see `second_family`)."""
    return f"{key}6" if version == 6 else key


def interface_address(w: Walker, tok, sc: Scope, spans: dict) -> IfAddr:
    """An interface's `address` value (a container's eth0, or an `interface`'s). One that cannot be read is
    reported (Fail) and marked in `spans` (`ir.UNREADABLE_ADDRESS`): the allocator then gives the
    interface no pool address in its place, which would be a second error about the pool it drained."""
    try:
        return w.typed(tok, sc, V.if_address)
    except Fail:
        spans.setdefault(UNREADABLE_ADDRESS, w.span(tok, sc))
        raise


def set_family_once(w: Walker, f: dict, spans: dict, key: str, value: Any, span: Span) -> None:
    """f[key or key6] = value (an address or a network, by its family), unless that family's is given
    already: one of each family is dual stack, two of one family an error."""
    where = family_key(key, value.version)
    if where in f:
        w.error(f"an IPv{value.version} `{key}` is given twice", span,
                f"the first is at line {spans[where].line}; one of each family makes a dual-stack {key}")
        raise Fail
    f[where] = value
    spans[where] = span


def second_family(f: dict, spans: dict, key: str) -> None:
    """Dual stack in the IR: `key` holds the IPv4 value and `key6` the IPv6 one when both are given;
    a lone IPv6 value moves to `key`, where everything that knows one family looks for it."""
    if f.get(f"{key}6") is not None and f.get(key) is None:
        f[key] = f.pop(f"{key}6")
        spans[key] = spans.pop(f"{key}6")


def sysctl(w: Walker, s: Node, sc: Scope) -> Sysctl:
    key = w.typed(words(s)[0], sc, V.sysctl_key)
    tok = value_token(s)
    value = w.text(tok, sc)
    if not re.fullmatch(r"[A-Za-z0-9 \t._:/-]{1,256}", value):
        w.error(f"`{value}` is not a sysctl value", w.span(tok, sc), "a number or a short word")
        raise Fail
    return Sysctl(key, value, w.node_span(s, sc))


_SHAPING = {"delay": ("delay_ms", V.duration_ms), "jitter": ("jitter_ms", V.duration_ms),
            "loss": ("loss_pct", V.percent), "rate": ("rate_bps", V.rate_bps)}


def shape(w: Walker, s: Node, sc: Scope, ifname: str, span: Span, opts: list[Node] | None = None) -> Shape:
    """`shape IF delay ... jitter ... loss ... rate ...` (or, with `opts`, a p2p block's shaping options)."""
    f: dict[str, Any] = {}
    text: dict[str, str] = {}
    seen: dict[str, Span] = {}
    for opt in (opts if opts is not None else subnodes(s)):
        tok = words(opt)[0]
        osp = w.span(tok, sc)
        if opt.data in seen:
            w.error(f"`{opt.data}` is given twice", osp, f"the first is at line {seen[opt.data].line}")
            continue
        seen[opt.data] = osp
        if opt.data not in _SHAPING:
            continue
        field, parse = _SHAPING[opt.data]
        try:
            f[field] = w.typed(tok, sc, parse)
            text[opt.data] = w.text(tok, sc)
        except Fail:
            pass
    if "jitter" in seen and "delay" not in seen:
        w.error("`jitter` needs a `delay`", seen["jitter"], "e.g. delay 50ms jitter 5ms")
    return Shape(ifname, text=text, span=span, **f)
