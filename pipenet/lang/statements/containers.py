"""`container NAME { ... }`, starting from the statements of `defaults container`.

A container's own statement overrides a default that can be given once
(`hostname`, `net`, ...); its own `dns` or `dns-search` replaces the
defaults' list; statements that add things add to the defaults'.
"""

from __future__ import annotations

from typing import Any

from lark import Token

from pipenet.ir import UNREADABLE_ADDRESS as UNREADABLE
from pipenet.ir import AddHost, Attach, Container, Link, Masquerade, Net, Publish, Run
from pipenet.lang import values as V
from pipenet.lang.parser import Node, keywords
from pipenet.lang.statements import common, interfaces, nodefiles
from pipenet.lang.walk import Fail, Scope, Walker, subnodes, value_token, words
from pipenet.source import Span


def container(w: Walker, st: Node, sc: Scope, defaults: list[tuple[Node, Scope]]) -> Container:
    tok = words(st)[0]
    name = w.typed(tok, sc, V.name, "container name")
    c = ContainerBuilder(name, w.span(tok, sc))
    for s, dsc in defaults:
        try:
            _statement(w, s, dsc, c, from_defaults=True)
        except Fail:
            pass
    c.defaults_done()
    for s in subnodes(st):
        try:
            _statement(w, s, sc, c, from_defaults=False)
        except Fail:
            pass
    return c.finish(w)


def _shared_container(text: str) -> str:
    """The NAME of `net container:NAME`."""
    name = text[len("container:"):]
    if not name:
        raise V.BadValue("expected a container name after `container:`", "write `net container:NAME`, or "
                         "`net container NAME`: NAME is the container whose network this one shares")
    return V.name(name, "container name")


def _statement(w: Walker, s: Node, sc: Scope, c: ContainerBuilder, from_defaults: bool) -> None:
    kind = s.data
    t = words(s)
    sp = (lambda i=0: w.span(t[i], sc))
    if kind == "hostname":
        c.single(w, "hostname", w.typed(t[0], sc, V.hostname), sp())
    elif kind == "net":
        text = w.text(t[0], sc)
        if text in ("host", "none"):
            c.single(w, "net", Net(text, None, sp()), sp())
        elif text.startswith("container:"):  # (Docker's spelling, --net=container:NAME)
            name = w.typed(t[0], sc, _shared_container)
            c.single(w, "net", Net("container", name, sp()), sp())
        else:
            c.single(w, "net", Net("bridge", w.typed(t[0], sc, V.ifname), sp()), sp())
    elif kind == "net_container":
        c.single(w, "net", Net("container", w.typed(t[0], sc, V.name, "container name"), sp()), sp())
    elif kind == "address":  # one per family (dual stack)
        a = common.interface_address(w, t[0], sc, c.spans)
        c.single(w, common.family_key("address", a.version), a, sp(), f"an IPv{a.version} `address`")
    elif kind == "mac":
        c.single(w, "mac", w.typed(t[0], sc, V.mac), sp())
    elif kind == "dns":
        c.replace_list("dns", [w.typed(x, sc, V.ip) for x in t], sp(), from_defaults)
    elif kind == "dns_search":
        c.replace_list("dns_search", [w.typed(x, sc, V.domain) for x in t], sp(), from_defaults)
    elif kind == "add_host":
        c.add("add_hosts", AddHost(w.typed(t[0], sc, V.hostname), w.typed(t[1], sc, V.ip), sp()))
    elif kind == "expose":
        for x in t:
            c.add("expose", w.typed(x, sc, V.port))
            c.spans.setdefault("expose", w.span(x, sc))
    elif kind == "publish":
        for x in t:
            p = w.typed(x, sc, V.publish)
            c.add("publish", Publish(p.host_ip, p.host_port, p.port, p.proto, w.span(x, sc)))
    elif kind == "publish_all":
        c.single(w, "publish_all", True, w.node_span(s, sc))
    elif kind == "link":
        target = w.typed(t[0], sc, V.name, "container name")
        alias = w.typed(t[1], sc, V.hostname) if len(t) > 1 else None
        spans = {"target": sp(0)}
        if alias is not None:
            spans["alias"] = sp(1)
        c.add("links", Link(target, alias, w.node_span(s, sc), spans))
    elif kind == "run":
        tok = value_token(s)
        text = w.text(tok, sc)
        try:
            argv = V.command(text)
        except V.BadValue as e:
            w.error(str(e), w.span(tok, sc), e.hint)
            raise Fail from None
        c.add("run", Run(text, argv, w.span(tok, sc)))
    elif kind == "interface":
        c.add("interfaces", interfaces.interface(w, s, sc, c.name))
    elif kind == "route":
        c.add("routes", common.route(w, s, sc))
    elif kind == "forwarding":
        c.single(w, "forwarding", w.typed(t[0], sc, V.switch), sp())
    elif kind == "masquerade_out":
        c.add("masquerade", Masquerade(w.typed(t[0], sc, V.ifname), sp()))
    elif kind == "sysctl":
        c.add("sysctls", common.sysctl(w, s, sc))
    elif kind == "shape":
        c.add("shapes", common.shape(w, s, sc, w.typed(t[0], sc, V.ifname), w.node_span(s, sc)))
    elif kind == "attach":
        c.single(w, "attach", _attach(w, s, sc), w.node_span(s, sc))
    elif kind in ("node_file", "private"):
        c.add("paths", nodefiles.node_path(w, s, sc))
    elif kind == "placed":
        c.single(w, "machine", w.typed(t[0], sc, V.name, "machine name"), sp())
    elif kind == "unknown":
        w.unknown(s, sc, "in a container", keywords("_container_stmt"))


def _attach(w: Walker, s: Node, sc: Scope) -> Attach:
    kind_tok = [x for x in s.children if isinstance(x, Token) and x.type == "ATTACH_KIND"][0]
    val_tok = value_token(s)
    value = w.text(val_tok, sc)
    if kind_tok.value == "pid":
        value = str(w.typed(val_tok, sc, V.integer, "a process id", 1, 2**22))
    elif kind_tok.value == "docker":
        value = w.typed(val_tok, sc, V.name, "docker container name")
    elif not value.startswith("/") or "\0" in value:
        w.error(f"`{value}` is not an absolute path", w.span(val_tok, sc), "e.g. attach netns /var/run/netns/x")
        raise Fail
    return Attach(kind_tok.value, value, w.node_span(s, sc))


class ContainerBuilder:
    """Accumulates a container's statements: defaults first, then its own."""

    def __init__(self, name: str, span: Span):
        self.name = name
        self.span = span
        self.f: dict[str, Any] = {}
        self.spans: dict[str, Span] = {"name": span}
        self.lists: dict[str, list] = {}
        self.own: set[str] = set()
        self.in_defaults = True

    def defaults_done(self) -> None:
        self.in_defaults = False

    def single(self, w: Walker, key: str, value: Any, span: Span, what: str = "") -> None:
        """A statement given at most once (its own overrides a default's)."""
        if not self.in_defaults and key in self.own:
            w.error(f"{what or '`' + key.replace('_', '-') + '`'} is given twice in container {self.name}", span,
                    f"the first is at line {self.spans[key].line}")
            raise Fail
        if not self.in_defaults:
            self.own.add(key)
        self.f[key] = value
        self.spans[key] = span

    def replace_list(self, key: str, items: list, span: Span, from_defaults: bool) -> None:
        # A container's own `dns` replaces the defaults' list; several own lines add up.
        if not from_defaults and key not in self.own:
            self.lists[key] = []
            self.own.add(key)
        self.lists.setdefault(key, []).extend(items)
        self.spans.setdefault(key, span)

    def add(self, key: str, item: Any) -> None:
        self.lists.setdefault(key, []).append(item)

    def finish(self, w: Walker) -> Container:
        f, L = self.f, self.lists
        net: Net = f.get("net", Net("none", None, self.span))
        made = list(L.get("interfaces", ()))
        if net.kind == "bridge":
            spans = {"bridge": net.span}
            for key in ("address", "address6", "mac", UNREADABLE):
                if key in self.spans:
                    spans[key] = self.spans[key]
            addr = {k: f.get(k) for k in ("address", "address6")}
            common.second_family(addr, spans, "address")
            made.insert(0, interfaces.primary(net.target, addr.get("address"), f.get("mac"), net.span, spans,
                                              addr.get("address6")))
        else:
            # (the one check left here: eth0's address and MAC have nowhere to go in the IR without a bridge)
            for key in ("address", "address6", "mac"):
                if key in f:
                    word = key.rstrip("6")
                    w.error(f"`{word}` sets eth0's {word}, which only `net BRIDGE` creates", self.spans[key],
                            f"with net {net.kind}, give the {word} on an `interface` or a `p2p` end")
        return Container(
            name=self.name, hostname=f.get("hostname", self.name), net=net, interfaces=tuple(made),
            dns=tuple(L.get("dns", ())), dns_search=tuple(L.get("dns_search", ())),
            add_hosts=tuple(L.get("add_hosts", ())), expose=tuple(L.get("expose", ())),
            publish=tuple(L.get("publish", ())), publish_all=f.get("publish_all", False),
            links=tuple(L.get("links", ())), run=tuple(L.get("run", ())), routes=tuple(L.get("routes", ())),
            forwarding=f.get("forwarding"), masquerade=tuple(L.get("masquerade", ())),
            sysctls=tuple(L.get("sysctls", ())), shapes=tuple(L.get("shapes", ())), attach=f.get("attach"),
            paths=tuple(L.get("paths", ())), machine=f.get("machine"), span=self.span, spans=self.spans)
