"""Topology text to a syntax tree, with every syntax error located and worded.

Lark's LALR parser with the contextual lexer runs the tree-building callbacks
inline (no intermediate parse tree), which halves the time on large files.
Statement rules keep their keyword token (`!rule` in the grammar), so every
statement has a position even when it has no other words.

Recovery: after a syntax error the offending line is replaced, in a copy of
the text, by a placeholder statement that keeps the line's braces balanced,
and the text is parsed again, so one run reports many syntax errors. The
placeholder (`_`, an `unknown` statement) is skipped by the expander.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from pipenet.diagnostics import Diagnostic
from pipenet.source import Span

MAX_SYNTAX_ERRORS = 20
PLACEHOLDER = "_"
#: the placeholder of a broken line that opens one block, by the statement it was (its first word):
#: the block's body is then read as that statement's (the grammar's `recovered`, `recovered_part`);
#: statements found at the top level (a loop's body is read as the top level), and a container's
#: `interface`. One where its statement cannot stand becomes the plain one (`parse`)
RECOVERED = {"for": "_pn_top_", "defaults": "_pn_container_", "container": "_pn_container_",
             "bridge": "_pn_bridge_", "p2p": "_pn_p2p_", "host": "_pn_host_", "machine": "_pn_machine_",
             "interface": "_pn_interface_"}
PLACEHOLDERS = frozenset({PLACEHOLDER, *RECOVERED.values()})
_TYPED = frozenset(RECOVERED.values())
_TYPED_RE = re.compile(r"(?m)(?:^|[;{}])[ \t]*(" + "|".join(sorted(_TYPED)) + r")(?![A-Za-z0-9_:/%+*?.\]-])")


_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_FIRST_WORD = re.compile(r"[\s}]*([A-Za-z_][A-Za-z0-9_-]*)")


def _code(line: str) -> str:
    """A line without its strings and its comment: where its braces and its first word are counted."""
    return _STRING.sub("", line).split("#", 1)[0]


def _typed_for(code: str) -> str | None:
    """The typed placeholder of the statement a line's code starts with (`RECOVERED`), or None."""
    first = _FIRST_WORD.match(code)
    return RECOVERED.get(first.group(1)) if first is not None else None


def _plain_placeholder(text: str, line_no: int, word: str) -> str:
    """The typed placeholder `word` on line `line_no` made the plain one (`_`: a block of anything unknown)."""
    lines = text.split("\n")
    if 0 < line_no <= len(lines):
        lines[line_no - 1] = lines[line_no - 1].replace(f" {word} ", f" {PLACEHOLDER} ")
    return "\n".join(lines)


def _opens_typed(text: str, line_no: int) -> bool:
    """Does line `line_no` open a block with its one brace, for a statement that has a typed placeholder
    (`RECOVERED`)? (A line with other braces, `bridge b { external } {`, is mended by dropping the stray.)"""
    lines = text.split("\n")
    if not 0 < line_no <= len(lines):
        return False
    code = _code(lines[line_no - 1])
    return code.count("{") == 1 and "}" not in code and _typed_for(code) is not None


def _reserved(text: str, file: str) -> list[Diagnostic]:
    """A placeholder of the parser's own, written in the file as a statement: an error (the grammar reads
    it as a block whose contents are never checked, which only the parser may put there)."""
    out = []
    for m in _TYPED_RE.finditer(text):
        line = text.count("\n", 0, m.start(1)) + 1
        col = m.start(1) - (text.rfind("\n", 0, m.start(1)) + 1) + 1
        out.append(Diagnostic(f"unknown keyword `{m.group(1)}`", Span(file, line, col, line, col + len(m.group(1))),
                              "pipenet keeps this word for itself: a statement starts with a keyword such as "
                              "container, bridge or for"))
    return out


#: Blocks may nest this deep (loops in loops in containers ...); deeper is an error, not a crash.
MAX_DEPTH = 64


class Node:
    """A syntax-tree node: the grammar rule's name and its children (tokens and nodes)."""

    __slots__ = ("data", "children")

    def __init__(self, data: str, children: list):
        self.data = data
        self.children = children

    def tokens(self):
        """Every token below this node, in order."""
        for c in self.children:
            if isinstance(c, Node):
                yield from c.tokens()
            else:
                yield c

    def first_token(self) -> Token:
        return next(self.tokens())

    def __repr__(self) -> str:
        return f"Node({self.data!r}, {self.children!r})"


class _Build(Transformer):
    def __default__(self, data, children, meta):
        return Node(data, children)


@lru_cache(maxsize=1)
def grammar_text() -> str:
    return resources.files("pipenet").joinpath("grammar/pipenet.lark").read_text()


def _cache_file() -> str | None:
    """Where Lark may keep its grammar analysis: a private (0700, ours) per-user directory.

    Lark's cache is a pickle, so it is never read from a place another user could write.
    """
    import hashlib
    import os

    from pipenet.fsutil import make_private_dir

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = os.path.join(base, "pipenet")
    try:
        make_private_dir(d)
    except OSError:
        return None
    digest = hashlib.sha256(grammar_text().encode()).hexdigest()[:16]
    return os.path.join(d, f"grammar-{digest}.lark-cache")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    cache = _cache_file()
    try:
        return Lark(grammar_text(), parser="lalr", lexer="contextual", transformer=_Build(),
                    maybe_placeholders=False, cache=cache or False)
    except Exception:  # a damaged cache: build without it
        return Lark(grammar_text(), parser="lalr", lexer="contextual", transformer=_Build(),
                    maybe_placeholders=False)


@lru_cache(maxsize=None)
def keywords(rule: str) -> tuple[str, ...]:
    """The keywords that may start a statement of `rule` (`_top`, `_container_stmt`, `_iface_part`, ...), in
    the grammar's order, read from the grammar itself: the first word of each alternative but `unknown`.
    (The expander's did-you-mean and "known here" lists, so a keyword added to the grammar is known there.)"""
    return rule_keywords(_lark(), rule)


def rule_keywords(parser: Lark, rule: str) -> tuple[str, ...]:
    """`keywords`, for any Lark parser."""
    firsts: dict[str, list[str]] = {}
    for r in parser.rules:
        if r.expansion:
            firsts.setdefault(r.origin.name, []).append(r.expansion[0].name)
    literal = {t.name: t.pattern.value for t in parser.terminals if isinstance(t.pattern, PatternStr)}

    def first_word(symbol: str, seen: frozenset) -> str | None:
        if symbol in literal:
            return literal[symbol]
        if symbol in seen or symbol not in firsts:
            return None
        return first_word(firsts[symbol][0], seen | {symbol})

    out = []
    for alternative in firsts.get(rule, ()):
        if alternative in ("unknown", "recovered", "recovered_part"):
            continue
        word = first_word(alternative, frozenset({rule}))
        if word is not None and word not in out:
            out.append(word)
    return tuple(out)


@lru_cache(maxsize=1)
def lexer_only() -> Lark:
    """A plain (non-contextual) lexer over the same terminals, for the formatter."""
    return Lark(grammar_text(), parser="lalr", lexer="basic")


def token_span(tok: Token, file: str, loop=None) -> Span:
    end_line = tok.end_line or tok.line
    end_col = tok.end_column or (tok.column + len(tok.value))
    return Span(file, tok.line, tok.column, end_line, end_col, loop)


# What a terminal is, in words a person knows.
_WORDS = {
    "_NL": "the end of the line",
    "SEMICOLON": "`;`",
    "LBRACE": "an opening {",
    "RBRACE": "a closing }",
    "$END": "the end of the file",
    "STRING": 'a "quoted string"',
    "EQUAL": "`=`",
    "ATTACH_KIND": "pid, netns or docker",
}

# What the word after a keyword should be (each interface kind adds its own, `Kind.after`).
_AFTER = {
    "address": "an address like 10.0.0.1/24",
    "via": "a gateway address like 10.0.0.1",
    "pool": "a network like 172.17.0.0/24",
    "route": "a destination like default or 10.0.0.0/8",
    "mac": "a MAC address like 02:42:ac:11:00:02",
    "mtu": "an MTU like 1500",
    "metric": "a metric like 100",
    "publish": "a port like 8080:80/tcp",
    "expose": "a port like 80/tcp",
    "dns": "a nameserver address like 8.8.8.8",
    "dns-search": "a domain like example.com",
    "hostname": "a hostname like www.example.com",
    "net": "a bridge name, host, none, or container NAME",
    "link": "a container name",
    "bridge": "a bridge name",
    "container": "a container name",
    "topology": "a topology name",
    "icc": "on or off",
    "forwarding": "on or off",
    "masquerade": "on, off, or out IF",
    "delay": "a duration like 50ms",
    "jitter": "a duration like 5ms",
    "loss": "a percentage like 1%",
    "rate": "a rate like 10mbit",
    "p2p": "an interface like node:eth0",
    "--": "an interface like node:eth0",
    "dev": "an interface name like eth0",
    "shape": "an interface name like eth0",
    "interface": "an interface name like eth1",
    "let": "a variable name",
    "for": "a variable name",
    "in": "a range like 1..4",
    "..": "a number",
    "=": "a value",
    "run": 'a command in quotes, like "python3 -m http.server 80"',
    "sysctl": "a setting like net.ipv4.ip_forward",
    "add-host": "a name and an address",
    "expect": "a node name",
    "reach": "a target like www:80/tcp",
    "resolves": "a name like www.example.com",
    "to": "an address",
    "as": "a name or an address",
    "all of": "a glob of node names like c* or web[1-3]",
}


@lru_cache(maxsize=1)
def _after_keywords() -> dict[str, str]:
    from pipenet import kinds  # (only when there is a syntax error to describe)

    return {**_AFTER, **kinds.after_words()}


def _describe_expected(expected: set[str], previous: str | None) -> str:
    exp = set(expected)
    if "WORD" in exp and previous is not None and previous in _after_keywords():
        return _after_keywords()[previous]
    words = []
    if "WORD" in exp:
        words.append("a name or a value")
    for t in sorted(exp):
        if t == "WORD":
            continue
        if t in _WORDS:
            words.append(_WORDS[t])
        elif t.startswith("__") or not t.isupper():
            continue
        else:
            words.append(f"`{t.lower().replace('_', '-')}`")
    words = list(dict.fromkeys(words))
    if not words:
        return "something else"
    if len(words) > 4:
        words = words[:4] + ["..."]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _unclosed_brace(text: str) -> tuple[int, int] | None:
    """(line, column) of the last `{` that no `}` closes, skipping comments and strings."""
    stack: list[tuple[int, int]] = []
    for n, line in enumerate(text.split("\n"), 1):
        code = _STRING.sub(lambda m: " " * len(m.group(0)), line).split("#", 1)[0]
        for col, ch in enumerate(code, 1):
            if ch == "{":
                stack.append((n, col))
            elif ch == "}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _previous_word(line: str, column: int) -> str | None:
    """The word before the error (`all of`, two words, after which a glob is expected)."""
    before = line[: column - 1].split()
    if before[-2:] == ["all", "of"]:
        return "all of"
    return before[-1] if before else None


def _found(e: UnexpectedInput, text: str) -> str:
    if isinstance(e, UnexpectedToken):
        t = e.token
        if t.type == "$END":
            return "the end of the file"
        if t.type == "_NL":
            return "the end of the line"
        return f"`{t.value}`"
    if isinstance(e, UnexpectedCharacters):
        return f"`{text[e.pos_in_stream]}`"
    return "something unexpected"


def _diagnose(e: UnexpectedInput, text: str, file: str) -> Diagnostic:
    lines = text.split("\n")
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        line = len(lines)
        col = len(lines[-1]) + 1
        expected = getattr(e, "expected", None) or {"RBRACE"}
        if "RBRACE" in expected:
            opened = _unclosed_brace(text)
            if opened is not None:
                line, col = opened
            return Diagnostic("this block is never closed: a closing } is missing",
                              Span(file, line, max(col, 1), line, max(col, 1) + 1),
                              "every { needs a matching }")
        return Diagnostic(f"the file ends too early: expected {_describe_expected(expected, None)}",
                          Span(file, line, col, line, col + 1))
    line_no = getattr(e, "line", 1) or 1
    col = getattr(e, "column", 1) or 1
    line = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
    if isinstance(e, UnexpectedToken):
        tok = e.token
        width = len(tok.value) if tok.type != "_NL" else 1
        if tok.type == "_NL":
            col = len(line) + 1
        expected = e.expected
    else:
        width = 1
        expected = set(getattr(e, "allowed", None) or ())
    prev = _previous_word(line, col)
    exp = _describe_expected(expected, prev)
    found = _found(e, text)
    hint = None
    computed = _computed_let(line, col)
    if computed is not None:  # (`let x = 1 + 2`, `let j = i * 2`: arithmetic needs ${...})
        what = f"`{found[1:-1]}`" if found.startswith("`") else found
        return Diagnostic(f"unexpected {what} in the value of `let`", Span(file, line_no, col, line_no, col + width),
                          f"a value is one word, number or string; to compute one, write {computed}")
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream]
        msg = f"unexpected character `{ch}`"
        if ch == '"':  # (a string may hold anything but a line's end: the lexer stops here only when it is open)
            msg = "this string is never closed"
            hint = 'end it with " on the same line (inside, write \\" for a quote)'
        elif ch == "'":
            hint = 'strings use double quotes: "like this"'
        elif ch == "$":
            hint = "interpolation is written ${EXPR}, e.g. h${n}"
        elif ch == "^" and line[max(col - 2, 0):col - 1] == "[":
            hint = "in a glob, [!...] matches any character but those listed: write [!1], not [^1]"
        else:
            hint = f"expected {exp}"
    elif e.token.type == "RBRACE" and "RBRACE" not in expected:
        msg = "unmatched `}`: no block is open here"
        hint = "remove it, or look for a missing { above"
    elif expected & {"_NL", "SEMICOLON", "RBRACE"} and e.token.type not in ("_NL", "SEMICOLON"):
        msg = f"expected the end of the statement, found {found}"
        hint = "a statement ends at a new line or `;`" + (
            "; a block's { must be on the line of its statement" if e.token.type == "LBRACE" else "")
        if e.token.value == "as" and re.search(r"\ball\s+of\b", line):
            hint = "`as` checks the source address of one pair: it does not go with `all of` (write those pairs one by one)"
    else:
        msg = f"expected {exp}, found {found}"
    return Diagnostic(msg, Span(file, line_no, col, line_no, col + width), hint)


_LET = re.compile(r"(?:^|[{;])\s*let\s+([A-Za-z_][A-Za-z0-9_]*)\s*=[ \t]*")
_OPERATOR = re.compile(r"[-+*/%()]")


def _let_before(line: str, col: int):
    """The match of the last `let NAME =` on `line` that ends before column `col` (1-based), or None."""
    m = None
    for found in _LET.finditer(line):
        if found.end() < col:
            m = found
    return m


def broken_lets(text: str, syntax: list[Diagnostic]) -> set[str]:
    """The names of `let` statements the parser could not read (the `let` a syntax error is in, each
    already reported): every use of one would say "unknown variable" of a variable the file defines."""
    lines = text.split("\n")
    out = set()
    for d in syntax:
        m = _let_before(lines[d.span.line - 1], d.span.column) if 0 < d.span.line <= len(lines) else None
        if m is not None:
            out.add(m.group(1))
    return out


def _computed_let(line: str, col: int) -> str | None:
    """`let NAME = ${EXPR}` for a `let` whose value is arithmetic written bare (the error at `col`, in the
    value, on an operator or what follows one), else None."""
    m = _let_before(line, col)
    if m is None:
        return None
    raw = re.split(r'[#;{}"$]', line[m.end():], maxsplit=1)[0]
    value = raw.strip()
    if not value or not _OPERATOR.search(value) or col - 1 >= m.end() + len(raw.rstrip()):
        return None  # (the error is past the value: in a statement after it on the line)
    return f"`let {m.group(1)} = ${{{value}}}`"


def _blank_line(text: str, line_no: int, only_col: int | None = None) -> str:
    """Replace a line by a placeholder statement that keeps its brace balance.

    `}` at the start of the line still close their blocks; the rest of the
    line's net braces are kept as `_ {` (a placeholder block that swallows the
    body of a broken statement) or as trailing `}`.
    """
    lines = text.split("\n")
    if not 0 < line_no <= len(lines):
        return text
    line = lines[line_no - 1]
    if only_col is not None:  # drop a single stray brace
        lines[line_no - 1] = line[: only_col - 1] + " " + line[only_col:]
        return "\n".join(lines)
    code = _code(line)
    lead = len(re.match(r"[\s}]*", code).group(0).replace(" ", "").replace("\t", ""))
    delta = code.count("{") - code.count("}") + lead
    repl = line[: len(line) - len(line.lstrip())] + "}" * lead
    typed = _typed_for(code) if delta == 1 else None
    if typed is not None:
        repl += f" {typed} {{"  # (its body read as the statement's own)
    elif delta > 0:
        repl += f" {PLACEHOLDER}" + " {" * delta
    elif delta < 0:
        repl += " " + "}" * (-delta)
    lines[line_no - 1] = repl
    return "\n".join(lines)


def _too_deep(text: str, file: str) -> Diagnostic | None:
    depth = 0
    for n, line in enumerate(text.split("\n"), 1):
        code = _code(line)
        for col, ch in enumerate(code, 1):
            if ch == "{":
                depth += 1
                if depth > MAX_DEPTH:
                    return Diagnostic(f"blocks nest more than {MAX_DEPTH} deep here", Span(file, n, col, n, col + 1),
                                      "pipenet limits nesting so a generated file cannot exhaust it")
            elif ch == "}":
                depth = max(0, depth - 1)
    return None


def parse(text: str, file: str) -> tuple[Node | None, list[Diagnostic]]:
    """Parse `text`; returns the tree (None if unrecoverable) and the syntax diagnostics."""
    deep = _too_deep(text, file)
    if deep is not None:
        return None, [deep]
    diagnostics: list[Diagnostic] = _reserved(text, file) if "_pn_" in text else []
    seen: set[tuple[int, int]] = set()
    current = text
    for _ in range(2 * MAX_SYNTAX_ERRORS + 2):
        try:
            tree = _lark().parse(current)
            return tree, diagnostics
        except UnexpectedInput as e:
            if isinstance(e, UnexpectedToken) and e.token.value in _TYPED:
                # a placeholder of ours where its statement cannot be (a broken `container` line inside a
                # block left open above it): the plain one there instead, and nothing said of it
                current = _plain_placeholder(current, e.token.line, e.token.value)
                continue
            d = _diagnose(e, current, file)
            key = (d.span.line, d.span.column)
            if key in seen:
                return None, diagnostics
            seen.add(key)
            diagnostics.append(d)
            if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
                return None, diagnostics
            if len(diagnostics) >= MAX_SYNTAX_ERRORS:
                return None, diagnostics
            stray = isinstance(e, UnexpectedToken) and e.token.type in ("RBRACE", "LBRACE")
            if stray and e.token.type == "LBRACE" and _opens_typed(current, d.span.line):
                stray = False  # (a block its statement does not take here: read as that statement's body)
            current = _blank_line(current, d.span.line, d.span.column if stray else None)
    return None, diagnostics
