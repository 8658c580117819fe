"""`machine NAME { ssh [USER@]HOST; underlay ADDR; pipenet "PATH" }` (docs/multi-host.md).

What is read here is passed to ssh and run on another machine, so every word
is checked against a narrow shape first: a user and host of letters, digits,
`.`, `-`, `_` (and `:` in an IPv6 address), never an option (`-oProxyCommand=`)
and never anything a remote shell would read; a program path of the same
characters and `/`.
"""

from __future__ import annotations

import re

from pipenet.ir import Machine
from pipenet.lang import values as V
from pipenet.lang.parser import Node, keywords
from pipenet.lang.statements import common
from pipenet.lang.walk import Fail, Scope, Walker, value_token, words

#: [USER@]HOST as ssh is given it: a user, a host name or an IPv4/IPv6 address; nothing that starts with `-`
SSH_DEST = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}@)?[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}\Z")
#: the remote pipenet: an absolute path or a bare program name, of plain characters
PROGRAM = re.compile(r"(?:/[A-Za-z0-9_.+-]+)+\Z|[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z")


def machine(w: Walker, st: Node, sc: Scope) -> Machine:
    f, spans = common.named_block(w, st, sc, w.typed(words(st)[0], sc, V.name, "machine name"), _statement)
    return Machine(**f, spans=spans)


#: statement -> (field, the shape its text must have, what it is not, an example)
SHAPES = {"ssh": ("ssh", SSH_DEST, "a [USER@]HOST ssh can be given",
                  "write it like root@10.50.0.11 or m1.example.net (options go in your ssh configuration)"),
          "pipenet_path": ("pipenet", PROGRAM, "a program path pipenet can run over ssh",
                           'give an absolute path like "/opt/pipenet/.venv/bin/pipenet"')}


def _statement(w: Walker, s: Node, sc: Scope, f: dict, spans: dict) -> None:
    kind = s.data
    if kind in SHAPES:
        key, shape, what, hint = SHAPES[kind]
        tok = [c for c in s.children if getattr(c, "type", None) == "SSH_DEST"] or [value_token(s)]
        text = tok[0].value if tok[0].type == "SSH_DEST" else w.text(tok[0], sc)
        sp = w.span(tok[0], sc)
        if not shape.match(text):
            w.error(f"`{text[:60]}` is not {what}", sp, hint)
            raise Fail
        w.set_once(f, spans, key, text, sp, key)
    elif kind == "underlay":
        t = words(s)[0]
        w.set_once(f, spans, "underlay", w.typed(t, sc, V.ip), w.span(t, sc), "underlay")
    elif kind == "unknown":
        w.unknown(s, sc, "in a machine", keywords("_machine_stmt"))
