"""Network namespaces: the ones pipenet makes, and the ones it only uses (attached)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pipenet.backends.objects import mark_topology
from pipenet.errors import PartlyDone
from pipenet.plan.ops.base import OK, Op, foreign, in_ns_cmd, ip_cmd, missing, q


@dataclass
class CreateNamespace(Op):
    """/run/netns/NS, made in-process; pipenet's mark is the alias of its loopback interface (read
    back before the namespace is ever removed), and its nsfs inode is kept in `saved`."""

    kind: ClassVar[str] = "netns"
    destroys_children: ClassVar[bool] = True
    learns: ClassVar[bool] = True
    node: str
    ns: str
    owner: str = ""
    quiet: bool = False  # the node has no IPv6: its interfaces are made without IPv6 autoconfiguration
    saved: dict = field(default_factory=dict)

    @property
    def key(self):
        return f"netns:{self.node}"

    def apply(self, k):
        self.saved = {"inode": k.netns_create(self.ns, self.mark_of(), quiet=self.quiet)}

    def apply_batch_key(self):
        """Namespaces are made together, in one hand-over to the namespace thread (`apply_many`)."""
        return "netns"

    @staticmethod
    def apply_many(ops: list, k) -> None:
        made: list[int] = []
        try:
            made = k.netns_create_many([(o.ns, o.mark_of(), o.quiet) for o in ops])
        except PartlyDone as e:
            made = e.done  # (those made are undone with the rest: their inodes are known)
            raise
        finally:
            for o, inode in zip(ops, made):
                o.saved = {"inode": inode}

    def undo(self, k):
        k.netns_delete(self.ns, self.mark_of())

    def remake(self, k, observed=None):
        """A removal rolled back: the very namespace mounted back when this run removed it (the kernel
        backend keeps a descriptor on each; by its inode, as a run may also have made and undone
        another under the same name), with whatever is still in it; made anew otherwise."""
        if not k.netns_restore(self.ns, self.saved.get("inode")):
            self.apply(k)

    def batch_key(self):
        """Namespaces are removed together (`undo_many`: their unmounts share RCU grace periods)."""
        return "netns"

    # An unmount needs no RTNL lock, and each namespace stays held by this run until it ends (`remake`
    # can mount it back): the namespaces go while the kernel removes the host interfaces (`down`).
    undo_alongside: ClassVar[bool] = True

    @staticmethod
    def undo_many(ops: list, k) -> None:
        try:
            k.netns_delete_many([(o.ns, o.mark_of()) for o in ops])
        except PartlyDone as e:  # (the executor needs the ops dealt with, in the batch's order)
            dealt = set(e.done)
            raise PartlyDone([o for o in ops if o.ns in dealt], e.cause) from e.cause

    vouched_by: ClassVar[tuple[str, ...]] = ("ns",)

    def check(self, view):
        live = view.links(self.ns)  # (its mark is its loopback's: addresses and routes need not be read)
        if live is None:
            if view.placeholder(self.ns):
                return foreign(f"/run/netns/{self.ns} is a file that is not a namespace, and pipenet did not make it")
            return missing(f"namespace {self.ns}")
        if live.mark != self.mark_of():
            other = mark_topology(live.mark)
            if other is not None and other != self.owner:
                return foreign(f"namespace {self.ns} belongs to topology {other}")
            return foreign(f"namespace {self.ns} exists and pipenet did not make it (remove it with "
                           f"`ip netns delete {self.ns}` if it is stale)")
        return OK

    def describe(self):
        # (a quiet node's interfaces are each made with `addrgenmode none`: see AddVeth, AddLink)
        v6 = [] if self.quiet else [in_ns_cmd(self.ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0")]
        return [f"ip netns add {q(self.ns)}", *v6,
                ip_cmd(self.ns, "link", "set", "dev", "lo", "alias", self.mark_of(), "up")]

    def describe_undo(self):
        return [f"ip netns delete {q(self.ns)}"]


@dataclass
class UseNamespace(Op):
    """An attached namespace (pipework's case): checked, used, never created or deleted."""

    kind: ClassVar[str] = "use-netns"
    adoptable: ClassVar[bool] = False
    keeps_children: ClassVar[bool] = True
    node: str
    ns: str

    @property
    def key(self):
        return f"netns:{self.node}"

    def apply(self, k):
        if not k.netns_exists(self.ns):
            raise FileNotFoundError(2, f"namespace {self.ns} does not exist")

    def undo(self, k):
        pass

    def check(self, view):
        if not view.exists(self.ns):
            return missing(f"{self.node} attaches to {self.ns}, which does not exist (is the process running?)")
        return OK

    def describe(self):
        return [f"test -e {q(self.ns)}  # use the existing namespace of {self.node}, never created or deleted"]

    def describe_undo(self):
        return [f"# leave the namespace {self.ns} ({self.node}) as it was"]
