"""`pipenet fmt`: canonical layout, comments kept.

The formatter works on the token stream, not the tree, because the tree has
no comments: one statement per line (`;` becomes a new line), blocks opened
at the end of their statement's line and closed on a line of their own,
four spaces per level, one space between words, `A..B` written tight, at
most one blank line in a row and none just inside a brace, trailing
comments two spaces after their statement. The file must parse first;
formatting does not change what the file means (the tests check the IR).
"""

from __future__ import annotations

from pipenet.errors import InvalidTopology
from pipenet.lang.parser import lexer_only, parse
from pipenet.source import SourceFile

INDENT = "    "


COMMENT_MARK = "\x00"


def _join(words: list[str]) -> str:
    """Words joined by single spaces, except around `..`; a trailing comment marked for alignment."""
    text = ""
    for i, w in enumerate(words):
        if w.startswith("#"):
            text += COMMENT_MARK + w
        elif i == 0 or w == ".." or words[i - 1] == "..":
            text += w
        else:
            text += " " + w
    return text


def _align(lines: list[str]) -> list[str]:
    """Trailing comments of consecutive lines line up, two spaces after the longest code."""
    out: list[str] = []
    group: list[tuple[str, str]] = []

    def flush():
        width = max(len(code) for code, _ in group)
        out.extend(f"{code.ljust(width)}  {comment}" for code, comment in group)
        group.clear()

    for line in lines:
        if COMMENT_MARK in line:
            code, comment = line.split(COMMENT_MARK, 1)
            group.append((code, comment))
            continue
        if group:
            flush()
        out.append(line)
    if group:
        flush()
    return out


def format_text(text: str, file: str = "<text>") -> str:
    tree, diags = parse(text, file)
    if diags or tree is None:
        raise InvalidTopology(diags, {file: SourceFile(file, text)})
    out: list[str] = []
    opened = False  # the last line written opened a block
    cur: list[str] = []
    cur_depth = depth = 0
    must_break = blank = False

    def emit(line: str, at: int, opens: bool = False) -> None:
        nonlocal blank, opened
        if blank and out and out[-1] != "" and not opened and not line.startswith("}"):
            out.append("")
        blank = False
        opened = opens
        out.append(INDENT * at + line)

    def flush() -> None:
        nonlocal cur, must_break
        if cur:
            emit(_join(cur), cur_depth, opens="{" in cur and cur[0] != "}")
        cur = []
        must_break = False

    for tok in lexer_only().lex(text, dont_ignore=True):
        t, v = tok.type, tok.value
        if t == "COMMENT":
            if cur:
                cur.append(v.rstrip())
                must_break = True
            else:
                emit(v.rstrip(), depth)
        elif t == "_NL":
            flush()
            blank = blank or v.count("\n") > 1
        elif t == "SEMICOLON":
            flush()
        elif not v.strip():  # ignored whitespace
            continue
        elif t == "LBRACE":
            if not cur:
                cur_depth = depth
            cur.append("{")
            depth += 1
            must_break = True
        elif t == "RBRACE":
            flush()
            depth = max(0, depth - 1)
            cur, cur_depth, must_break = ["}"], depth, True
        else:
            if must_break:
                flush()
            if not cur:
                cur_depth = depth
            cur.append(v)
    flush()
    while out and out[-1] == "":
        out.pop()
    out = _align(out)
    return "\n".join(out) + "\n" if out else ""
