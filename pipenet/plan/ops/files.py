"""A node's own /etc files (hosts, resolv.conf, hostname) under /etc/netns/NAMESPACE/.

The convention `ip netns exec` honours. A file is pipenet's while its
content is what pipenet wrote (the record keeps it); a symlink or any other
kind of file at one of these paths is someone else's and is never followed,
replaced or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pipenet.errors import PartlyDone
from pipenet.plan.ops.base import OK, Op, changed, foreign, missing, q


def heredoc(path: str, content: str) -> str:
    """A shell command that writes exactly `content` to `path` (quoted: no expansion)."""
    marker = "PIPENET_EOF"
    while marker in content:
        marker += "_"
    if content.endswith("\n"):
        return f"cat > {q(path)} <<'{marker}'\n{content}{marker}"
    return f"printf %s {q(content)} > {q(path)}"


def _each(ops: list, do) -> None:
    """`do(op)` for each op in turn; the first that fails raises PartlyDone with those done before it."""
    for n, op in enumerate(ops):
        try:
            do(op)
        except Exception as e:
            raise PartlyDone(ops[:n], e) from e


@dataclass
class WriteEtc(Op):
    kind: ClassVar[str] = "etc"
    anywhere: ClassVar[bool] = True  # (its check reads its files only)
    undo_alongside: ClassVar[bool] = True  # (files only: may go on while the kernel removes interfaces)
    repairable: ClassVar[bool] = True
    learns: ClassVar[bool] = True
    persistent: ClassVar[bool] = True  # (/etc/netns is on disk)
    node: str
    directory: str
    files: tuple = ()  # ((name, content), ...)
    saved: dict = field(default_factory=dict)

    @property
    def key(self):
        return f"etc:{self.node}"

    @property
    def wanted(self) -> dict[str, str]:
        return {n: c for n, c in self.files}

    def prepare(self, k):
        self.saved = k.etc_read(self.directory, [n for n, _ in self.files])

    def apply(self, k):
        self.saved = dict(self.saved, stamps=k.etc_write(self.directory, self.wanted))

    def undo(self, k):
        k.etc_restore(self.directory, self.saved, self.wanted)

    # A topology's /etc files are written, and removed, together: one journal line for all of them, and
    # so one fsync (they are `persistent`) instead of one a node (at 1,000 containers, with the state
    # directory on a disk, 0.15 s)
    def apply_batch_key(self):
        return "etc"

    @staticmethod
    def apply_many(ops: list, k) -> None:
        _each(ops, lambda op: op.apply(k))  # (those written are undone with the rest)

    def batch_key(self):
        return "etc"

    @staticmethod
    def undo_many(ops: list, k) -> None:
        _each(ops, lambda op: op.undo(k))  # (those removed are written again with the rest)

    def check(self, view):
        found = view.files(self.directory, [n for n, _ in self.files], self.saved.get("stamps"))
        if found is None:
            return foreign(f"{self.directory} is not a directory pipenet can use (a symlink or a file)")
        for name, what in found.items():
            if what is not None and what[0] not in ("file", "same"):
                return foreign(f"{self.directory}/{name} is a {what[0]} and pipenet did not make it; "
                               f"pipenet never writes through one")
        if all(what is None for what in found.values()):
            if view.directory(self.directory) and self.saved.get("dir") is False:
                # pipenet made the directory (a run killed before it wrote the files): it is still there
                return changed(f"{self.directory} is empty", "pipenet's files", "no files",
                               observed={n: None for n, _ in self.files})
            return missing(f"the /etc files of {self.node} ({self.directory})")
        wanted = self.wanted
        differ = {n: (what[1] if what is not None else None) for n, what in found.items()
                  if what is None or (what[0] != "same" and what[1] != wanted[n])}
        if differ:
            names = ", ".join(sorted(differ))
            return changed(f"{self.directory}: {names} changed since pipenet wrote them", "pipenet's content",
                           f"{names} differ", observed=differ)
        return OK

    def repair(self, k, observed):
        stamps = k.etc_write(self.directory, {n: self.wanted[n] for n in observed})
        self.saved = dict(self.saved, stamps=dict(self.saved.get("stamps") or {}, **stamps))

    def unrepair(self, k, observed):
        k.etc_put_back(self.directory, observed, self.wanted)

    def describe(self):
        out = [f"mkdir -p {q(self.directory)}"]
        for name, content in self.files:
            out.append(heredoc(f"{self.directory}/{name}", content))
        return out

    def describe_undo(self):
        return [f"rm -f {' '.join(q(self.directory + '/' + n) for n, _ in self.files)}",
                f"rmdir {q(self.directory)}"]

    def describe_repair(self, observed):
        return [heredoc(f"{self.directory}/{n}", self.wanted[n]) for n in observed]
