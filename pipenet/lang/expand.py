"""Syntax tree to IR: variables, loops, defaults, interpolation, typed values.

Two walks. The first (`pipenet.lang.walk`) runs the program part of the
language: it evaluates `let` (top-level variables lazily, so they may be used
before they are written, with cycles reported), unrolls `for` loops (each
iteration a fresh scope, with a budget so a huge loop is an error rather than
a hang) and records every declaration with the scope it was made in. The
second (`pipenet.lang.statements`, one module per family of statements)
builds the IR from those records, applying `defaults container` to every
container and turning each token into a typed value (`pipenet.lang.values`);
an interface's kind reads its own words (`pipenet.kinds`). Problems become
diagnostics; the walks always go on, so every error is reported. What is
wrong with the network the statements describe, rather than with their
words, is left to the validation passes (`pipenet.validate`).
"""

from __future__ import annotations

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.lang.parser import Node
from pipenet.lang.statements.topology import build
from pipenet.lang.walk import Walker


def expand(tree: Node, file: str, default_name: str, variables: dict[str, int | str] | None = None
           ) -> tuple[Topology, list[Diagnostic]]:
    w = Walker(file, default_name, variables)
    w.collect(tree)
    topo = build(w)
    return topo, w.diags
