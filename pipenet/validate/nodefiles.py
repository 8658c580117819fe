"""A node's `file` and `private` paths: each given once, none inside one of its files, and each that
is not inside one of its private directories placed over a file (or directory) the host has.

pipenet puts a node's path in place with a bind mount in the node's own mount namespace, and a bind
mount needs something to mount on; making that mount point would write the host's file system, which
pipenet never does. So `file /etc/motd` needs a file at /etc/motd on this machine (its content is
never read or changed) and `private /run/frr` a directory at /run/frr; inside a private directory
anything goes, since that directory is the node's own.
"""

from __future__ import annotations

import os

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.validate.index import Index


def check_node_paths(topo: Topology, idx: Index) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for c in topo.containers:
        seen: dict[str, int] = {}
        files = {p.path for p in c.paths if p.what == "file"}
        for p in c.paths:
            span = p.spans.get("path", p.span)
            if p.path in seen:
                out.append(Diagnostic(f"{p.path} is given twice to {c.name}", span,
                                      f"the first is at line {seen[p.path]}"))
                continue
            seen[p.path] = p.span.line
            parent = next((f for f in files if p.path.startswith(f + "/")), None)
            if parent is not None:
                out.append(Diagnostic(f"{p.path} would be inside {parent}, which is a file of {c.name}", span))
                continue
            if c.private_holding(p.path) is not None:
                continue
            kind = "directory" if p.what == "private" else "file"
            there = os.path.isdir(p.path) if p.what == "private" else os.path.isfile(p.path)
            if not there:
                out.append(Diagnostic(
                    f"there is no {kind} at {p.path} on this machine to put {c.name}'s own {kind} over", span,
                    f"a node's {kind} is mounted over one the host has (never changed), or goes inside one "
                    f"of the node's `private` directories; pipenet does not make mount points on the host"))
    return out
