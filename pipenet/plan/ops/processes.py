"""`run` commands: processes started inside a node, stopped TERM-then-KILL.

A process is pipenet's by its pid and the kernel's start time for it (a
recycled pid is never signalled) and by a marker in its environment
(`PIPENET_PROCESS=LOG`), which finds one whose pid never reached the record;
it is stopped only in pipenet's own PID namespace and its node's network
namespace.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from typing import ClassVar

from pipenet.plan.ops.base import OK, Op, changed, missing, q


@dataclass
class StartProcess(Op):
    """A `run` command: started in the node (namespace, hostname, /etc files) as its own process group."""

    kind: ClassVar[str] = "process"
    adoptable: ClassVar[bool] = False
    learns: ClassVar[bool] = True
    node: str
    ns: str
    index: int
    argv: tuple = ()
    hostname: str = ""
    etc: str = ""
    log: str = ""
    saved: dict = field(default_factory=dict)
    #: (kept, path) of the node's own files and private directories, mounted over their paths
    binds: tuple = ()
    #: keys of the node's `file` and `private` operations: made again, they start it again
    paths: tuple = ()
    #: the node whose namespace and /etc files it uses: the container a `net container` node shares
    #: with ("" for the node itself); derived from `ns` and `etc`, so not part of its identity
    home: str = ""

    unidentified: ClassVar[tuple[str, ...]] = ("home",)

    @property
    def key(self):
        return f"process:{self.node}:{self.index}"

    @property
    def depends(self):
        home = self.home or self.node  # (a namespace made again, or its files: started again in it)
        return (f"netns:{home}", f"etc:{home}", *self.paths)

    @property
    def marker(self) -> str:
        return f"{self.log}"  # the log path names topology, node and index: unique to this process

    @property
    def command(self) -> str:
        """The command as a shell would read it back (`sh -c 'echo hi; exit 3'`, not the words run together)."""
        return shlex.join(self.argv)

    @property
    def summary(self) -> str:
        return f"start `{self.command}` in {self.node}"

    def apply(self, k):
        self.saved = k.process_start(self.ns, self.argv, self.hostname, self.etc, self.log, self.marker,
                                       tuple(tuple(b) for b in self.binds))

    def undo(self, k):
        k.process_stop(self.saved, self.marker, self.ns)

    def check(self, view):
        found = view.process(self.saved, self.marker, self.ns)
        if found is None:
            pid = self.saved.get("pid")
            return missing(f"process `{self.command}` in {self.node}" + (f" (pid {pid}) is not running" if pid else
                                                                        " is not running"), "running")
        live = view.namespace(self.ns) if self.ns else None
        if live is not None and found.get("net") is not None and found["net"] != live.inode:
            return changed(f"process `{self.command}` in {self.node} runs in a namespace that is gone", "running",
                           "in an old namespace")
        return OK

    def describe(self):
        """The same start as `up`'s, for a shell: a new session in the node's namespaces, its hostname,
        its /etc files (ip netns exec binds them), its own files and private directories, its log, and
        the marker in its environment."""
        logdir = os.path.dirname(self.log)
        mounts = "".join(f"mount --bind {q(src)} {q(dst)} && " for src, dst in self.binds)
        inner = ["unshare", "--uts", *(["--mount", "--propagation", "private"] if self.binds else []), "--",
                 "sh", "-c", f'hostname "$0" && {mounts}cd / && exec "$@"', self.hostname or self.node, *self.argv]
        if self.ns == "":
            enter = ["env"]
        elif self.ns.startswith("/"):
            enter = ["nsenter", f"--net={self.ns}"]
        else:
            enter = ["ip", "netns", "exec", self.ns]
        from pipenet.backends.processes import MARK, process_env

        env = process_env(self.marker)  # what `up` gives it: pipenet's Python first on PATH, the marker
        extra = [f"{k}={env[k]}" for k in ("PATH", "PYTHONUNBUFFERED", MARK)]
        words = " ".join(q(w) for w in ["setsid", *enter, "env", *extra, *inner])
        return [f"mkdir -p -m 0700 {q(logdir)}",
                f"{words} >> {q(self.log)} 2>&1 < /dev/null &"]

    def describe_undo(self):
        pid = self.saved.get("pid", "PID")
        return [f"kill -TERM -{pid}  # then KILL after a grace period"]
