"""Highlighting (docs/editors.md): the Pygments lexer (pipenet/highlight.py) and the TextMate grammar
(editors/pipenet.tmLanguage.json) read every topology of the project (examples, the docs' ```pipenet
blocks, the tests' files) without an error, class words as a reader would, know every keyword of the
grammar and colour a file alike."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import re
import string
import textwrap

import onigurumacffi
import pygments.lexers
import pytest
from lark import Lark
from lark.lexer import PatternRE, PatternStr
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String

from pipenet.highlight import WORD_CHAR, PipenetLexer, grammar_text, language
from tests.textmate import TextMate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMLANGUAGE = os.path.join(ROOT, "editors", "pipenet.tmLanguage.json")
DOCS = [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
FENCE = re.compile(r"^([ \t]*)```(\w*)\n(.*?)^[ \t]*```", re.M | re.S)


def _tmlanguage_tool():
    spec = importlib.util.spec_from_file_location("tmlanguage", os.path.join(ROOT, "tools", "tmlanguage.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _tmlanguage_tool()


def doc_blocks(tag: str) -> list[tuple[str, str]]:
    """(where, text) of every fenced block marked `tag` in README.md and docs/*.md."""
    out = []
    for path in DOCS:
        text = open(path).read()
        for m in FENCE.finditer(text):
            if m.group(2) == tag:
                line = text[:m.start()].count("\n") + 1
                out.append((f"{os.path.relpath(path, ROOT)}:{line}", textwrap.dedent(m.group(1) + m.group(3))))
    return out


def topologies() -> list[tuple[str, str]]:
    files = sorted(glob.glob(os.path.join(ROOT, "examples", "*.pn")) +
                   glob.glob(os.path.join(ROOT, "tests", "**", "*.pn"), recursive=True))
    return [(os.path.relpath(f, ROOT), open(f).read()) for f in files] + doc_blocks("pipenet")


TOPOLOGIES = topologies()


def tokens(text: str) -> list[tuple]:
    return [t for t in PipenetLexer().get_tokens(text) if t[1].strip()]


def token_of(text: str, value: str):
    return next(kind for kind, v in tokens(text) if v == value)


@pytest.fixture(scope="module")
def textmate() -> TextMate:
    return TextMate(json.load(open(TMLANGUAGE)))


def scope_at(textmate: TextMate, text: str, value: str) -> tuple[str, ...]:
    return textmate.scopes(text)[0][text.index(value)]


# ---- the Pygments lexer ---------------------------------------------------------------------------------------

def test_pygments_finds_the_lexer_by_its_entry_point():
    from importlib.metadata import entry_points
    (point,) = [e for e in entry_points(group="pygments.lexers") if e.name == "pipenet"]
    assert point.value == "pipenet.highlight:PipenetLexer"
    for alias in ("pipenet", "pn"):
        assert isinstance(pygments.lexers.get_lexer_by_name(alias), PipenetLexer)
    assert isinstance(pygments.lexers.get_lexer_for_filename("fopnp.pn"), PipenetLexer)


def test_the_docs_mark_their_topologies_and_there_are_many():
    assert len(doc_blocks("pipenet")) >= 20 and len(TOPOLOGIES) >= 30
    keywords = set(language()["keywords"])
    for where, block in doc_blocks(""):
        lines = [ln.split()[0] for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        synopsis = "[" in block or "..." in block  # `bridge NAME [{ ... }]`: a form's outline, not a topology
        assert synopsis or not all(w in keywords or w == "}" for w in lines), f"{where}: mark it ```pipenet"


@pytest.mark.parametrize("where,text", TOPOLOGIES, ids=[w for w, _ in TOPOLOGIES])
def test_every_topology_lexes_without_an_error_token(where, text):
    out = list(PipenetLexer().get_tokens(text))
    assert [v for kind, v in out if kind in Error] == []
    assert "".join(v for _, v in out).rstrip("\n") == text.rstrip("\n")


def test_words_are_typed_as_a_reader_would():
    text = ('let n = 3   # three\nbridge br0 { address 10.0.0.1/24; icc off }\n'
            'container h${n} { mac 02:42:ac:11:00:02; publish 8080:80/tcp; run "echo \\"${n}\\" \\d" }\n'
            'p2p host:pn0 fd00::1/64 -- h3:eth1 192.168.1.${10 + n}/24 { delay 50ms; loss 1%; rate 10mbit }\n'
            'for i in 1..4 { expect h${i} can reach www:80/tcp }\nroute default via 10.0.0.1\n')
    assert token_of(text, "let") is Keyword.Declaration
    assert token_of(text, "bridge") is Keyword and token_of(text, "expect") is Keyword
    assert token_of(text, "off") is Keyword.Constant
    assert token_of(text, "# three") is Comment.Single
    assert token_of(text, "10.0.0.1/24") is Number.Address and token_of(text, "fd00::1/64") is Number.Address
    assert token_of(text, "192.168.1.") is Number.Address  # the written part of an interpolated address
    assert token_of(text, "02:42:ac:11:00:02") is Number.Mac
    assert token_of(text, "8080:80/tcp") is Number.Port and token_of(text, "80/tcp") is Number.Port
    assert (token_of(text, "50ms"), token_of(text, "1%"), token_of(text, "10mbit")) == (
        Number.Duration, Number.Percentage, Number.Rate)
    assert [kind for kind, _ in tokens("container h${n}")] == [
        Keyword, Name, String.Interpol, Name.Variable, String.Interpol]
    assert [kind for kind, v in tokens(text) if v == "+"] == [Operator]
    assert token_of(text, "10") is Number.Integer
    assert token_of(text, '\\"') is String.Escape and token_of(text, "\\d") is String.Double
    assert token_of(text, "host") is Name.Builtin and token_of(text, "eth1") is Name.Attribute
    assert token_of(text, "--") is Operator and token_of(text, "..") is Operator
    assert token_of(text, "{") is Punctuation and token_of(text, "default") is Name.Builtin
    assert token_of(text, "br0") is Name


UNREADABLE = 'container a { run "unterminated }\nbridge b@c'


def test_only_what_the_parser_cannot_read_is_an_error():
    assert [v for kind, v in tokens(UNREADABLE) if kind in Error] == ['"', "@"]


# ---- the grammar is the source of the keywords ----------------------------------------------------------------

def lark_terminals():
    return Lark(grammar_text(), parser="lalr", lexer="contextual").terminals


def test_the_lexer_knows_every_word_of_the_grammar_as_lark_reads_it():
    words = set()
    for t in lark_terminals():
        if isinstance(t.pattern, PatternStr) and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", t.pattern.value):
            words.add(t.pattern.value)
        elif isinstance(t.pattern, PatternRE) and (m := re.fullmatch(r"\(\?:([A-Za-z|-]+)\)", t.pattern.value)):
            words.update(m.group(1).split("|"))  # ATTACH_KIND: "pid" | "netns" | "docker"
    assert words == set(language()["keywords"])
    for word in words:
        assert token_of(word, word) in Keyword, word


def test_the_lexer_reads_words_strings_and_comments_with_the_grammars_own_terminals():
    by_name = {t.name: t.pattern.value for t in lark_terminals()}
    for name, key in (("WORD", "word"), ("STRING", "string"), ("COMMENT", "comment")):
        as_lark_reads_it = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(), language()[key])
        assert as_lark_reads_it == by_name[name], name  # Lark reads `\n` in a /regex/ as a newline
    word = re.compile(by_name["WORD"])
    for c in string.printable:
        assert bool(word.fullmatch(f"a{c}a")) == bool(re.fullmatch(f"(?:{WORD_CHAR})", c)), repr(c)


# ---- the TextMate grammar ------------------------------------------------------------------------------------

def test_the_textmate_grammar_is_what_the_tool_writes():
    assert open(TMLANGUAGE).read() == TOOL.text(), "run .venv/bin/python tools/tmlanguage.py"


def test_the_textmate_grammar_is_well_formed(textmate):
    grammar = textmate.grammar
    assert (grammar["scopeName"], grammar["fileTypes"], grammar["name"]) == ("source.pipenet", ["pn"], "pipenet")
    assert textmate.unsupported() == set()
    regexes = []

    def walk(rule):
        regexes.extend(rule[k] for k in ("match", "begin", "end") if k in rule)
        for p in rule.get("patterns", ()):
            walk(p)
    for rule in [*grammar["patterns"], *grammar["repository"].values()]:
        walk(rule)
    assert len(regexes) > 20
    for regex in regexes:
        onigurumacffi.compile(regex)  # the editors' engine
        re.compile(regex)  # and Python's, which the lexer shares the patterns with
    package = json.load(open(os.path.join(ROOT, "editors", "package.json")))
    (contributed,) = package["contributes"]["grammars"]
    assert contributed["scopeName"] == "source.pipenet"
    assert os.path.exists(os.path.join(ROOT, "editors", contributed["path"]))
    assert package["contributes"]["languages"][0]["extensions"] == [".pn"]


def test_the_textmate_grammar_knows_every_keyword(textmate):
    for word in language()["keywords"]:
        (scopes,) = {s for s in textmate.scopes(word)[0]}
        assert scopes[-1].split(".")[0] in ("keyword", "constant", "storage"), (word, scopes)


@pytest.mark.parametrize("where,text", TOPOLOGIES, ids=[w for w, _ in TOPOLOGIES])
def test_the_textmate_grammar_gives_every_word_a_scope(textmate, where, text):
    for n, (line, chars) in enumerate(zip(text.split("\n"), textmate.scopes(text)), 1):
        bare = [c for c, s in zip(line, chars) if len(s) == 1 and not c.isspace()]
        assert bare == [], f"{where}, line {n}: {line}"
        invalid = [s for s in chars if any(x.startswith("invalid.") for x in s)]
        assert not invalid or "# error" in line, f"{where}, line {n}: {line}"  # a doc's deliberate mistake


def test_the_textmate_grammar_scopes_what_a_reader_sees(textmate):
    text = 'bridge br0 { address 10.0.0.1/24 }   # a "switch"\n'
    assert scope_at(textmate, text, "bridge")[-1] == "keyword.other.pipenet"
    assert scope_at(textmate, text, "10.0.0.1/24")[-1] == "constant.numeric.address.pipenet"
    assert scope_at(textmate, text, "# a")[-1] == "comment.line.number-sign.pipenet"
    text = 'container h${n} { run "echo \\"${n}\\" \\d" }'
    scopes = textmate.scopes(text)[0]
    assert scopes[text.index("${")][-1] == "punctuation.section.interpolation.begin.pipenet"
    assert scopes[text.index("${") + 2][-1] == "variable.other.readwrite.pipenet"
    assert scopes[text.index("echo")][-1] == "string.quoted.double.pipenet"
    assert scopes[text.index('\\"')][-1] == "constant.character.escape.pipenet"
    assert scopes[text.index("\\d")][-1] == "invalid.illegal.escape.pipenet"
    first, second = textmate.scopes(UNREADABLE)
    assert first[UNREADABLE.index('"')][-1] == "invalid.illegal.unterminated-string.pipenet"
    assert second["bridge b@c".index("@")][-1] == "invalid.illegal.character.pipenet"
    text = "p2p host:pn0 10.9.0.1/30 -- web:eth1 10.9.0.2/30"
    scopes = textmate.scopes(text)[0]
    assert [scopes[text.index(w)][-1] for w in ("host", "pn0", "--", "web", "eth1")] == [
        "support.constant.pipenet", "entity.other.attribute-name.interface.pipenet",
        "keyword.operator.link.pipenet", "variable.other.node.pipenet",
        "entity.other.attribute-name.interface.pipenet"]


def pygments_scope(kind) -> str | None:
    """The TextMate scope the tool gives a keyword or value the lexer types as `kind` (a name's scope tells
    what kind of name it is, which the lexer does not)."""
    if kind in Keyword or kind is Name.Builtin:
        return TOOL.scope(TOOL.WORD_SCOPES[kind])
    return TOOL.numeric(kind) if kind in Number else None


@pytest.mark.parametrize("where,text", TOPOLOGIES, ids=[w for w, _ in TOPOLOGIES])
def test_an_editor_and_the_docs_colour_whole_words_alike(textmate, where, text):
    lines = textmate.scopes(text)
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    at, out = 0, list(PipenetLexer().get_tokens(text))
    for i, (kind, value) in enumerate(out):
        whole = not any("${" in v or v == "}" for _, v in out[max(i - 1, 0):i + 2])  # not a piece of a ${} word
        expected = pygments_scope(kind)
        if expected and whole and "\n" not in value:
            row = next(n for n in range(len(starts)) if starts[n + 1] > at)
            assert lines[row][at - starts[row]][-1] == expected, (where, value, kind)
        at += len(value)
