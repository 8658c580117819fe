"""Operations: the steps of a plan. Each can `apply`, `undo` and `describe` itself.

An operation is plain data (namespace refs and names, never open handles),
so it can be written to the journal before it runs, kept in the state
record after, and undone by a later process: `down` undoes exactly the
operations the record lists, in reverse. `describe` gives the command a
person would type for the same change (`pipenet plan --format sh`).

`key` names the kernel object an operation makes; `parents` are the keys of
the objects it lives in or on (an address lives on an interface, which lives
in a namespace). When a parent goes, the kernel takes the children with it,
so they need no undo of their own, and must be made again if still wanted.
`saved` holds what an operation found before it changed something
(a sysctl's earlier value), so its undo restores exactly that.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field, fields
from typing import ClassVar

REGISTRY: dict[str, type] = {}
_FIELDS: dict[type, tuple[str, ...]] = {}


def _names(cls) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


#: a canonical text for plain data: equal values, equal text (dict order and list/tuple aside)
_canon = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _frozen(v):
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    return v


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _q(s) -> str:
    return shlex.quote(str(s))


def ip_cmd(ns: str, *args) -> str:
    """The `ip` command line for namespace ref `ns`."""
    words = " ".join(_q(a) for a in args)
    if ns == "":
        return f"ip {words}"
    if ns.startswith("/"):
        return f"nsenter --net={_q(ns)} ip {words}"
    return f"ip -n {_q(ns)} {words}"


def in_ns_cmd(ns: str, *argv) -> str:
    words = " ".join(_q(a) for a in argv)
    if ns == "":
        return words
    if ns.startswith("/"):
        return f"nsenter --net={_q(ns)} {words}"
    return f"ip netns exec {_q(ns)} {words}"


@dataclass
class Op:
    kind: ClassVar[str] = "op"
    #: True when undoing this op removes every object listed as its child
    destroys_children: ClassVar[bool] = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        REGISTRY[cls.kind] = cls

    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def parents(self) -> tuple[str, ...]:
        """Keys of objects whose removal takes this op's object with it (the kernel cascades)."""
        return ()

    @property
    def depends(self) -> tuple[str, ...]:
        """Keys of objects that, when re-made, require re-making this op (no cascade)."""
        return ()

    def prepare(self, k) -> None:
        """Read what apply will overwrite (into `saved`), before the journal entry is written."""

    def apply(self, k) -> None:
        raise NotImplementedError

    def undo(self, k) -> None:
        raise NotImplementedError

    def describe(self) -> list[str]:
        raise NotImplementedError

    def describe_undo(self) -> list[str]:
        return [f"# undo: {self.describe()[0]}"]

    def batch_key(self):
        """Ops whose removals share a key can be removed together in one kernel request."""
        return None

    def identity(self) -> str:
        """What makes two ops the same change (saved state excluded), as canonical JSON text, so an op
        read back from the record compares equal to the same op compiled anew. (Text, because the
        encoder is C: at thousands of ops a no-op `up` is mostly this comparison.) An op read from
        the record keeps the identity of the exact JSON it was read from."""
        known = self.__dict__.get("_identity")
        if known is not None:
            return known
        return _canon([self.kind] + [getattr(self, n) for n in _names(type(self)) if n != "saved"])

    def to_json(self) -> dict:
        d = {n: _plain(getattr(self, n)) for n in _names(type(self))}
        d["kind"] = self.kind
        return d

    @staticmethod
    def from_json(d: dict) -> Op:
        raw = d
        d = dict(d)
        cls = REGISTRY[d.pop("kind")]
        names = _names(cls)
        for n in names:
            if isinstance(d.get(n), list):
                d[n] = _frozen(d[n])
        op = cls(**d)
        op.__dict__["_identity"] = _canon([op.kind] + [raw[n] if n in raw else getattr(op, n)
                                                       for n in names if n != "saved"])
        return op


# ---- namespaces -----------------------------------------------------------------------------------------
@dataclass
class CreateNamespace(Op):
    kind: ClassVar[str] = "netns"
    destroys_children: ClassVar[bool] = True
    node: str
    ns: str

    @property
    def key(self):
        return f"netns:{self.node}"

    def apply(self, k):
        k.netns_create(self.ns)

    def undo(self, k):
        k.netns_delete(self.ns)

    def describe(self):
        return [f"ip netns add {_q(self.ns)}", ip_cmd(self.ns, "link", "set", "lo", "up")]

    def describe_undo(self):
        return [f"ip netns delete {_q(self.ns)}"]


@dataclass
class UseNamespace(Op):
    """An attached namespace: checked, used, never created or deleted."""

    kind: ClassVar[str] = "use-netns"
    node: str
    ns: str

    @property
    def key(self):
        return f"netns:{self.node}"

    def apply(self, k):
        if not k.netns_exists(self.ns):
            raise FileNotFoundError(2, f"namespace {self.ns} does not exist")
        k.netns_inode(self.ns)

    def undo(self, k):
        pass

    def describe(self):
        return [f"# use the existing namespace {self.ns} ({self.node})"]

    def describe_undo(self):
        return [f"# leave the namespace {self.ns} ({self.node}) as it was"]


# ---- links -------------------------------------------------------------------------------------------------
@dataclass
class CreateBridge(Op):
    kind: ClassVar[str] = "bridge"
    destroys_children: ClassVar[bool] = True
    name: str
    mtu: int | None = None

    @property
    def key(self):
        return f"link:host:{self.name}"

    def apply(self, k):
        k.bridge_add(self.name, self.mtu)

    def undo(self, k):
        k.link_del("", self.name)

    def describe(self):
        mtu = ["mtu", self.mtu] if self.mtu else []
        return [ip_cmd("", "link", "add", self.name, *mtu, "type", "bridge"), ip_cmd("", "link", "set", self.name, "up")]

    def describe_undo(self):
        return [ip_cmd("", "link", "delete", self.name)]


@dataclass
class AddVeth(Op):
    """A veth pair: `name` in namespace `ns` (node `node`), `peer` in `peer_ns` (node `peer_node`).

    A bridge port is one whose host end is enslaved to `master`.
    """

    kind: ClassVar[str] = "veth"
    destroys_children: ClassVar[bool] = True
    node: str
    ns: str
    name: str
    peer_node: str
    peer_ns: str
    peer: str
    mac: str | None = None
    peer_mac: str | None = None
    mtu: int | None = None
    master: str | None = None
    hairpin: bool = False
    group: int | None = None  # a netdev group for the host ends of a topology's ports (batched deletion)

    @property
    def key(self):
        return f"link:{self.peer_node}:{self.peer}" if self.master else f"link:{self.node}:{self.name}"

    def batch_key(self):
        """Removals with the same key may be done in one request (`undo_many`)."""
        return (self.ns, self.group) if self.group else None

    @staticmethod
    def undo_many(ops: list, k) -> None:
        k.link_del_many(ops[0].ns, [o.name for o in ops], ops[0].group)
        for o in ops:
            k.link_forget(o.peer_ns, o.peer)

    @property
    def also(self) -> str:
        """The other end's key: children of either end depend on the pair."""
        return f"link:{self.node}:{self.name}" if self.master else f"link:{self.peer_node}:{self.peer}"

    @property
    def parents(self):
        # A namespace's deletion removes a veth only asynchronously (and a bridge's deletion
        # never removes its ports), so a pair with an end in the host is always deleted explicitly.
        if self.ns == "" or self.peer_ns == "":
            return ()
        return (f"netns:{self.node}", f"netns:{self.peer_node}")

    @property
    def depends(self):
        ps = [f"netns:{self.node}", f"netns:{self.peer_node}"]
        if self.master:
            ps.append(f"link:host:{self.master}")
        return tuple(p for p in ps if p != "netns:host")

    def apply(self, k):
        k.veth_add(self.ns, self.name, self.peer_ns, self.peer, mac=self.mac, peer_mac=self.peer_mac, mtu=self.mtu,
                   master=self.master, hairpin=self.hairpin, group=self.group)

    def undo(self, k):
        if k.netns_exists(self.ns):
            k.link_del(self.ns, self.name)
        k.link_forget(self.peer_ns, self.peer)

    def describe(self):
        opts = []
        if self.mtu:
            opts += ["mtu", self.mtu]
        if self.mac:
            opts += ["address", self.mac]
        if self.master:
            opts += ["master", self.master]
        peer = ["peer", "name", self.peer]
        if self.peer_ns != self.ns:
            peer += ["netns", self.peer_ns]
        if self.peer_mac:
            peer += ["address", self.peer_mac]
        if self.mtu:
            peer += ["mtu", self.mtu]
        out = [ip_cmd(self.ns, "link", "add", self.name, *opts, "up", "type", "veth", *peer),
               ip_cmd(self.peer_ns, "link", "set", self.peer, "up")]
        if self.hairpin:
            out.append(f"bridge link set dev {_q(self.name)} hairpin on")
        return out

    def describe_undo(self):
        return [ip_cmd(self.ns, "link", "delete", self.name)]


@dataclass
class AddLink(Op):
    """A dummy, macvlan or vlan interface (made on its parent's side, then moved when they differ)."""

    kind: ClassVar[str] = "link"
    destroys_children: ClassVar[bool] = True
    node: str
    ns: str
    name: str
    link_kind: str
    parent_node: str | None = None
    parent_ns: str | None = None
    parent: str | None = None
    mode: str | None = None
    vlan_id: int | None = None
    mac: str | None = None
    mtu: int | None = None

    @property
    def key(self):
        return f"link:{self.node}:{self.name}"

    @property
    def parents(self):
        ps = [f"netns:{self.node}"] if self.node != "host" else []
        if self.parent and self.parent_node and self.parent_node != "host":
            ps.append(f"link:{self.parent_node}:{self.parent}")
        return tuple(ps)

    def apply(self, k):
        k.link_add(self.ns, self.name, self.link_kind, parent_ns=self.parent_ns, parent=self.parent, mode=self.mode,
                   vlan_id=self.vlan_id, mac=self.mac, mtu=self.mtu)
        if self.parent_ns is None or self.parent_ns == self.ns:
            k.link_set(self.ns, self.name, up=True)

    def undo(self, k):
        if k.netns_exists(self.ns):
            k.link_del(self.ns, self.name)

    def describe(self):
        where = self.ns if self.parent_ns is None else self.parent_ns
        args = ["link", "add"]
        if self.parent:
            args += ["link", self.parent]
        args += ["name", self.name]
        if self.parent_ns is not None and self.parent_ns != self.ns:
            args += ["netns", self.ns]
        if self.mac:
            args += ["address", self.mac]
        if self.mtu:
            args += ["mtu", self.mtu]
        args += ["type", self.link_kind]
        if self.link_kind == "macvlan":
            args += ["mode", self.mode or "bridge"]
        if self.link_kind == "vlan":
            args += ["id", self.vlan_id]
        return [ip_cmd(where, *args), ip_cmd(self.ns, "link", "set", self.name, "up")]

    def describe_undo(self):
        return [ip_cmd(self.ns, "link", "delete", self.name)]


# ---- addresses, routes ----------------------------------------------------------------------------------------
@dataclass
class AddAddress(Op):
    kind: ClassVar[str] = "addr"
    node: str
    ns: str
    ifname: str
    ip: str
    prefixlen: int
    link_key: str = ""

    @property
    def key(self):
        return f"addr:{self.node}:{self.ifname}:{self.ip}/{self.prefixlen}"

    @property
    def parents(self):
        ps = [f"netns:{self.node}"] if self.node != "host" else []
        if self.link_key:
            ps.append(self.link_key)
        return tuple(ps)

    def apply(self, k):
        k.addr_add(self.ns, self.ifname, self.ip, self.prefixlen)

    def undo(self, k):
        k.addr_del(self.ns, self.ifname, self.ip, self.prefixlen)

    def describe(self):
        return [ip_cmd(self.ns, "addr", "add", f"{self.ip}/{self.prefixlen}", "dev", self.ifname)]

    def describe_undo(self):
        return [ip_cmd(self.ns, "addr", "del", f"{self.ip}/{self.prefixlen}", "dev", self.ifname)]


@dataclass
class AddRoute(Op):
    kind: ClassVar[str] = "route"
    node: str
    ns: str
    dest: str | None
    via: str | None = None
    dev: str | None = None
    metric: int | None = None
    link_keys: tuple = ()

    @property
    def key(self):
        return f"route:{self.node}:{self.dest or 'default'}:{self.metric or 0}"

    @property
    def parents(self):
        ps = [f"netns:{self.node}"] if self.node != "host" else []
        return tuple(ps) + tuple(self.link_keys)

    def apply(self, k):
        k.route_add(self.ns, self.dest, self.via, self.dev, self.metric)

    def undo(self, k):
        k.route_del(self.ns, self.dest, self.via, self.dev, self.metric)

    def _args(self):
        args = [self.dest or "default"]
        if self.via:
            args += ["via", self.via]
        if self.dev:
            args += ["dev", self.dev]
        if self.metric is not None:
            args += ["metric", self.metric]
        return args

    def describe(self):
        return [ip_cmd(self.ns, "route", "add", *self._args())]

    def describe_undo(self):
        return [ip_cmd(self.ns, "route", "del", *self._args())]


# ---- sysctls and shaping -------------------------------------------------------------------------------------
@dataclass
class SetSysctl(Op):
    kind: ClassVar[str] = "sysctl"
    node: str
    ns: str
    name: str
    value: str
    link_key: str = ""  # a per-interface setting lives and dies with its interface
    saved: dict = field(default_factory=dict)

    @property
    def key(self):
        return f"sysctl:{self.node}:{self.name}"

    @property
    def parents(self):
        ps = [f"netns:{self.node}"] if self.node != "host" else []
        return tuple(ps + ([self.link_key] if self.link_key else []))

    def prepare(self, k):
        self.saved = {"value": k.sysctl_get(self.ns, self.name)}

    def apply(self, k):
        k.sysctl_set(self.ns, self.name, self.value)

    def undo(self, k):
        if "value" in self.saved and k.netns_exists(self.ns):
            k.sysctl_set(self.ns, self.name, self.saved["value"])

    def describe(self):
        return [in_ns_cmd(self.ns, "sysctl", "-w", f"{self.name}={self.value}")]

    def describe_undo(self):
        old = self.saved.get("value", "<earlier value>")
        return [in_ns_cmd(self.ns, "sysctl", "-w", f"{self.name}={old}")]


@dataclass
class SetShape(Op):
    kind: ClassVar[str] = "shape"
    node: str
    ns: str
    ifname: str
    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    rate_bps: int | None = None
    link_key: str = ""

    @property
    def key(self):
        return f"shape:{self.node}:{self.ifname}"

    @property
    def parents(self):
        ps = [f"netns:{self.node}"] if self.node != "host" else []
        return tuple(ps + ([self.link_key] if self.link_key else []))

    def apply(self, k):
        k.qdisc_set(self.ns, self.ifname, self.delay_ms, self.jitter_ms, self.loss_pct, self.rate_bps)

    def undo(self, k):
        if k.netns_exists(self.ns):
            k.qdisc_del(self.ns, self.ifname)

    def describe(self):
        out = []
        netem = []
        if self.delay_ms:
            netem += ["delay", f"{self.delay_ms:g}ms"]
        if self.jitter_ms:
            netem += [f"{self.jitter_ms:g}ms"]
        if self.loss_pct:
            netem += ["loss", f"{self.loss_pct:g}%"]
        tc = lambda *a: in_ns_cmd(self.ns, "tc", "qdisc", "add", "dev", self.ifname, *a)  # noqa: E731
        if netem:
            out.append(tc("root", "handle", "1:", "netem", *netem))
        if self.rate_bps:
            parent = ["parent", "1:1", "handle", "10:"] if netem else ["root", "handle", "1:"]
            out.append(tc(*parent, "tbf", "rate", f"{self.rate_bps}bit", "burst", "16kb", "latency", "50ms"))
        return out

    def describe_undo(self):
        return [in_ns_cmd(self.ns, "tc", "qdisc", "del", "dev", self.ifname, "root")]


# ---- firewall ------------------------------------------------------------------------------------------------
@dataclass
class Firewall(Op):
    """One table of one namespace: the topology's chains, their rules, and the jumps to them."""

    kind: ClassVar[str] = "firewall"
    node: str
    ns: str
    table: str
    tag: str
    chains: tuple = ()  # ((name, (rule, ...)), ...)
    jumps: tuple = ()  # ((builtin, match, chain), ...)
    saved: dict = field(default_factory=dict)

    @property
    def key(self):
        return f"firewall:{self.node}:{self.table}"

    @property
    def parents(self):
        return (f"netns:{self.node}",) if self.node != "host" else ()

    def prepare(self, k):
        self.saved = {"existed": k.firewall_table_exists(self.ns, self.table)}

    def apply(self, k):
        k.firewall_install(self.ns, self.table, {c: list(r) for c, r in self.chains},
                           [tuple(j) for j in self.jumps], self.tag)

    def undo(self, k):
        if k.netns_exists(self.ns):
            k.firewall_remove(self.ns, self.table, [c for c, _ in self.chains], [tuple(j) for j in self.jumps],
                              self.tag, drop_table=self.saved.get("existed") is False)

    def _cmd(self, *args):
        return in_ns_cmd(self.ns, "iptables", "-t", self.table, *args)

    def describe(self):
        out = [self._cmd("-N", c) for c, _ in self.chains]
        for c, rules in self.chains:
            out += [f"{self._cmd('-A', c)} {r}" for r in rules]
        for builtin, match, chain in self.jumps:
            m = f"{match} " if match else ""
            out.append(f"{self._cmd('-I', builtin, '1')} {m}-m comment --comment {self.tag} -j {chain}")
        return out

    def describe_undo(self):
        out = []
        for builtin, match, chain in self.jumps:
            m = f"{match} " if match else ""
            out.append(f"{self._cmd('-D', builtin)} {m}-m comment --comment {self.tag} -j {chain}")
        out += [self._cmd("-F", c) for c, _ in self.chains] + [self._cmd("-X", c) for c, _ in self.chains]
        return out


@dataclass
class HostForwarding(Op):
    """IPv4 forwarding on the host, shared by every topology that needs it: the first turns it on
    (remembering the earlier value), the last to go down restores that value."""

    kind: ClassVar[str] = "host-forwarding"
    topology: str

    @property
    def key(self):
        return "host-forwarding"

    def apply(self, k):
        k.forwarding_acquire(self.topology)

    def undo(self, k):
        k.forwarding_release(self.topology)

    def describe(self):
        return ["sysctl -w net.ipv4.ip_forward=1"]

    def describe_undo(self):
        return ["sysctl -w net.ipv4.ip_forward=<earlier value>  # when no other topology needs it"]


# ---- files and processes --------------------------------------------------------------------------------------------
@dataclass
class WriteEtc(Op):
    """A node's own /etc files (hosts, resolv.conf, hostname) under /etc/netns/NAMESPACE/."""

    kind: ClassVar[str] = "etc"
    node: str
    directory: str
    files: tuple = ()  # ((name, content), ...)
    saved: dict = field(default_factory=dict)

    @property
    def key(self):
        return f"etc:{self.node}"

    def prepare(self, k):
        self.saved = k.etc_read(self.directory, [n for n, _ in self.files])

    def apply(self, k):
        k.etc_write(self.directory, {n: c for n, c in self.files})

    def undo(self, k):
        k.etc_restore(self.directory, self.saved)

    def describe(self):
        out = [f"mkdir -p {_q(self.directory)}"]
        for name, content in self.files:
            out.append(f"printf %s {_q(content)} > {_q(self.directory + '/' + name)}")
        return out

    def describe_undo(self):
        return [f"rm -r {_q(self.directory)}"]


@dataclass
class StartProcess(Op):
    """A `run` command: started in the node (namespace, hostname, /etc files) as its own process group."""

    kind: ClassVar[str] = "process"
    node: str
    ns: str
    index: int
    argv: tuple = ()
    hostname: str = ""
    etc: str = ""
    log: str = ""
    saved: dict = field(default_factory=dict)

    @property
    def key(self):
        return f"process:{self.node}:{self.index}"

    @property
    def parents(self):
        return ()

    @property
    def depends(self):
        return (f"netns:{self.node}", f"etc:{self.node}")

    @property
    def marker(self) -> str:
        return f"{self.log}"  # the log path names topology, node and index: unique to this process

    def apply(self, k):
        self.saved = k.process_start(self.ns, self.argv, self.hostname, self.etc, self.log, self.marker)

    def undo(self, k):
        k.process_stop(self.saved, self.marker, self.ns)

    def describe(self):
        return [in_ns_cmd(self.ns, *self.argv) + f" >> {_q(self.log)} 2>&1 &"]

    def describe_undo(self):
        pid = self.saved.get("pid", "PID")
        return [f"kill -TERM -{pid}  # then KILL after a grace period"]
