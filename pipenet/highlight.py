"""Syntax highlighting of `.pn` files for Pygments (Sphinx, MkDocs, `pygmentize`).

Registered under the alias `pipenet` by the `pygments.lexers` entry point in pyproject.toml, so a
documentation tool finds it once pipenet is installed. The lexer reads the language from the grammar
itself (pipenet/grammar/pipenet.lark, the source of truth): the keywords are the grammar's word
literals and a value, a string and a comment are matched by the grammar's own WORD, STRING and COMMENT
terminals, so a keyword added to the grammar is highlighted with no change here.

A value (every name, address, MAC, port, duration, ...) is one WORD for the parser, typed later; here it
is typed by its look, as a reader would (a word can be a keyword in one place and a name in another,
which a highlighter cannot tell apart, so a keyword always looks like one). The only errors shown are
those of the parser's lexer: an escape pipenet refuses (`\\d`) or arithmetic it cannot do stays plain
string or text, since `pipenet check` reports them with a location, and Sphinx drops the highlighting
of a whole block that has an error token.

It imports nothing of pipenet (it reads the grammar file), so pygments may load it in any program.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from pygments.lexer import RegexLexer, bygroups
from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation, String, Text,
                            Whitespace)

#: What a value looks like, tried in this order on a whole word (without `${}`).
MAC = r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}"
IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?"
IPV6 = r"(?=[0-9A-Fa-f:.]*::|(?:[0-9A-Fa-f]{1,4}:){7})[0-9A-Fa-f:.]+(?:/\d{1,3})?"
PORT = r"(?:(?:\d{1,3}(?:\.\d{1,3}){3})?:)?(?:\d*:)?\d+/(?:tcp|udp|sctp)|(?:\d{1,3}(?:\.\d{1,3}){3})?:\d*:\d+|\d+:\d+"
DURATION = r"\d+(?:\.\d+)?(?:us|ms|s|m)"
RATE = r"\d+(?:\.\d+)?[kmgt]?(?:bit|bps)"
PERCENTAGE = r"\d+(?:\.\d+)?%"
NODE_PART = r"[A-Za-z_](?:[A-Za-z0-9_-]|\.(?!\.))*"
#: The characters that may continue a WORD of the grammar (where a word ends, for the TextMate grammar,
#: which matches values by pattern; tests/test_highlight.py checks it against the grammar's WORD).
WORD_CHAR = r"[A-Za-z0-9_:/%+*?\[\]-]|\.(?!\.)"  # (`*?[]`: a glob of node names, `all of c*`)
#: The port or the interface after `NODE:` (`www:80/tcp`, `backbone:eth0`).
PORT_PART = r"\d+(?:/(?:tcp|udp|sctp))?"
IF_PART = r"[A-Za-z0-9_.-]+"
#: Words that are values with a meaning of their own (`net none`, `route default`, `address auto`).
BUILTINS = ("none", "default", "auto")
SWITCHES = ("on", "off", "yes", "no", "true", "false")

VALUE_TYPES = (
    (MAC, Number.Mac), (IPV4, Number.Address), (IPV6, Number.Address), (PORT, Number.Port),
    (DURATION, Number.Duration), (RATE, Number.Rate), (PERCENTAGE, Number.Percentage),
    (r"\d+", Number.Integer), (r"\d+\.\d+", Number.Float),
)
_NODE_REF = re.compile(rf"({NODE_PART})(:)({PORT_PART}|{IF_PART})\Z")
_EXPRESSION = re.compile(r"(?P<ws>\s+)|(?P<num>\d+)|(?P<var>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/%])"
                         r"|(?P<paren>[()])|(?P<other>.)")
_EXPRESSION_TOKENS = {"ws": Whitespace, "num": Number.Integer, "var": Name.Variable, "op": Operator,
                      "paren": Punctuation, "other": Text}


def grammar_text() -> str:
    return resources.files("pipenet").joinpath("grammar/pipenet.lark").read_text()


def grammar_literals(text: str) -> list[str]:
    """Every quoted literal of a Lark grammar, in order, read the way Lark's own lexer reads a grammar:
    `// comments` and `/regular expressions/` are skipped, so the quotes inside STRING's pattern are not
    taken for literals."""
    literals = []
    for m in re.finditer(r'//[^\n]*|/(?:\\.|[^/\\\n])+/[imslux]*|"((?:\\.|[^"\\\n])*)"', text):
        if m.group(1) is not None:
            literals.append(m.group(1))
    return literals


def grammar_terminal(text: str, name: str) -> str:
    """The regular expression of the grammar's terminal `name` (`WORD: /.../`)."""
    m = re.search(rf"^{name}(?:\.\d+)?:\s*/((?:\\.|[^/\\\n])+)/[imslux]*\s*$", text, re.M)
    if m is None:
        raise LookupError(f"the grammar has no terminal {name} written as /regex/")
    return m.group(1)


@lru_cache(maxsize=1)
def language() -> dict:
    """The keywords, punctuation and terminals of the grammar that the highlighters need."""
    text = grammar_text()
    literals = [w for w in grammar_literals(text) if not w.startswith("_pn_")]  # (the parser's own: `recovered`)
    keywords = sorted({w for w in literals if re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", w)})
    symbols = sorted({s for s in literals if s not in keywords}, key=lambda s: (-len(s), s))
    return {"keywords": keywords, "symbols": symbols,
            "word": grammar_terminal(text, "WORD"), "string": grammar_terminal(text, "STRING"),
            "comment": grammar_terminal(text, "COMMENT"), "interpolation": grammar_terminal(text, "_INTERP"),
            "ssh": grammar_terminal(text, "SSH_DEST")}


def word_type(word: str):
    """The token type of a whole word without `${}` (a NODE:IF reference is split by the caller)."""
    if word in SWITCHES:
        return Keyword.Constant
    if word == "let":
        return Keyword.Declaration
    if word in language()["keywords"]:
        return Keyword
    if word in BUILTINS:
        return Name.Builtin
    for pattern, token in VALUE_TYPES:
        if re.fullmatch(pattern, word):
            return token
    return Name


def _expression(start: int, text: str):
    """The tokens of a `${...}` interpolation starting at `start`."""
    yield start, String.Interpol, "${"
    body = text[2:-1]
    for m in _EXPRESSION.finditer(body):
        yield start + 2 + m.start(), _EXPRESSION_TOKENS[m.lastgroup], m.group()
    yield start + len(text) - 1, String.Interpol, "}"


def _word(lexer, match):
    """A WORD of the grammar: typed whole, split at its `:` when a NODE:IF, or around each `${}`."""
    start, word = match.start(), match.group()
    interpolation = language()["interpolation"]
    if "${" not in word:
        ref = _NODE_REF.match(word)
        if ref and word_type(word) is Name:
            node, _, part = ref.groups()
            yield start, Name.Builtin if node == "host" else Name, node
            yield start + len(node), Punctuation, ":"
            yield start + len(node) + 1, Name.Attribute if not part[0].isdigit() else Number.Port, part
        else:
            yield start, word_type(word), word
        return
    # A word with ${}: its written parts take the type of the word with each ${} read as 1
    # (`192.168.1.${10 + n}/24` is an address), or Name when that says nothing.
    sample = word_type(re.sub(interpolation, "1", word))
    written = sample if sample in Number or sample is Name.Builtin else Name
    at = 0
    for m in re.finditer(interpolation, word):
        if m.start() > at:
            yield start + at, written, word[at:m.start()]
        yield from _expression(start + m.start(), m.group())
        at = m.end()
    if at < len(word):
        yield start + at, written, word[at:]


@lru_cache(maxsize=1)
def _string_pieces() -> re.Pattern:
    """A string's escapes pipenet knows, its interpolations, and the rest (a refused escape is plain)."""
    return re.compile(rf'(?P<escape>\\[\\"nt])|(?P<interp>{language()["interpolation"]})|(?P<plain>\\.|[^\\$]+|\$)')


def _string(lexer, match):
    start, text = match.start(), match.group()
    yield start, String.Double, '"'
    for m in _string_pieces().finditer(text, 1, len(text) - 1):
        if m.lastgroup == "interp":
            yield from _expression(start + m.start(), m.group())
        else:
            yield start + m.start(), String.Escape if m.lastgroup == "escape" else String.Double, m.group()
    yield start + len(text) - 1, String.Double, '"'


def _symbol(lexer, match):
    yield match.start(), Punctuation if match.group() in ("{", "}", ";") else Operator, match.group()


class PipenetLexer(RegexLexer):
    """The pipenet topology language (`.pn`)."""

    name = "pipenet"
    aliases = ["pipenet", "pn"]
    filenames = ["*.pn"]
    mimetypes = ["text/x-pipenet"]

    tokens = {
        "root": [
            (r"[ \t\f\r\n]+", Whitespace),
            (language()["comment"], Comment.Single),
            (language()["string"], _string),
            # a machine's ssh destination (`ssh root@10.50.0.11`): USER@HOST is a word only there
            (rf'(ssh)([ \t]+)({language()["ssh"]})', bygroups(Keyword, Whitespace, Name.Label)),
            (language()["word"], _word),
            ("|".join(re.escape(s) for s in language()["symbols"]), _symbol),
        ],
    }
