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

from contextlib import contextmanager
from dataclasses import dataclass, field

from pipenet.backends import objects
from pipenet.backends.taskpipe import MAX_TASKS, TaskPipe
from pipenet.plan.ops.base import REGISTRY


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

    def __init__(self, k, memo: dict[str, str] | None = None, ports: dict[str, list] | None = None):
        self.k = k
        # With `ports` ({name: `hostlinks.identity`} of the host's bridge ports as the last check that
        # found everything live read them, `engine.verified`), the host's links are read from the
        # bridges' own dump, without the peer namespaces' ids (`backends.hostlinks`), and a port whose
        # fields are all as then is not checked again (`port_as_kept`).
        self.ports = ports
        self._ns: dict[str, objects.Namespace | None] = {}
        self._links: dict[str, objects.Namespace | None] = {}  # namespaces read for their links only
        # With `memo` ({ref: digest} of the namespaces at the last check that found every operation
        # live as made, `engine.verified`), every namespace but the host's is read raw and decoded
        # only when an operation needs it; `digests` are those read in this command.
        self.memo = memo
        self._raw: dict[str, object | None] = {}
        self.digests: dict[str, str | None] = {}
        self.unsettled: set[str] = set()  # read twice in this command (two processes), differently
        # namespaces whose part of a check another step of this command does (`all_live`: the host's
        # ends of bridge ports, checked once the host is read; their containers' ends, where those are)
        self.elsewhere: set[str] = set()
        self.going: set[str] = set()  # namespaces `down` removes, read for their marks alone (`read_marks_of`)
        self._qdiscs: dict[str, dict] = {}
        self._fw: dict[str, dict[str, Section]] = {}
        self._sysctl: dict[tuple[str, str], str | None] = {}
        self._wanted_sysctls: dict[str, set[str]] = {}

    # ---- namespaces ---------------------------------------------------------------------------
    def exists(self, ref: str) -> bool:
        if ref and self.memo is not None:  # (read for its digest, not decoded)
            return self.digest(ref) is not None
        return ref == "" or self.links(ref) is not None

    def namespace(self, ref: str) -> objects.Namespace | None:
        """The namespace at `ref` in full: links, addresses and routes."""
        if ref not in self._ns:
            if self.memo is not None and ref:  # (decoded from what was read for its digest)
                raw = self._raw[ref] if ref in self._raw else self._read_raw(ref)
                self._ns[ref] = self.k.decode_raw(ref, raw) if raw is not None else None
            else:
                known = self.links(ref) if ref == "" and self.ports else self._links.get(ref)
                self._ns[ref] = self.k.read_namespace(ref, known)
        return self._ns[ref]

    # ---- digests: what the no-op `up` need not decode ----------------------------------------------
    def _read_raw(self, ref: str):
        raw = self._raw[ref] = self.k.read_raw(ref)
        got = raw.digest if raw is not None else None
        if ref in self.digests and self.digests[ref] != got:
            self.unsettled.add(ref)  # (another process read it otherwise: its checks saw another state)
        self.digests[ref] = got
        return raw

    def digest(self, ref: str) -> str | None:
        """The digest of the namespace at `ref` (`Kernel.read_raw`: its three dumps, not decoded), read
        once; None when there is no namespace there. One given by another process of this command
        (`given`) is not read again for its digest alone."""
        if ref not in self.digests:
            self._read_raw(ref)
        return self.digests[ref]

    def read_digests(self, refs) -> None:
        """The digest of each of these namespaces, every one not open yet opened in one go (not those
        whose part of the checks is done elsewhere)."""
        todo = [r for r in refs if r and r not in self.digests and r not in self.elsewhere]
        self.k.open_namespaces(todo)
        for ref in todo:
            self._read_raw(ref)

    def given(self, digests: dict[str, str | None], unsettled=()) -> None:
        """Digests read by another process of this command (and the namespaces it found unsettled)."""
        self.unsettled.update(unsettled)
        for ref, got in digests.items():
            if ref in self.digests and self.digests[ref] != got:
                self.unsettled.add(ref)
            else:
                self.digests[ref] = got

    def settled(self) -> dict[str, str]:
        """{ref: digest} of every namespace read in this command the same way each time it was read: what
        the next command may vouch for, when every check of this one found things live as made."""
        return {r: d for r, d in self.digests.items() if r and d is not None and r not in self.unsettled}

    def vouched(self, ref: str) -> bool:
        """Is the namespace at `ref` now, byte for byte, what the last check that found every operation
        live as made read there (`memo`)? Then every check that reads only its links, addresses and
        routes answers as it did then (`Op.vouched_by`), and it is not decoded. Never the host's, whose
        dump changes by itself (a bridge port's hold timer)."""
        if not isinstance(ref, str):
            return False
        if ref in self.elsewhere or ref in self.going:
            return True
        if not ref or self.memo is None:
            return False
        want = self.memo.get(ref)
        return want is not None and self.digest(ref) == want

    def goes(self, ref: str) -> bool:
        """Is the namespace at `ref` one this `down` removes (`read_marks_of`)? Its end of a pair is then
        neither read nor checked: it is there exactly when the other end is (the kernel removes both)."""
        return isinstance(ref, str) and ref in self.going

    def links(self, ref: str) -> objects.Namespace | None:
        """The namespace at `ref` with its inode and links only (its loopback's mark among them): what
        an interface's or a namespace's own check needs. Its addresses and routes are not read here
        (they are empty): ask `namespace` for them."""
        if ref in self._ns:
            return self._ns[ref]
        if self.memo is not None and ref:  # (read raw for its digest: decoded in full)
            return self.namespace(ref)
        if ref not in self._links:
            quick = ref == "" and self.ports  # (the host's, with its ports kept: `backends.hostlinks`)
            self._links[ref] = self.k.read_host_links(self.ports) if quick else self.k.read_links(ref)
        return self._links[ref]

    def port_as_kept(self, name) -> bool:
        """Is the host's interface `name`, read from the bridges' dump (`backends.hostlinks`), exactly
        what the last check that found everything live read there (`ports`): the same interface (its
        index) with the same MAC, MTU, state, bridge, peer and hairpin mode? Then a check that reads
        nothing but it answers as it did then, as for a namespace whose dumps are as then."""
        from pipenet.backends.hostlinks import HostLinks, identity

        kept = self.ports.get(name) if self.ports and isinstance(name, str) else None
        got = self._links.get("") if kept is not None else None
        link = got.links.held_link(name) if got is not None and isinstance(got.links, HostLinks) else None
        return link is not None and identity(link) == kept

    def host_ports(self) -> dict[str, list]:
        """{name: identity} of the host's bridge ports as read in this command (of those read in part,
        `backends.hostlinks`, what was held): what the next no-op may take from this one."""
        from pipenet.backends.hostlinks import HostLinks, identities

        got = self._ns.get("") or self._links.get("")
        if got is None:
            return {}
        return identities(got.links.held() if isinstance(got.links, HostLinks) else got.links)

    def read_marks_of(self, refs: list[str], meanwhile=()) -> dict:
        """`down`, which checks every namespace's mark before it removes anything, and these are the
        namespaces it removes (with the host's, "", whose links are all read): each read now for its mark
        alone, in one go (`Kernel.read_marks_many`: two processes from a few hundred on). What is inside
        one goes with it, so its end of a pair is taken as checked (`vouched`): of a bridge port, only
        the host's end is read, and the kernel removes the other with it. `meanwhile`: functions that
        read no namespace and take no lock of the kernel's, each returning a dict, done while the marks
        are read (shared by both processes); the union of their dicts is returned."""
        todo = [r for r in refs if r not in self._links and r not in self._ns]
        got, extra = self.k.read_marks_many(todo, meanwhile=meanwhile)
        self._links.update(got)
        self.going.update(r for r in todo if r)
        return extra

    def placeholder(self, ref: str) -> bool:
        """Is there something at /run/netns/REF that is not a namespace (a plain file someone left)?"""
        return bool(ref) and not ref.startswith("/") and self.k.netns_placeholder(ref)

    @contextmanager
    def checked_elsewhere(self, refs):
        """Meanwhile, the interfaces in these namespaces are taken as checked by another step of this
        command (`vouched`): of a pair with an end in each, only the other end is checked here."""
        self.elsewhere = set(refs)
        try:
            yield
        finally:
            self.elsewhere = set()

    def forget(self, ref: str) -> None:
        """Drop what was read of a namespace (it is about to change)."""
        self._ns.pop(ref, None)
        self._links.pop(ref, None)
        self._raw.pop(ref, None)
        self.digests.pop(ref, None)
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


def _scope(d: dict) -> list:
    """The namespaces that alone decide the check of a record's entry (`Op.vouched_by`)."""
    kind = d.get("kind")
    cls = REGISTRY.get(kind) if isinstance(kind, str) else None
    return [d.get(f, "") for f in cls.vouched_by] if cls is not None else []


def _all_ok(docs: list, view: LiveView, state=None, refs: list[str] | None = None, sifted: bool = False) -> bool:
    """Is every entry of `docs` live as made? An entry whose namespaces are all vouched for
    (`LiveView.vouched`) is not even made into an operation: the memo says its check is as it was.
    `refs`: the namespaces to read first, in one go (by default, every one the entries name).
    `sifted`: none of `docs` is vouched for (the caller sifted them, `_unvouched`)."""
    from pipenet.engine.records import recorded_ops

    if view.memo is not None and not sifted:
        if refs is None:
            refs = sorted({r for d in docs if isinstance(d, dict) for r in _scope(d) if isinstance(r, str)})
        view.read_digests(refs)
        docs = [d for d in docs if not (isinstance(d, dict) and _vouched(d, view))]
    ops = recorded_ops({"ops": docs}, state)
    view.want_sysctls(ops)
    return all(op.check(view).ok for op in ops)


def _vouched(d: dict, view: LiveView) -> bool:
    scope = _scope(d)
    return bool(scope) and all(view.vouched(r) for r in scope)


def _partition(docs: list) -> tuple[list, dict, dict, list]:
    """A record's entries as `all_live` shares them out: (those checked where the host is read, those of
    each namespace, those of each pair with one end in the host and the other in that namespace, those
    checked anywhere). The entries of a namespace and of its pairs are grouped by their scope (`_scope`,
    a tuple), so that one question (`_unvouched`) answers for every entry of a scope. An entry that is not
    what a record holds (no known kind, a scope that is not names) is checked with the host's, where
    `recorded_ops` says what is wrong with it. (Written for speed: 20,000 entries at 4,000 containers.)"""
    host: list = []
    homes: dict[str, dict[tuple, list]] = {}
    ports: dict[str, dict[tuple, list]] = {}
    anywhere: list = []
    kinds: dict = {}  # kind: (its scope's reader, whether it may be checked anywhere), or None
    for d in docs:
        kind = d.get("kind") if isinstance(d, dict) else None
        if type(kind) is not str:
            host.append(d)
            continue
        spec = kinds.get(kind, False)
        if spec is False:
            cls = REGISTRY.get(kind)
            spec = kinds[kind] = (_scope_reader(cls.vouched_by), cls.anywhere) if cls is not None else None
        scope = spec[0](d) if spec is not None else None
        if scope is None:
            host.append(d)
            continue
        ns = d.get("ns")
        if "" in scope and any(scope):
            group = ports.get(next(r for r in scope if r))
            if group is None:
                group = ports[next(r for r in scope if r)] = {}
        elif type(ns) is str and ns:
            group = homes.get(ns)
            if group is None:
                group = homes[ns] = {}
        else:
            (anywhere if spec[1] and not ns else host).append(d)  # (anywhere: in no namespace, or the host's)
            continue
        entries = group.get(scope)
        if entries is None:
            group[scope] = [d]
        else:
            entries.append(d)
    return host, homes, ports, anywhere


def _scope_reader(fields: tuple):
    """A function giving an entry's scope (`_scope`) as a tuple of names, or None when it is not one."""
    if len(fields) == 1:
        (a,) = fields

        def one(d):
            x = d.get(a, "")
            return (x,) if type(x) is str else None
        return one
    if len(fields) == 2:
        a, b = fields

        def two(d):
            x, y = d.get(a, ""), d.get(b, "")
            return (x, y) if type(x) is str and type(y) is str else None
        return two

    def many(d):
        scope = tuple(d.get(f, "") for f in fields)
        return scope if all(type(r) is str for r in scope) else None
    return many


def _end_as_kept(d: dict, view: LiveView) -> bool:
    """Is the host's end of this bridge port's pair (a veth entry) as the last check read it
    (`LiveView.port_as_kept`)? Its check then answers as it did; the other end is checked elsewhere."""
    if d.get("kind") != "veth":
        return False
    end = d.get("name") if d.get("ns") == "" else d.get("peer") if d.get("peer_ns") == "" else None
    return view.port_as_kept(end)


def _unvouched(groups: list, view: LiveView) -> list:
    """The entries of `groups` ({scope: entries} each, `_partition`; None for none) whose scope is not all
    vouched for: one question a scope, not one an entry."""
    out: list = []
    vouched = view.vouched
    for by_scope in groups:
        if by_scope:
            for scope, entries in by_scope.items():
                if not (scope and all(vouched(r) for r in scope)):
                    out.extend(entries)
    return out


#: namespaces a process takes at a time from the queue the two share (`all_live`), and entries
#: checked anywhere (`Op.anywhere`)
CHUNK, CHUNK_ANYWHERE = 16, 250


def all_live(docs: list, view: LiveView, state=None) -> bool:
    """Is every operation of a record (its JSON, `record["ops"]`) live as made? The question of the
    unchanged-file fast path, which needs a yes or no, not the drift. The same checks as `check_all`,
    so the answer is `not status.drift(...)` exactly; a record that cannot be read raises as in
    `recorded_ops`.

    Every namespace is read (raw, `LiveView.digest`), and the entries whose namespaces are byte for byte
    what the last such check saw (`view.memo`, `engine.verified`) are not checked again; afterwards
    `view.settled()` is what the next check may vouch for. Past SPLIT_AT entries the work is shared by
    two processes. This one checks what needs the host (its links, read in full the first time and from
    the bridges' dump of their ports once the memo holds them, `backends.hostlinks`: the bridges, the
    host's own settings and firewall, and the host's end of each bridge port) while a
    forked child starts on the entries that may be checked anywhere (the /etc files); then both take
    the rest from one queue (`TaskPipe`), a few hundred entries or a few namespaces at a time, until none
    is left. A pair with one end in the host and the other in a namespace is checked end by end
    (`view.elsewhere`): the host's end here (unless it is exactly as the last check read it,
    `LiveView.port_as_kept`), the other where its namespace is read."""
    if view.memo is None:
        view.memo = {}
    if len(docs) < SPLIT_AT:
        return _all_ok(docs, view, state)
    host, homes, ports, anywhere = _partition(docs)
    refs = sorted(set(homes) | set(ports))
    # The entries checked anywhere come first: the child takes them while this process reads the host,
    # whose link dump (thousands of bridge ports) makes every other netlink dump on the machine about
    # twenty times slower while it is sent (docs/performance.md, the fifth pass).
    most = max(CHUNK_ANYWHERE, -(-len(anywhere) // (MAX_TASKS // 4)))
    tasks: list = [anywhere[i:i + most] for i in range(0, len(anywhere), most)]
    first = len(tasks)  # (then the namespaces, a few at a time)
    size = max(CHUNK, -(-len(refs) // (MAX_TASKS * 3 // 4)))
    tasks += [refs[i:i + size] for i in range(0, len(refs), size)]
    queue = TaskPipe(len(tasks))
    if not queue.full:
        queue.close()
        return _all_ok(docs, view, state)
    view.k.room_for(len(refs))  # (this process opens its namespaces a chunk at a time)

    def namespaces(v: LiveView, some: list[str]) -> bool:
        """The entries of these namespaces; of each pair with an end in the host, the other end only."""
        v.read_digests(some)
        if not _all_ok(_unvouched([homes.get(r) for r in some], v), v, state, sifted=True):
            return False
        with v.checked_elsewhere({""}):
            return _all_ok(_unvouched([ports.get(r) for r in some], v), v, state, sifted=True)

    def task(v: LiveView, i: int) -> bool:
        return _all_ok(tasks[i], v, state, []) if i < first else namespaces(v, tasks[i])

    def host_ends(v: LiveView) -> bool:
        """The host's end of each bridge port, but those exactly as the last check read them (the other
        ends are checked where their namespaces are read)."""
        with v.checked_elsewhere(ports):
            return _all_ok([d for r in ports for ds in ports[r].values() for d in ds if not _end_as_kept(d, v)],
                           v, state, sifted=True)

    said: list[bool] = []  # (this process's answer, once it has one; in the forked child, never one)

    def here() -> bool:
        ok = _all_ok(host, view, state) and host_ends(view) and all(task(view, i) for i in queue)
        if not ok:
            queue.drain()  # (the answer is no: the child need not go on)
        said.append(ok)
        return ok

    def in_child():
        other = LiveView(view.k, view.memo, view.ports)
        if said == [False]:
            ok = False  # (done here, after the child failed: the answer is no already)
        else:
            ok = all(task(other, i) for i in queue.for_child())
            if not ok:
                queue.drain()
        return ok, other.digests, other.unsettled

    try:
        ours, (theirs, digests, unsettled) = view.k.split_work(in_child, here)
    finally:
        queue.close()
    view.given(digests, unsettled)
    return ours and theirs
