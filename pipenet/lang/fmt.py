"""`pipenet fmt`: canonical layout, comments kept.

The formatter works on the token stream, not the tree, because the tree has
no comments: one statement per line (`;` becomes a new line), blocks opened
at the end of their statement's line and closed on a line of their own,
four spaces per level, one space between words, `A..B` written tight, at
most one blank line in a row and none just inside a brace, trailing
comments two spaces after their statement. A block written on one line
stays on one line (`container web { net docker0; hostname x }`, statements
joined by `; `) when it holds no block and no comment and fits in
MAX_WIDTH columns; any other block is laid out over several lines. The file
must parse first; formatting does not change what the file means (the tests
check the IR).
"""

from __future__ import annotations

from pipenet.errors import InvalidTopology
from pipenet.lang.parser import lexer_only, parse
from pipenet.source import SourceFile

INDENT = "    "
#: A one-line block stays on one line when the line, indented, is at most this wide.
MAX_WIDTH = 100


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


def _one_line_blocks(tokens: list) -> dict[int, int]:
    """{index of `{`: index of its `}`} for blocks opened and closed on one line with no block or comment inside."""
    out: dict[int, int] = {}
    stack: list[tuple[int, bool]] = []  # (index of `{`, still a one-line candidate)
    for n, tok in enumerate(tokens):
        if tok.type == "LBRACE":
            if stack:
                stack[-1] = (stack[-1][0], False)  # a block inside
            stack.append((n, True))
        elif tok.type == "RBRACE" and stack:
            start, ok = stack.pop()
            if ok and tokens[start].line == tok.line:
                out[start] = n
        elif tok.type in ("COMMENT", "_NL") and stack:
            stack[-1] = (stack[-1][0], False)
    return out


def _block_line(head: list[str], inner: list) -> str:
    """`HEAD { a; b }` from the head's words and the block's tokens."""
    statements, words = [], []
    for tok in inner:
        if tok.type == "SEMICOLON":
            if words:
                statements.append(_join(words))
            words = []
        elif tok.value.strip():
            words.append(tok.value)
    if words:
        statements.append(_join(words))
    body = "{ " + "; ".join(statements) + " }" if statements else "{}"
    return _join(head + [body])


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

    tokens = list(lexer_only().lex(text, dont_ignore=True))
    one_line = _one_line_blocks(tokens)
    skip_to = -1
    for n, tok in enumerate(tokens):
        if n <= skip_to:
            continue
        t, v = tok.type, tok.value
        if t == "LBRACE" and n in one_line:
            line = _block_line(cur if cur else [], tokens[n + 1:one_line[n]])
            at = cur_depth if cur else depth
            if len(INDENT * at + line) <= MAX_WIDTH:
                cur, cur_depth, must_break = [line], at, True
                skip_to = one_line[n]
                continue
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
