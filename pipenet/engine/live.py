"""The live system, read once per command: what `plan`, `up`, `down` and `status` compare with.

Terraform's refresh, for a network. Nothing here changes anything. Each
namespace is read at most once per command, lazily (its links in one netlink
dump on the socket pipenet already has there, its addresses and routes in
two more only when an operation asks for them; its qdiscs, its
`iptables-save` and its sysctls only when an operation asks), so a namespace
no operation mentions costs nothing, and one that is only checked for
pipenet's mark before `down` deletes it costs one dump. Operations compare
themselves with this view (`Op.check`); `status` and the planner use the
very same checks, so "drift" has one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipenet.backends import objects


@dataclass
class Section:
    """One table of `iptables-save`: chains in order, each with its rules (without `-A CHAIN`)."""

    chains: dict[str, list[str]] = field(default_factory=dict)

    def has_jump(self, builtin: str, chain: str, tag: str) -> bool:
        from pipenet.plan.ops.firewall import tagged

        return any(r.split()[-2:] == ["-j", chain] and tagged(r, tag) for r in self.chains.get(builtin, ()))


def parse_save(text: str) -> dict[str, Section]:
    """`iptables-save` text to {table: Section}."""
    out: dict[str, Section] = {}
    cur: Section | None = None
    for line in text.splitlines():
        if line.startswith("*"):
            cur = out.setdefault(line[1:].strip(), Section())
        elif cur is None or not line or line.startswith("#"):
            continue
        elif line.startswith(":"):
            cur.chains.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            parts = line.split(None, 2)
            if len(parts) >= 2:
                cur.chains.setdefault(parts[1], []).append(parts[2] if len(parts) > 2 else "")
    return out


class LiveView:
    """The kernel's state as the operations of one command need it (see the module docstring)."""

    def __init__(self, k):
        self.k = k
        self._ns: dict[str, objects.Namespace | None] = {}
        self._links: dict[str, objects.Namespace | None] = {}  # namespaces read for their links only
        self._qdiscs: dict[str, dict] = {}
        self._fw: dict[str, dict[str, Section]] = {}
        self._sysctl: dict[tuple[str, str], str | None] = {}
        self._wanted_sysctls: dict[str, set[str]] = {}

    # ---- namespaces ---------------------------------------------------------------------------
    def exists(self, ref: str) -> bool:
        return ref == "" or self.links(ref) is not None

    def namespace(self, ref: str) -> objects.Namespace | None:
        """The namespace at `ref` in full: links, addresses and routes."""
        if ref not in self._ns:
            self._ns[ref] = self.k.read_namespace(ref, self._links.get(ref))
        return self._ns[ref]

    def links(self, ref: str) -> objects.Namespace | None:
        """The namespace at `ref` with its inode and links only (its loopback's mark among them): what
        an interface's or a namespace's own check needs. Its addresses and routes are not read here
        (they are empty): ask `namespace` for them."""
        if ref in self._ns:
            return self._ns[ref]
        if ref not in self._links:
            self._links[ref] = self.k.read_links(ref)
        return self._links[ref]

    def read_links_of(self, refs: list[str]) -> None:
        """Read the links of all these namespaces now, in one go (`Kernel.read_links_many`: two processes
        from a few hundred on): `down`, which checks every namespace's mark before it removes anything."""
        todo = [r for r in refs if r not in self._links and r not in self._ns]
        if todo:
            self._links.update(self.k.read_links_many(todo))

    def placeholder(self, ref: str) -> bool:
        """Is there something at /run/netns/REF that is not a namespace (a plain file someone left)?"""
        return bool(ref) and not ref.startswith("/") and self.k.netns_placeholder(ref)

    def forget(self, ref: str) -> None:
        """Drop what was read of a namespace (it is about to change)."""
        self._ns.pop(ref, None)
        self._links.pop(ref, None)
        self._qdiscs.pop(ref, None)
        self._fw.pop(ref, None)
        for key in [x for x in self._sysctl if x[0] == ref]:
            del self._sysctl[key]

    # ---- what only some operations need ---------------------------------------------------------
    def qdiscs(self, ref: str) -> dict[str, objects.Qdisc]:
        if ref not in self._qdiscs:
            self._qdiscs[ref] = self.k.read_qdiscs(ref) if self.exists(ref) else {}
        return self._qdiscs[ref]

    def firewall(self, ref: str) -> dict[str, Section]:
        if ref not in self._fw:
            self._fw[ref] = parse_save(self.k.read_firewall(ref)) if self.exists(ref) else {}
        return self._fw[ref]

    def want_sysctls(self, ops) -> None:
        """Read every sysctl these operations check in one visit per namespace, and open every namespace
        they name at once."""
        refs = sorted({op.ns for op in ops if isinstance(getattr(op, "ns", None), str)} - set(self._ns) - set(self._links))
        self.k.open_namespaces(refs)
        for op in ops:
            if op.kind == "sysctl":
                self._wanted_sysctls.setdefault(op.ns, set()).add(op.name)
            elif op.kind == "host-setting":
                self._wanted_sysctls.setdefault("", set()).add(op.name)

    def sysctl(self, ref: str, key: str) -> str | None:
        if (ref, key) not in self._sysctl:
            if not self.exists(ref):
                return None
            keys = sorted(self._wanted_sysctls.get(ref, set()) | {key})
            for k, v in self.k.read_sysctls(ref, keys).items():
                self._sysctl[(ref, k)] = v
        return self._sysctl[(ref, key)]

    def files(self, directory: str, names: list[str], known: dict | None = None) -> dict[str, tuple | None] | None:
        """{name: None (absent) | ("file", content) | ("same",) | ("symlink",) | ("other",)}; None when
        the directory itself is a symlink or not a directory (pipenet never writes through one).
        ("same",): the file has the inode, size and time in `known`, as pipenet left it."""
        return self.k.etc_inspect(directory, names, known)

    def directory(self, path: str) -> bool:
        """Is there a real directory (not a symlink) at `path`?"""
        return self.k.etc_is_dir(path)

    def node_path(self, root: str, source: str) -> dict | None:
        """What the host keeps of a node's `file` or `private` path: None, or its kind, owner, mode
        (and a file's digest)."""
        return self.k.node_path_inspect(root, source)

    def process(self, saved: dict, marker: str, ref: str) -> dict | None:
        """{"pid", "net"} of a running `run` process (by its recorded pid and start time, or, when no
        pid was recorded, by its marker), or None."""
        return self.k.process_find(saved, marker, ref)


#: below this many operations, one process checks them all
SPLIT_AT = 1500


def _place(kind, ns, peer_ns) -> str:
    """The namespace an op's check reads most (a bridge port: its container's), to share ops out so
    that each process reads each namespace once."""
    if kind == "veth" and ns == "":
        return peer_ns if isinstance(peer_ns, str) else ""
    return ns if isinstance(ns, str) else ""


def _shared(items: list, place, view: LiveView, check):
    """check(items, view) past SPLIT_AT items in two processes at once: `items` shared out by the
    namespace `place(item)` names (the host's stay here), a forked child checking the second half
    with a view of its own (see Kernel.split_work). The host's namespace, which both halves need
    (the host ends of bridge ports), is read once before the fork: at 4,000 ports its dump is the
    largest read of all. Returns (this half's answer, the child's)."""
    by_place: dict[str, list] = {}
    for item in items:
        by_place.setdefault(place(item), []).append(item)
    half, mine, theirs = len(items) // 2, [], []
    for p in sorted(by_place, key=lambda p: (p != "", p)):
        (mine if len(mine) < half else theirs).extend(by_place[p])
    if "" in by_place and theirs:
        view.namespace("")

    def in_child():
        other = LiveView(view.k)
        other._ns.update(view._ns)
        other._links.update(view._links)
        return check(theirs, other)

    return view.k.split_work(in_child, lambda: check(mine, view))


def _verdicts(ops, view: LiveView) -> dict:
    view.want_sysctls(ops)
    return {op.key: op.check(view) for op in ops}


def check_all(ops, view: LiveView) -> dict:
    """{key: Verdict} of every op against the live system (past SPLIT_AT ops, in two processes)."""
    from pipenet.gcpause import gc_paused

    with gc_paused():
        if len(ops) < SPLIT_AT:
            return _verdicts(ops, view)
        a, b = _shared(ops, lambda op: _place(op.kind, getattr(op, "ns", ""), getattr(op, "peer_ns", None)),
                       view, _verdicts)
        return {**a, **b}


def _all_ok(docs: list, view: LiveView, state=None) -> bool:
    from pipenet.engine.records import recorded_ops

    ops = recorded_ops({"ops": docs}, state)
    view.want_sysctls(ops)
    return all(op.check(view).ok for op in ops)


def all_live(docs: list, view: LiveView, state=None) -> bool:
    """Is every operation of a record (its JSON, `record["ops"]`) live as made? The question of the
    unchanged-file fast path, which needs a yes or no, not the drift: past SPLIT_AT operations each
    process turns only its own half of the JSON into operations and sends back one boolean, not a
    verdict per operation. The same checks as `check_all`, so the answer is `not status.drift(...)`
    exactly (each process stops at its first operation that is not live as made); a record that
    cannot be read raises as in `recorded_ops`."""
    if len(docs) < SPLIT_AT:
        return _all_ok(docs, view, state)

    def place(d) -> str:
        return _place(d.get("kind"), d.get("ns", ""), d.get("peer_ns")) if isinstance(d, dict) else ""

    a, b = _shared(docs, place, view, lambda part, v: _all_ok(part, v, state))
    return a and b
