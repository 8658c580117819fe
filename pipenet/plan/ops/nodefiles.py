"""`file PATH ...` and `private PATH`: a node's own files and directories, kept under the state directory.

What the node sees at PATH is kept on the host at `ROOT/NODE/PATH` (ROOT is
the topology's `nodes` directory) and bind-mounted over PATH in the mount
namespace of each of the node's processes (`run`, `exec`, `shell`); a file
inside one of the node's private directories is simply kept inside it. The
host's own PATH is never written. The live check compares the kept file's
content (a digest), owner and mode, or the directory's owner and mode, with
the file; `up` puts them right, and since a process sees a file as it was
when it started, the node's `run` processes are started again (they depend
on these operations).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from pipenet.plan.ops.base import OK, Op, changed, foreign, missing, q
from pipenet.plan.ops.files import heredoc


def kept_at(root: str, node: str, path: str) -> str:
    """Where the host keeps what `node` sees at `path`."""
    return os.path.join(root, node) + path


def binds_of(ops: list, node: str) -> tuple:
    """The (kept, path) bind mounts of a node's own files and private directories, outermost first, from
    the operations of a record (as JSON): what its `run` processes got, for `exec`, `shell` and probes."""
    found = [(kept_at(o["root"], node, o["path"]), o["path"]) for o in ops
             if isinstance(o, dict) and o.get("kind") == NodePath.kind and o.get("node") == node
             and not o.get("within")]
    return tuple(sorted(found, key=lambda b: b[1]))


def path_key(node: str, path: str) -> str:
    return f"path:{node}:{path}"


@dataclass
class NodePath(Op):
    """One `file` or `private` statement of a node: what the host keeps for it, owned and moded."""

    kind: ClassVar[str] = "node-path"
    repairable: ClassVar[bool] = True
    persistent: ClassVar[bool] = True  # (kept under the state directory, which may be on disk)
    node: str
    path: str  # what the node sees
    root: str  # the topology's `nodes` directory
    what: str  # "file" or "private"
    content: str | None = None
    uid: int = 0
    gid: int = 0
    mode: int = 0o644
    within: str = ""  # the private directory of the node that holds it, if any

    @property
    def key(self):
        return path_key(self.node, self.path)

    @property
    def parents(self):
        return (path_key(self.node, self.within),) if self.within else ()

    @property
    def source(self) -> str:
        return kept_at(self.root, self.node, self.path)

    def wanted(self) -> dict:
        """What the live check must find: the one description apply, describe and check share."""
        from pipenet.backends.nodefiles import digest

        out = {"kind": "file" if self.what == "file" else "dir", "uid": self.uid, "gid": self.gid, "mode": self.mode}
        if self.what == "file":
            out["digest"] = digest(self.content or "")
        return out

    @property
    def summary(self) -> str:
        return f"{'write' if self.what == 'file' else 'make private directory'} {self.path} of {self.node}"

    def apply(self, k):
        k.node_path_put(self.root, self.source, self.what, self.content, self.uid, self.gid, self.mode)

    def undo(self, k):
        k.node_path_remove(self.root, self.source, self.what)

    def check(self, view):
        found = view.node_path(self.root, self.source)
        want = self.wanted()
        if found is None:
            return missing(f"{self.path} of {self.node} ({self.source})", "present")
        if found["kind"] != want["kind"]:
            return foreign(f"{self.source} is a {found['kind']} that pipenet did not make")
        differ = [k for k in ("digest", "uid", "gid", "mode") if k in want and found.get(k) != want[k]]
        if differ:
            return changed(f"{self.path} of {self.node}: {', '.join(differ)} changed", "as in the file",
                           ", ".join(differ), observed=None)
        return OK

    def repair(self, k, observed):
        self.apply(k)

    def unrepair(self, k, observed):
        pass  # what someone else wrote there is not kept: the file's content is what the node gets

    def describe(self):
        src = self.source
        out = [f"mkdir -p {q(os.path.dirname(src))}"]
        if self.what == "file":
            out.append(heredoc(src, self.content or ""))
        else:
            out.append(f"mkdir -p {q(src)}")
        out += [f"chown {self.uid}:{self.gid} {q(src)}", f"chmod {self.mode:04o} {q(src)}"]
        return out

    def describe_undo(self):
        return [f"rm -{'f' if self.what == 'file' else 'rf'} {q(self.source)}"]
