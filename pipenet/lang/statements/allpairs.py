"""`expect all of GLOB can reach all of GLOB[:PORT/PROTO] [over ipv4|ipv6] [within T]` (and `cannot reach`):
Mininet's `pingall` as one statement, expanded here into one `Expectation` per ordered pair.

The globs are fnmatch's (`*`, `?`, `[...]`, `[!...]`, case-sensitive) over the containers' names, so
`c*` never takes in the host by accident; `host` is a node of the pairs only when a glob is exactly
`host`. Pairs go in file order (each source's row, its targets in file order) and a node never probes
itself, nor a node whose network stack it shares (`net container:NAME`; `net host` and the host): those
are one network, and `cannot reach` between them could never hold. Expanding needs every container's
name, so it runs after the containers are built; a glob that matches nothing is an error located at the
glob, with the names it may have meant.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from fnmatch import fnmatchcase

from lark import Token

from pipenet.ir import AllPairs, Expectation, Port, Target
from pipenet.lang import values as V
from pipenet.lang.parser import Node
from pipenet.lang.statements.expectations import options
from pipenet.lang.walk import Fail, Scope, Walker, words

HOST = "host"
#: At most this many pairs per statement (a glob of 450 nodes both sides): a typo must not hang `test`.
MAX_PAIRS = 200_000
GLOB_RE = re.compile(r"(?:[A-Za-z0-9_.*?\]-]|\[!?)+\Z")  # ([!...]: a set that does not match)


def all_pairs(w: Walker, st: Node, sc: Scope, nodes: list[str], index: int,
              stacks: dict[str, object]) -> list[Expectation]:
    """The statement's pairs, each an Expectation pointing back at the statement (`AllPairs`). `stacks`:
    each container's network stack by the node that owns it (`topology._stacks`): two nodes of one stack
    (`net container:NAME`, `net host` and the host) are one node here, and never a pair."""
    def stack(node: str):
        return stacks.get(node, (node, None) if node == HOST else node)

    t = words(st)
    if w.text(t[0], sc) != "all":
        w.error(f"expected `all of`, found `{w.text(t[0], sc)} of`", w.span(t[0], sc),
                "the all-pairs form is: expect all of GLOB can reach all of GLOB")
        raise Fail
    source_glob, _ = _glob(w, t[1], sc, with_port=False)
    target_glob, port = _glob(w, t[2], sc, with_port=True)
    spans = {"source": w.span(t[1], sc), "target": w.span(t[2], sc)}
    family, within = options(w, st, sc, spans, [])
    sources = _matched(w, t[1], sc, source_glob, nodes)
    targets = _matched(w, t[2], sc, target_glob, nodes)
    # (counted before any pair is made: a typo's millions of pairs must cost nothing)
    targets_in = Counter(stack(d) for d in targets)
    count = len(sources) * len(targets) - sum(n * targets_in[k] for k, n in Counter(map(stack, sources)).items())
    span = w.node_span(st, sc)
    if count == 0:
        one = len(set(sources) | set(targets)) > 1
        w.error("these globs make no pair: a node never probes itself, nor a node whose network it shares",
                span, "the nodes they match share one network (`net container`, `net host`): there is nothing "
                      "between them to probe" if one else
                      "all-pairs needs two nodes or more; for one pair write `expect A can reach B`")
        raise Fail
    if count > MAX_PAIRS:
        w.error(f"this statement would make {count:,} pairs", span,
                f"pipenet limits one statement to {MAX_PAIRS:,} pairs so a typo cannot hang `test`; "
                f"use narrower globs")
        raise Fail
    kind = "reach" if st.data == "expect_all_reach" else "unreach"
    statement = AllPairs(kind, source_glob, target_glob, tuple(sources), tuple(targets), port, within, family,
                         index, span)
    return [Expectation(kind, s, Target(d, None, port, spans["target"]), within=within, family=family, span=span,
                        spans=spans, statement=statement)
            for s in sources for d in targets if stack(s) != stack(d)]


def _glob(w: Walker, tok: Token, sc: Scope, with_port: bool) -> tuple[str, Port | None]:
    """A glob of node names, and the `:PORT/PROTO` after it on the target side."""
    text, port = w.text(tok, sc), None
    if with_port and ":" in text:
        text, written = text.rsplit(":", 1)
        try:
            port = V.port(written)
        except V.BadValue as e:
            w.error(str(e), w.span(tok, sc), e.hint)
            raise Fail from None
    if not GLOB_RE.match(text):
        hint = "e.g. all of web* can reach all of db*:5432/tcp" if with_port else "e.g. all of web*"
        if ":" in text:
            hint = "a port goes on the target side only: ... can reach all of GLOB:PORT/PROTO"
        w.error(f"`{text}` is not a glob of node names", w.span(tok, sc),
                f"a glob is a node name with * ? [...] or [!...] in it; {hint}")
        raise Fail
    return text, port


def _matched(w: Walker, tok: Token, sc: Scope, glob: str, nodes: list[str]) -> list[str]:
    """The node names `glob` matches, in file order: containers, and the host when the glob is `host`."""
    if glob == HOST:
        return [HOST]
    found = [n for n in nodes if fnmatchcase(n, glob)]
    if not found:
        plain = re.sub(r"\[[^\]]*\]|[*?\[\]]", "", glob) or glob
        near = difflib.get_close_matches(plain, nodes, n=3, cutoff=0.5) or [
            n for n in nodes if n.startswith(plain[:1])][:3]
        hint = (f"similar names: {', '.join(near)}" if near else
                "the topology declares no container" if not nodes else f"the containers are {_some(nodes)}")
        w.error(f"`{glob}` matches no container", w.span(tok, sc),
                hint + " (a glob matches container names; the host is `host`, written alone)")
        raise Fail
    return found


def _some(names: list[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
