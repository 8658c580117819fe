"""`machine NAME { ssh [USER@]HOST; underlay ADDR; pipenet "PATH" }` (docs/multi-host.md).

What is read here is passed to ssh and run on another machine, so every word
is checked against a narrow shape first: a user and host of letters, digits,
`.`, `-`, `_` (and `:` in an IPv6 address), never an option (`-oProxyCommand=`)
and never anything a remote shell would read; a program path of the same
characters and `/`.
"""

from __future__ import annotations

import re
from typing import Any

from pipenet.ir import Machine
from pipenet.lang import values as V
from pipenet.lang.parser import Node, keywords
from pipenet.lang.walk import Fail, Scope, Walker, subnodes, value_token, words
from pipenet.source import Span

#: [USER@]HOST as ssh is given it: a user, a host name or an IPv4/IPv6 address; nothing that starts with `-`
SSH_DEST = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}@)?[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}\Z")
#: the remote pipenet: an absolute path or a bare program name, of plain characters
PROGRAM = re.compile(r"(?:/[A-Za-z0-9_.+-]+)+\Z|[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z")


def machine(w: Walker, st: Node, sc: Scope) -> Machine:
    tok = words(st)[0]
    name = w.typed(tok, sc, V.name, "machine name")
    f: dict[str, Any] = {"name": name, "span": w.span(tok, sc)}
    spans: dict[str, Span] = {"name": w.span(tok, sc)}
    for s in subnodes(st):
        try:
            _statement(w, s, sc, f, spans)
        except Fail:
            pass
    return Machine(**f, spans=spans)


def _statement(w: Walker, s: Node, sc: Scope, f: dict, spans: dict) -> None:
    kind = s.data
    if kind == "ssh":
        tok = [c for c in s.children if getattr(c, "type", None) == "SSH_DEST"] or [value_token(s)]
        text = tok[0].value if tok[0].type == "SSH_DEST" else w.text(tok[0], sc)
        sp = w.span(tok[0], sc)
        if not SSH_DEST.match(text):
            w.error(f"`{text[:60]}` is not a [USER@]HOST ssh can be given", sp,
                    "write it like root@10.50.0.11 or m1.example.net (options go in your ssh configuration)")
            raise Fail
        w.set_once(f, spans, "ssh", text, sp, "ssh")
    elif kind == "underlay":
        t = words(s)[0]
        w.set_once(f, spans, "underlay", w.typed(t, sc, V.ip), w.span(t, sc), "underlay")
    elif kind == "pipenet_path":
        t = value_token(s)
        text, sp = w.text(t, sc), w.span(t, sc)
        if not PROGRAM.match(text):
            w.error(f"`{text[:60]}` is not a program path pipenet can run over ssh", sp,
                    'give an absolute path like "/opt/pipenet/.venv/bin/pipenet"')
            raise Fail
        w.set_once(f, spans, "pipenet", text, sp, "pipenet")
    elif kind == "unknown":
        w.unknown(s, sc, "in a machine", keywords("_machine_stmt"))
