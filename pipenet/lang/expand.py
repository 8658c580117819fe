"""Syntax tree to IR: variables, loops, defaults, interpolation, typed values.

Two walks. The first runs the program part of the language: it evaluates
`let` (top-level variables lazily, so they may be used before they are
written, with cycles reported), unrolls `for` loops (each iteration a fresh
scope, with a budget so a huge loop is an error rather than a hang) and
records every declaration with the scope it was made in. The second builds
the IR from those records, applying `defaults container` to every container
and turning each token into a typed value (`pipenet.lang.values`). Problems
become diagnostics; the walk always goes on, so every error is reported.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from lark import Token

from pipenet.diagnostics import Diagnostic, did_you_mean
from pipenet.ir import (AddHost, Attach, Bridge, Container, Expectation, HostConfig, Interface,
                        Link, Masquerade, Net, P2PEnd, P2PLink, Publish, Route, Run, Shape, Sysctl, Target,
                        Topology)
from pipenet.lang import values as V
from pipenet.lang.arith import ArithError, evaluate
from pipenet.lang.parser import PLACEHOLDER, Node
from pipenet.source import LoopFrame, Span

#: At most this many loop iterations in one file (nested loops multiply).
MAX_ITERATIONS = 200_000

_INTERP = re.compile(r"\$\{([^}\n]*)\}")
#: The escapes a string knows (docs/language.md); any other backslash is an error.
ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_STRING_PART = re.compile(r"\\(.)|\$\{([^}\n]*)\}")

TOP_KEYWORDS = ("topology", "let", "hosts", "bridge", "container", "p2p", "defaults", "for", "expect", "host")
BRIDGE_KEYWORDS = ("address", "pool", "mtu", "icc", "masquerade", "external")
CONTAINER_KEYWORDS = ("hostname", "net", "address", "mac", "dns", "dns-search", "add-host", "expose", "publish",
                      "publish-all", "link", "run", "interface", "route", "forwarding", "masquerade", "sysctl",
                      "shape", "attach")
HOST_KEYWORDS = ("route", "forwarding", "masquerade", "sysctl")
P2P_KEYWORDS = ("mtu", "delay", "jitter", "loss", "rate")


class _Fail(Exception):
    """A value could not be made; the diagnostic is already recorded."""


class Scope:
    """Variables visible to one statement: loop variables and loop-local lets, over the top-level lets."""

    __slots__ = ("vars", "loop")

    def __init__(self, vars: dict[str, Any], loop: LoopFrame | None):
        self.vars = vars
        self.loop = loop


def _words(node: Node) -> list[Token]:
    return [c for c in node.children if isinstance(c, Token) and c.type in ("WORD", "STRING")]


def _subnodes(node: Node) -> list[Node]:
    return [c for c in node.children if isinstance(c, Node)]


def _value_token(node: Node) -> Token:
    """The token of a `value` child (WORD or STRING)."""
    for c in node.children:
        if isinstance(c, Node) and c.data == "value":
            return c.children[0]
    return _words(node)[-1]


class Expander:
    def __init__(self, file: str, default_name: str, variables: dict[str, int | str] | None = None):
        self.file = file
        self.default_name = default_name
        self.cli_vars = variables or {}  # --var NAME=VALUE: over top-level lets, under loop scopes
        self.diags: list[Diagnostic] = []
        self.let_defs: dict[str, tuple[Token, Node]] = {}
        self.let_values: dict[str, Any] = {}
        self._evaluating: set[str] = set()
        self.iterations = 0
        self.topology: list[tuple[Node, Scope]] = []
        self.hosts_auto = False
        self.records: dict[str, list[tuple[Node, Scope]]] = {
            "bridge": [], "container": [], "p2p": [], "expect": [], "host": [], "defaults": []}

    # ---- diagnostics and spans ---------------------------------------------------------
    def span(self, tok: Token, scope: Scope | None = None) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line or tok.line,
                    tok.end_column or tok.column + len(tok.value), scope.loop if scope else None)

    def node_span(self, node: Node, scope: Scope | None) -> Span:
        toks = list(node.tokens())
        return self.span(toks[0], scope).to(self.span(toks[-1], scope))

    def error(self, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(message, span, hint))

    # ---- variables and interpolation ------------------------------------------------------
    def lookup(self, name: str, scope: Scope, span: Span, offset: int) -> Any:
        if name in scope.vars:
            return scope.vars[name]
        if name in self.cli_vars:
            return self.cli_vars[name]
        if name in self.let_values:
            return self.let_values[name]
        if name in self.let_defs:
            if name in self._evaluating:
                raise ArithError(f"variable `{name}` is defined in terms of itself", offset)
            self._evaluating.add(name)
            try:
                tok, node = self.let_defs[name]
                value = self.let_value(tok, Scope({}, None))
            finally:
                self._evaluating.discard(name)
            self.let_values[name] = value
            return value
        guess = did_you_mean(name, self.cli_vars)  # a typo on the command line first
        guess = guess[:-1] + " (given with --var)?" if guess else did_you_mean(name, list(scope.vars) +
                                                                               list(self.let_defs))
        define = f"define it with `let {name} = VALUE`, or give it on the command line: --var {name}=VALUE"
        raise ArithError(f"unknown variable `{name}`", offset, f"{guess} If not, {define}" if guess else define)

    def let_value(self, tok: Token, scope: Scope) -> Any:
        text = self.text(tok, scope)
        if tok.type == "WORD" and (V.is_number(text) or (text.startswith("-") and V.is_number(text[1:]))):
            try:
                return -V.to_int(text[1:]) if text.startswith("-") else V.to_int(text)
            except V.BadValue as e:
                self.error(str(e), self.span(tok, scope), e.hint)
                raise _Fail from None
        if tok.type == "WORD" and _INTERP.fullmatch(tok.value):
            return self._interp_one(tok, scope, _INTERP.fullmatch(tok.value))
        return text

    def _interp_one(self, tok: Token, scope: Scope, m: re.Match, group: int = 1) -> Any:
        span = self.span(tok, scope)
        base = m.start(group)
        try:
            return evaluate(m.group(group), lambda n, off: self.lookup(n, scope, span, off))
        except ArithError as e:
            self.error(str(e), span.shifted(base + e.offset, 1), e.hint)
            raise _Fail from None

    def text(self, tok: Token, scope: Scope) -> str:
        """The token's text with ${...} replaced and, for strings, quotes and escapes removed."""
        if tok.type == "STRING":
            return self._string(tok, scope)
        raw = tok.value
        if "${" in raw:
            raw = _INTERP.sub(lambda m: str(self._interp_one(tok, scope, m)), raw)
        return raw

    def _string(self, tok: Token, scope: Scope) -> str:
        """A string's text: escapes (only those in ESCAPES) and ${...} in its literal parts, once each,
        so an interpolated value is never read again for escapes."""
        raw = tok.value
        if "\\" not in raw and "${" not in raw:
            return raw[1:-1]
        out, pos = [], 1
        for m in _STRING_PART.finditer(raw, 1, len(raw) - 1):
            out.append(raw[pos:m.start()])
            pos = m.end()
            if m.group(1) is None:
                out.append(str(self._interp_one(tok, scope, m, 2)))
            elif m.group(1) in ESCAPES:
                out.append(ESCAPES[m.group(1)])
            else:
                self.error(f"unknown escape `\\{m.group(1)}` in a string", self.span(tok, scope).shifted(m.start(), 2),
                           "a string knows \\\" \\\\ \\n and \\t; write \\\\ for a backslash")
                raise _Fail
        out.append(raw[pos:len(raw) - 1])
        return "".join(out)

    def typed(self, tok: Token, scope: Scope, parse: Callable[[str], Any], *args) -> Any:
        text = self.text(tok, scope)
        try:
            return parse(text, *args)
        except V.BadValue as e:
            self.error(str(e), self.span(tok, scope), e.hint)
            raise _Fail from None

    # ---- walk 1: program structure ---------------------------------------------------------
    def collect(self, tree: Node) -> None:
        root = Scope({}, None)
        for st in tree.children:
            if isinstance(st, Node) and st.data == "let":
                w = _words(st)
                name_tok, val_tok = w[0], _value_token(st)
                if name_tok.value in self.let_defs:
                    first = self.let_defs[name_tok.value][0]
                    self.error(f"variable `{name_tok.value}` is already defined", self.span(name_tok),
                               f"first defined at line {first.line}")
                elif not V.NAME_RE.match(name_tok.value) or "${" in name_tok.value:
                    self.error(f"`{name_tok.value}` is not a valid variable name", self.span(name_tok),
                               "variable names start with a letter or _")
                else:
                    self.let_defs[name_tok.value] = (val_tok, st)
        for name, (tok, _node) in self.let_defs.items():
            try:
                self.lookup(name, root, self.span(tok), 0)
            except ArithError as e:
                self.error(str(e), self.span(tok), e.hint)
            except _Fail:
                pass
        self.walk(tree.children, root, top=True)

    def walk(self, statements: list, scope: Scope, top: bool) -> None:
        for st in statements:
            if not isinstance(st, Node):
                continue
            kind = st.data
            try:
                if kind == "let":
                    if not top:
                        w = _words(st)
                        scope.vars[w[0].value] = self.let_value(_value_token(st), scope)
                elif kind == "for_loop":
                    self.unroll(st, scope)
                elif kind == "topology":
                    self.topology.append((st, scope))
                elif kind == "hosts_auto":
                    w = _words(st)[0]
                    if self.text(w, scope) != "auto":
                        self.error(f"expected `hosts auto`, found `hosts {w.value}`", self.span(w, scope),
                                   "the only form is `hosts auto`")
                    self.hosts_auto = True
                elif kind in ("bridge", "container", "p2p", "defaults"):
                    self.records[kind].append((st, scope))
                elif kind == "host_block":
                    self.records["host"].append((st, scope))
                elif kind.startswith("expect_"):
                    self.records["expect"].append((st, scope))
                elif kind == "unknown":
                    self.unknown(st, scope, "at the top level", TOP_KEYWORDS)
            except _Fail:
                pass

    def unroll(self, st: Node, scope: Scope) -> None:
        var_tok, lo_tok, hi_tok = _words(st)[:3]
        body = [c for c in st.children if isinstance(c, Node)]
        lo = self.typed(lo_tok, scope, V.integer, "a loop bound", 0, 10**12)
        hi = self.typed(hi_tok, scope, V.integer, "a loop bound", 0, 10**12)
        if hi < lo:
            self.error(f"the range {lo}..{hi} is empty", self.span(lo_tok, scope).to(self.span(hi_tok, scope)),
                       f"ranges count up: write {hi}..{lo}")
            return
        count = hi - lo + 1
        if self.iterations + count > MAX_ITERATIONS:
            self.error(f"this loop would make more than {MAX_ITERATIONS:,} iterations in the file",
                       self.span(lo_tok, scope).to(self.span(hi_tok, scope)),
                       "pipenet limits loops so a typo cannot hang it; use a smaller range")
            self.iterations = MAX_ITERATIONS
            return
        self.iterations += count
        var = var_tok.value
        if not V.NAME_RE.match(var):
            self.error(f"`{var}` is not a valid loop variable", self.span(var_tok, scope))
            return
        kw = st.children[0]
        for i in range(lo, hi + 1):
            frame = LoopFrame(var, i, kw.line, kw.column, scope.loop)
            self.walk(body, Scope({**scope.vars, var: i}, frame), top=False)

    def unknown(self, st: Node, scope: Scope, where: str, keywords: tuple[str, ...]) -> None:
        tok = st.children[0]
        if tok.value == PLACEHOLDER:
            return
        hint = did_you_mean(tok.value, keywords) or "known here: " + ", ".join(keywords)
        self.error(f"unknown keyword `{tok.value}` {where}", self.span(tok, scope), hint)

    # ---- walk 2: the IR ------------------------------------------------------------------------
    def build(self) -> Topology:
        name = self.default_name
        name_span = Span(self.file, 1, 1, 1, 2)
        if self.topology:
            if len(self.topology) > 1:
                st, sc = self.topology[1]
                self.error("`topology` is given more than once", self.node_span(st, sc),
                           f"the first is at line {self.topology[0][0].children[0].line}")
            st, sc = self.topology[0]
            tok = _words(st)[0]
            try:
                name = self.typed(tok, sc, V.name, "topology name")
                name_span = self.span(tok, sc)
            except _Fail:
                pass
        else:
            if not V.NAME_RE.match(name):
                self.error(f"the file name gives the topology name `{name}`, which is not a valid name", name_span,
                           "add a line `topology NAME` naming it")
        if len(name) > 32:
            self.error(f"topology name `{name}` is longer than 32 characters", name_span,
                       "pipenet names kernel objects and firewall chains after it; shorten it")
        bridges = [b for b in (self.safe(self.bridge, st, sc) for st, sc in self.records["bridge"]) if b]
        defaults = [(s, sc) for st, sc in self.records["defaults"] for s in _subnodes(st)]
        containers = [c for c in (self.safe(self.container, st, sc, defaults)
                                  for st, sc in self.records["container"]) if c]
        links = [p for p in (self.safe(self.p2p, st, sc) for st, sc in self.records["p2p"]) if p]
        host = self.host()
        expects = [e for e in (self.safe(self.expect, st, sc) for st, sc in self.records["expect"]) if e]
        return Topology(name=name, file=self.file, bridges=tuple(bridges), containers=tuple(containers),
                        p2p=tuple(links), host=host, hosts_auto=self.hosts_auto, expectations=tuple(expects),
                        span=name_span)

    def safe(self, fn, *args):
        try:
            return fn(*args)
        except _Fail:
            return None

    # bridges
    def bridge(self, st: Node, sc: Scope) -> Bridge:
        tok = _words(st)[0]
        name = self.typed(tok, sc, V.ifname)
        f: dict[str, Any] = {"name": name, "span": self.span(tok, sc)}
        spans: dict[str, Span] = {"name": self.span(tok, sc)}
        for s in _subnodes(st):
            try:
                self._bridge_stmt(s, sc, f, spans)
            except _Fail:
                pass
        return Bridge(**f, spans=spans)

    def _set_once(self, f: dict, spans: dict, key: str, value: Any, span: Span, what: str) -> None:
        if key in spans and key in f:
            self.error(f"`{what}` is given twice", span, f"the first is at line {spans[key].line}")
            raise _Fail
        f[key] = value
        spans[key] = span

    def _bridge_stmt(self, s: Node, sc: Scope, f: dict, spans: dict) -> None:
        kind = s.data
        w = _words(s)
        if kind == "address":
            sp = self.span(w[0], sc)
            if self.text(w[0], sc) == "auto":
                self._set_once(f, spans, "auto", True, sp, "address")
                spans["address"] = sp
            else:
                self._set_once(f, spans, "address", self.typed(w[0], sc, V.if_address), sp, "address")
        elif kind == "pool":
            self._set_once(f, spans, "pool", self.typed(w[0], sc, V.network, False), self.span(w[0], sc), "pool")
        elif kind == "mtu":
            self._set_once(f, spans, "mtu", self.typed(w[0], sc, V.mtu), self.span(w[0], sc), "mtu")
        elif kind == "icc":
            self._set_once(f, spans, "icc", self.typed(w[0], sc, V.switch), self.span(w[0], sc), "icc")
        elif kind == "bridge_masquerade":
            self._set_once(f, spans, "masquerade", self.typed(w[0], sc, V.switch), self.span(w[0], sc),
                           "masquerade")
        elif kind == "external":
            self._set_once(f, spans, "external", True, self.node_span(s, sc), "external")
        elif kind == "unknown":
            self.unknown(s, sc, "in a bridge", BRIDGE_KEYWORDS)

    # containers
    def container(self, st: Node, sc: Scope, defaults: list[tuple[Node, Scope]]) -> Container:
        tok = _words(st)[0]
        name = self.typed(tok, sc, V.name, "container name")
        c = _ContainerBuilder(name, self.span(tok, sc))
        for s, dsc in defaults:
            try:
                self._container_stmt(s, dsc, c, from_defaults=True)
            except _Fail:
                pass
        c.defaults_done()
        for s in _subnodes(st):
            try:
                self._container_stmt(s, sc, c, from_defaults=False)
            except _Fail:
                pass
        return c.finish(self)

    def _container_stmt(self, s: Node, sc: Scope, c: _ContainerBuilder, from_defaults: bool) -> None:
        kind = s.data
        w = _words(s)
        sp = (lambda i=0: self.span(w[i], sc))
        if kind == "hostname":
            c.single(self, "hostname", self.typed(w[0], sc, V.hostname), sp())
        elif kind == "net":
            text = self.text(w[0], sc)
            if text in ("host", "none"):
                c.single(self, "net", Net(text, None, sp()), sp())
            else:
                c.single(self, "net", Net("bridge", self.typed(w[0], sc, V.ifname), sp()), sp())
        elif kind == "net_container":
            c.single(self, "net", Net("container", self.typed(w[0], sc, V.name, "container name"), sp()), sp())
        elif kind == "address":
            c.single(self, "address", self.typed(w[0], sc, V.if_address), sp())
        elif kind == "mac":
            c.single(self, "mac", self.typed(w[0], sc, V.mac), sp())
        elif kind == "dns":
            c.replace_list("dns", [self.typed(t, sc, V.ip) for t in w], sp(), from_defaults)
        elif kind == "dns_search":
            c.replace_list("dns_search", [self.typed(t, sc, V.domain) for t in w], sp(), from_defaults)
        elif kind == "add_host":
            c.add("add_hosts", AddHost(self.typed(w[0], sc, V.hostname), self.typed(w[1], sc, V.ip), sp()))
        elif kind == "expose":
            for t in w:
                c.add("expose", self.typed(t, sc, V.port))
                c.spans.setdefault("expose", self.span(t, sc))
        elif kind == "publish":
            for t in w:
                p = self.typed(t, sc, V.publish)
                c.add("publish", Publish(p.host_ip, p.host_port, p.port, p.proto, self.span(t, sc)))
        elif kind == "publish_all":
            c.single(self, "publish_all", True, self.node_span(s, sc))
        elif kind == "link":
            target = self.typed(w[0], sc, V.name, "container name")
            alias = self.typed(w[1], sc, V.hostname) if len(w) > 1 else None
            spans = {"target": sp(0)}
            if alias is not None:
                spans["alias"] = sp(1)
            c.add("links", Link(target, alias, self.node_span(s, sc), spans))
        elif kind == "run":
            tok = _value_token(s)
            text = self.text(tok, sc)
            try:
                argv = V.command(text)
            except V.BadValue as e:
                self.error(str(e), self.span(tok, sc), e.hint)
                raise _Fail from None
            c.add("run", Run(text, argv, self.span(tok, sc)))
        elif kind == "interface":
            c.add("interfaces", self.interface(s, sc, c.name))
        elif kind == "route":
            c.add("routes", self.route(s, sc))
        elif kind == "forwarding":
            c.single(self, "forwarding", self.typed(w[0], sc, V.switch), sp())
        elif kind == "masquerade_out":
            c.add("masquerade", Masquerade(self.typed(w[0], sc, V.ifname), sp()))
        elif kind == "sysctl":
            c.add("sysctls", self.sysctl(s, sc))
        elif kind == "shape":
            c.add("shapes", self.shape(s, sc, self.typed(w[0], sc, V.ifname), self.node_span(s, sc)))
        elif kind == "attach":
            kind_tok = [t for t in s.children if isinstance(t, Token) and t.type == "ATTACH_KIND"][0]
            val_tok = _value_token(s)
            value = self.text(val_tok, sc)
            if kind_tok.value == "pid":
                value = str(self.typed(val_tok, sc, V.integer, "a process id", 1, 2**22))
            elif kind_tok.value == "docker":
                value = self.typed(val_tok, sc, V.name, "docker container name")
            elif not value.startswith("/") or "\0" in value:
                self.error(f"`{value}` is not an absolute path", self.span(val_tok, sc),
                           "e.g. attach netns /var/run/netns/x")
                raise _Fail
            c.single(self, "attach", Attach(kind_tok.value, value, self.node_span(s, sc)), self.node_span(s, sc))
        elif kind == "unknown":
            self.unknown(s, sc, "in a container", CONTAINER_KEYWORDS)

    def interface(self, s: Node, sc: Scope, node: str) -> Interface:
        w = _words(s)
        name_tok = w[0]
        name = self.typed(name_tok, sc, V.ifname)
        f: dict[str, Any] = {"name": name, "span": self.node_span(s, sc)}
        spans: dict[str, Span] = {"name": self.span(name_tok, sc)}
        kinds: list[tuple[str, Span]] = []
        for part in _subnodes(s):
            pw = _words(part)
            psp = self.node_span(part, sc)
            try:
                if part.data == "on":
                    f["bridge"] = self.typed(pw[0], sc, V.ifname)
                    spans["bridge"] = self.span(pw[0], sc)
                    kinds.append(("port", psp))
                elif part.data == "dummy":
                    kinds.append(("dummy", psp))
                elif part.data == "macvlan":
                    self._parent(pw[0], sc, f, spans)
                    kinds.append(("macvlan", psp))
                    if len(pw) > 1:
                        mode = self.text(pw[1], sc)
                        if mode not in ("bridge", "private", "vepa", "passthru", "source"):
                            self.error(f"unknown macvlan mode `{mode}`", self.span(pw[1], sc),
                                       "modes: bridge, private, vepa, passthru, source")
                        f["mode"] = mode
                elif part.data == "vlan":
                    f["vlan_id"] = self.typed(pw[0], sc, V.integer, "a VLAN id", 1, 4094)
                    spans["vlan_id"] = self.span(pw[0], sc)
                    self._parent(pw[1], sc, f, spans)
                    kinds.append(("vlan", psp))
                elif part.data == "host_name":
                    self._set_once(f, spans, "host_name", self.typed(pw[0], sc, V.ifname), self.span(pw[0], sc),
                                   "host-name")
                elif part.data in ("address", "mac", "mtu"):
                    parse = {"address": V.if_address, "mac": V.mac, "mtu": V.mtu}[part.data]
                    self._set_once(f, spans, part.data, self.typed(pw[0], sc, parse), self.span(pw[0], sc),
                                   part.data)
            except _Fail:
                pass
        if not kinds and any(p.data in ("on", "dummy", "macvlan", "vlan") for p in _subnodes(s)):
            raise _Fail  # the kind's own value was wrong, and that is already reported
        if not kinds:
            self.error(f"interface `{name}` needs a kind", self.span(name_tok, sc),
                       "write `on BRIDGE`, `dummy`, `macvlan of host:eth0` or `vlan ID of IF`")
            raise _Fail
        if len(kinds) > 1:
            self.error(f"interface `{name}` has more than one kind", kinds[1][1],
                       "an interface is one of: on BRIDGE, dummy, macvlan, vlan")
        f["kind"] = kinds[0][0]
        spans["kind"] = kinds[0][1]
        if "host_name" in f and f["kind"] != "port":
            self.error(f"`host-name` names the host end of a bridge port, and {name} is a {f['kind']} interface",
                       spans["host_name"], "use it with `on BRIDGE`: interface eth1 on br1 host-name vethweb")
        return Interface(**f, spans=spans)

    def _parent(self, tok: Token, sc: Scope, f: dict, spans: dict) -> None:
        text = self.text(tok, sc)
        if ":" in text:
            node, ifn = self.typed(tok, sc, V.node_interface)
            f["parent_node"], f["parent"] = node, ifn
        else:
            f["parent"] = self.typed(tok, sc, V.ifname)
        spans["parent"] = self.span(tok, sc)

    def route(self, s: Node, sc: Scope) -> Route:
        w = _words(s)
        dest_text = self.text(w[0], sc)
        dest = None if dest_text == "default" else self.typed(w[0], sc, V.network)
        f: dict[str, Any] = {"dest": dest, "span": self.node_span(s, sc)}
        spans = {"dest": self.span(w[0], sc)}
        for opt in _subnodes(s):
            ow = _words(opt)[0]
            osp = self.span(ow, sc)
            try:
                if opt.data == "via":
                    self._set_once(f, spans, "via", self.typed(ow, sc, V.ip), osp, "via")
                elif opt.data == "dev":
                    self._set_once(f, spans, "dev", self.typed(ow, sc, V.ifname), osp, "dev")
                elif opt.data == "metric":
                    self._set_once(f, spans, "metric", self.typed(ow, sc, V.integer, "a metric", 0, 2**32 - 1),
                                   osp, "metric")
            except _Fail:
                pass
        if "via" not in f and "dev" not in f:
            self.error(f"route {dest_text} needs a gateway or a device", f["span"],
                       f"write `route {dest_text} via GATEWAY` or `route {dest_text} dev IF`")
            raise _Fail
        return Route(**f, spans=spans)

    def sysctl(self, s: Node, sc: Scope) -> Sysctl:
        key = self.typed(_words(s)[0], sc, V.sysctl_key)
        value = self.text(_value_token(s), sc)
        if not re.fullmatch(r"[A-Za-z0-9 \t._:/-]{1,256}", value):
            self.error(f"`{value}` is not a sysctl value", self.span(_value_token(s), sc),
                       "a number or a short word")
            raise _Fail
        return Sysctl(key, value, self.node_span(s, sc))

    def shape(self, s: Node, sc: Scope, ifname: str, span: Span, opts: list[Node] | None = None) -> Shape:
        f: dict[str, Any] = {}
        text: dict[str, str] = {}
        seen: dict[str, Span] = {}
        for opt in (opts if opts is not None else _subnodes(s)):
            tok = _words(opt)[0]
            osp = self.span(tok, sc)
            if opt.data in seen:
                self.error(f"`{opt.data}` is given twice", osp, f"the first is at line {seen[opt.data].line}")
                continue
            seen[opt.data] = osp
            try:
                if opt.data == "delay":
                    f["delay_ms"] = self.typed(tok, sc, V.duration_ms)
                elif opt.data == "jitter":
                    f["jitter_ms"] = self.typed(tok, sc, V.duration_ms)
                elif opt.data == "loss":
                    f["loss_pct"] = self.typed(tok, sc, V.percent)
                elif opt.data == "rate":
                    f["rate_bps"] = self.typed(tok, sc, V.rate_bps)
                else:
                    continue
                text[opt.data] = self.text(tok, sc)
            except _Fail:
                pass
        if "jitter" in seen and "delay" not in seen:
            self.error("`jitter` needs a `delay`", seen["jitter"], "e.g. delay 50ms jitter 5ms")
        return Shape(ifname, text=text, span=span, **f)

    # point-to-point links
    def p2p(self, st: Node, sc: Scope) -> P2PLink:
        ends = [c for c in st.children if isinstance(c, Node) and c.data == "p2p_end"]
        made = []
        for e in ends:
            w = _words(e)
            node, ifn = self.typed(w[0], sc, V.node_interface)
            spans = {"ref": self.span(w[0], sc)}
            addr = None
            if len(w) > 1:
                addr = self.typed(w[1], sc, V.if_address)
                spans["address"] = self.span(w[1], sc)
            made.append(P2PEnd(node, ifn, addr, None, self.span(w[0], sc), spans))
        opts = [c for c in st.children if isinstance(c, Node) and c.data != "p2p_end"]
        mtu = None
        shape_opts = []
        for o in opts:
            if o.data == "mtu":
                mtu = self.safe(self.typed, _words(o)[0], sc, V.mtu)
            elif o.data == "unknown":
                self.unknown(o, sc, "in a p2p block", P2P_KEYWORDS)
            else:
                shape_opts.append(o)
        span = self.node_span(st, sc)
        shape = self.shape(st, sc, "", span, shape_opts) if shape_opts else None
        return P2PLink(made[0], made[1], mtu, shape, span)

    # the host block
    def host(self) -> HostConfig:
        routes, masq, sysctls = [], [], []
        forwarding = None
        span = None
        for st, sc in self.records["host"]:
            span = span or self.node_span(st, sc)
            for s in _subnodes(st):
                try:
                    if s.data == "route":
                        routes.append(self.route(s, sc))
                    elif s.data == "forwarding":
                        forwarding = self.typed(_words(s)[0], sc, V.switch)
                    elif s.data == "masquerade_out":
                        masq.append(Masquerade(self.typed(_words(s)[0], sc, V.ifname), self.node_span(s, sc)))
                    elif s.data == "sysctl":
                        sysctls.append(self.sysctl(s, sc))
                    elif s.data == "unknown":
                        self.unknown(s, sc, "in the host block", HOST_KEYWORDS)
                except _Fail:
                    pass
        kw = {"span": span} if span else {}
        return HostConfig(tuple(routes), forwarding, tuple(masq), tuple(sysctls), **kw)

    # expectations
    def expect(self, st: Node, sc: Scope) -> Expectation:
        w = _words(st)
        src = self.typed(w[0], sc, V.name, "node name")
        spans = {"source": self.span(w[0], sc)}
        span = self.node_span(st, sc)
        if st.data == "expect_resolves":
            spans["name"], spans["ip"] = self.span(w[1], sc), self.span(w[2], sc)
            return Expectation("resolves", src, name=self.typed(w[1], sc, V.domain), ip=self.typed(w[2], sc, V.ip),
                               span=span, spans=spans)
        target = self.target(w[1], sc)
        spans["target"] = self.span(w[1], sc)
        as_ip = as_node = None
        if len(w) > 2:
            spans["as"] = self.span(w[2], sc)
            text = self.text(w[2], sc)
            if V.NAME_RE.match(text):
                as_node = text
            else:
                as_ip = self.typed(w[2], sc, V.ip)
        kind = "reach" if st.data == "expect_reach" else "unreach"
        return Expectation(kind, src, target, as_ip, as_node, span=span, spans=spans)

    def target(self, tok: Token, sc: Scope) -> Target:
        text = self.text(tok, sc)
        span = self.span(tok, sc)
        head, port = text, None
        if text.count(":") == 1 or (":" in text and "." in text.rsplit(":", 1)[0] and text.count(":") == 1):
            head, p = text.rsplit(":", 1)
            try:
                port = V.port(p)
            except V.BadValue as e:
                self.error(str(e), span, e.hint)
                raise _Fail from None
        if V.NAME_RE.match(head):
            return Target(head, None, port, span)
        try:
            return Target(None, V.ip(head), port, span)
        except V.BadValue:
            self.error(f"expected a node, an address or host, optionally with :PORT, got `{text}`", span,
                       "e.g. www:80/tcp, 10.0.0.1, host")
            raise _Fail from None


class _ContainerBuilder:
    """Accumulates a container's statements: defaults first, then its own."""

    SINGLE = ("hostname", "net", "address", "mac", "publish_all", "forwarding", "attach")

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

    def single(self, ex: Expander, key: str, value: Any, span: Span) -> None:
        if not self.in_defaults and key in self.own:
            ex.error(f"`{key.replace('_', '-')}` is given twice in container {self.name}", span,
                     f"the first is at line {self.spans[key].line}")
            raise _Fail
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

    def finish(self, ex: Expander) -> Container:
        f, L = self.f, self.lists
        net: Net = f.get("net", Net("none", None, self.span))
        interfaces = list(L.get("interfaces", ()))
        if net.kind == "bridge":
            spans = {"bridge": net.span}
            if "address" in self.spans:
                spans["address"] = self.spans["address"]
            if "mac" in self.spans:
                spans["mac"] = self.spans["mac"]
            interfaces.insert(0, Interface("eth0", "port", bridge=net.target, address=f.get("address"),
                                           mac=f.get("mac"), primary=True, span=net.span, spans=spans))
        else:
            for key in ("address", "mac"):
                if key in f:
                    ex.error(f"`{key}` sets eth0's {key}, which only `net BRIDGE` creates", self.spans[key],
                             f"with net {net.kind}, give the {key} on an `interface` or a `p2p` end")
        return Container(
            name=self.name, hostname=f.get("hostname", self.name), net=net, interfaces=tuple(interfaces),
            dns=tuple(L.get("dns", ())), dns_search=tuple(L.get("dns_search", ())),
            add_hosts=tuple(L.get("add_hosts", ())), expose=tuple(L.get("expose", ())),
            publish=tuple(L.get("publish", ())), publish_all=f.get("publish_all", False),
            links=tuple(L.get("links", ())), run=tuple(L.get("run", ())), routes=tuple(L.get("routes", ())),
            forwarding=f.get("forwarding"), masquerade=tuple(L.get("masquerade", ())),
            sysctls=tuple(L.get("sysctls", ())), shapes=tuple(L.get("shapes", ())), attach=f.get("attach"),
            span=self.span, spans=self.spans)


def expand(tree: Node, file: str, default_name: str, variables: dict[str, int | str] | None = None
           ) -> tuple[Topology, list[Diagnostic]]:
    ex = Expander(file, default_name, variables)
    ex.collect(tree)
    topo = ex.build()
    return topo, ex.diags
