"""The program part of the language: scopes, `let`, `for`, `${}` interpolation, typed values.

The first of the expander's two walks (`pipenet.lang.expand`). It evaluates
`let` (top-level variables lazily, so they may be used before they are
written, with cycles reported), unrolls `for` loops (each iteration a fresh
scope, with a budget so a huge loop is an error rather than a hang) and
records every declaration with the scope it was made in, for the statement
builders (`pipenet.lang.statements`) to turn into IR. It is also what those
builders read tokens through: `text` (interpolated), `typed` (a value of
`pipenet.lang.values`, or a located diagnostic) and `span`. Problems become
diagnostics; the walk always goes on, so every error is reported.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from lark import Token

from pipenet.diagnostics import Diagnostic, did_you_mean
from pipenet.lang import values as V
from pipenet.lang.arith import ArithError, evaluate
from pipenet.lang.parser import PLACEHOLDERS, Node, keywords
from pipenet.source import LoopFrame, Span

#: At most this many loop iterations in one file (nested loops multiply).
MAX_ITERATIONS = 200_000

_INTERP = re.compile(r"\$\{([^}\n]*)\}")
#: The escapes a string knows (docs/language.md); any other backslash is an error.
ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_STRING_PART = re.compile(r"\\(.)|\$\{([^}\n]*)\}")

#: Top-level statements, by grammar rule, to the builder's list they go to (the rest are the walk's own).
DECLARATIONS = {"bridge": "bridge", "container": "container", "p2p": "p2p", "defaults": "defaults",
                "host_block": "host", "machine": "machine"}


def _loop_bound(text: str, what: str, low: int, high: int) -> int:
    """A loop's bound; one written as a bare name (`1..n`) is told how to use a variable there."""
    try:
        return V.integer(text, what, low, high)
    except V.BadValue as e:
        if text.isidentifier():  # (a name alone: not `n-1`)
            raise V.BadValue(str(e), f"a whole number, or ${{{text}}} for the variable `{text}`") from None
        raise


class Fail(Exception):
    """A value could not be made; the diagnostic is already recorded."""


class Scope:
    """Variables visible to one statement: loop variables and loop-local lets, over the top-level lets."""

    __slots__ = ("vars", "loop")

    def __init__(self, vars: dict[str, Any], loop: LoopFrame | None):
        self.vars = vars
        self.loop = loop


# ---- the syntax tree ----------------------------------------------------------------------------
def words(node: Node) -> list[Token]:
    """A statement's own value tokens (WORD and STRING), in order."""
    return [c for c in node.children if isinstance(c, Token) and c.type in ("WORD", "STRING")]


def subnodes(node: Node) -> list[Node]:
    """A statement's parts and a block's statements."""
    return [c for c in node.children if isinstance(c, Node)]


def value_token(node: Node) -> Token:
    """The token of a `value` child (WORD or STRING)."""
    for c in node.children:
        if isinstance(c, Node) and c.data == "value":
            return c.children[0]
    return words(node)[-1]


class Walker:
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
            "bridge": [], "container": [], "p2p": [], "expect": [], "host": [], "defaults": [], "machine": []}

    # ---- diagnostics and spans ---------------------------------------------------------
    def span(self, tok: Token, scope: Scope | None = None) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line or tok.line,
                    tok.end_column or tok.column + len(tok.value), scope.loop if scope else None)

    def node_span(self, node: Node, scope: Scope | None) -> Span:
        toks = list(node.tokens())
        return self.span(toks[0], scope).to(self.span(toks[-1], scope))

    def error(self, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(message, span, hint))

    def safe(self, fn, *args):
        """fn(*args), or None when it failed (its diagnostic is recorded)."""
        try:
            return fn(*args)
        except Fail:
            return None

    def set_once(self, f: dict, spans: dict, key: str, value: Any, span: Span, what: str) -> None:
        """f[key] = value, unless the statement gave `what` already (then an error, and Fail)."""
        if key in spans and key in f:
            self.error(f"`{what}` is given twice", span, f"the first is at line {spans[key].line}")
            raise Fail
        f[key] = value
        spans[key] = span

    def unknown(self, st: Node, scope: Scope, where: str, keywords: tuple[str, ...]) -> None:
        """An `unknown` statement: an unknown keyword, with a did-you-mean among those known here."""
        tok = st.children[0]
        if tok.value in PLACEHOLDERS:  # (a broken line's: its error is said)
            return
        hint = did_you_mean(tok.value, keywords) or "known here: " + ", ".join(keywords)
        self.error(f"unknown keyword `{tok.value}` {where}", self.span(tok, scope), hint)

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
                raise Fail from None
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
            raise Fail from None

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
                raise Fail
        out.append(raw[pos:len(raw) - 1])
        return "".join(out)

    def typed(self, tok: Token, scope: Scope, parse: Callable[[str], Any], *args) -> Any:
        """The token's value as `parse` reads it (`pipenet.lang.values`), or a located error and Fail."""
        text = self.text(tok, scope)
        try:
            return parse(text, *args)
        except V.BadValue as e:
            self.error(str(e), self.span(tok, scope), e.hint)
            raise Fail from None

    # ---- the walk: program structure ---------------------------------------------------------
    def collect(self, tree: Node) -> None:
        root = Scope({}, None)
        for st in tree.children:
            if isinstance(st, Node) and st.data == "let":
                w = words(st)
                name_tok, val_tok = w[0], value_token(st)
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
            except Fail:
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
                        w = words(st)
                        scope.vars[w[0].value] = self.let_value(value_token(st), scope)
                elif kind == "for_loop":
                    self.unroll(st, scope)
                elif kind == "topology":
                    self.topology.append((st, scope))
                elif kind == "hosts_auto":
                    w = words(st)[0]
                    if self.text(w, scope) != "auto":
                        self.error(f"expected `hosts auto`, found `hosts {w.value}`", self.span(w, scope),
                                   "the only form is `hosts auto`")
                    self.hosts_auto = True
                elif kind in DECLARATIONS:
                    self.records[DECLARATIONS[kind]].append((st, scope))
                elif kind.startswith("expect_"):
                    self.records["expect"].append((st, scope))
                elif kind == "unknown":
                    self.unknown(st, scope, "at the top level", keywords("_top"))
            except Fail:
                pass

    def unroll(self, st: Node, scope: Scope) -> None:
        var_tok, lo_tok, hi_tok = words(st)[:3]
        body = subnodes(st)
        lo = self.typed(lo_tok, scope, _loop_bound, "a loop bound", 0, 10**12)
        hi = self.typed(hi_tok, scope, _loop_bound, "a loop bound", 0, 10**12)
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
