"""The topology as plain data: frozen dataclasses, no kernel knowledge.

The expander (`pipenet.lang.expand`) builds these from the syntax tree; the
validation passes read them; the allocator fills in addresses and MACs; the
planner turns them into operations. Every node carries the `Span` of the
statement that made it, and `spans` maps a field name to the span of the
token that set it, so later stages can point at exactly the right word.
`spans` is excluded from equality: two topologies are equal when they
describe the same network, wherever it was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

from netaddr import IPAddress, IPNetwork

from pipenet.source import NOWHERE, Span


def _span() -> Span:
    return field(default=NOWHERE, compare=False, repr=False)


def _spans() -> Mapping[str, Span]:
    return field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class IfAddr:
    """An interface address as written: an IP and, when given, a prefix length.

    `10.1.1.1` (no prefix) and `10.1.1.1/32` differ: the first on a p2p end
    means "a /32 plus a host route to the peer", the second only a /32.
    """

    ip: IPAddress
    prefix: int | None = None

    @property
    def version(self) -> int:
        return self.ip.version

    def with_prefix(self, prefix: int | None = None) -> IfAddr:
        return IfAddr(self.ip, self.prefix if prefix is None else prefix)

    @property
    def prefixlen(self) -> int:
        """The prefix in force: as written, or a host prefix (/32, /128) when none was."""
        if self.prefix is not None:
            return self.prefix
        return 32 if self.ip.version == 4 else 128

    @cached_property  # (asked for every route's gateway against every address: made once; not a field)
    def network(self) -> IPNetwork:
        return IPNetwork(f"{self.ip}/{self.prefixlen}").cidr

    def reaches(self, ip: IPAddress) -> bool:
        """Whether `ip` is on this address's network (`ip in self.network`, in integers: the planner asks
        it of every route's gateway, and making the network costs more than the question)."""
        if ip.version != self.ip.version:
            return False
        return (int(ip) ^ int(self.ip)) >> ((32 if ip.version == 4 else 128) - self.prefixlen) == 0

    @property
    def cidr(self) -> str:
        return f"{self.ip}/{self.prefixlen}"

    def __str__(self) -> str:
        return str(self.ip) if self.prefix is None else f"{self.ip}/{self.prefix}"


@dataclass(frozen=True)
class Port:
    number: int
    proto: str = "tcp"

    def __str__(self) -> str:
        return f"{self.number}/{self.proto}"


@dataclass(frozen=True)
class Publish:
    """`publish [HOSTIP:]HOSTPORT:PORT[/PROTO]`; host_port None means "pick one" (Docker `-p PORT`)."""

    host_ip: IPAddress | None
    host_port: int | None
    port: int
    proto: str = "tcp"
    span: Span = _span()

    def __str__(self) -> str:
        head = f"{self.host_ip}:" if self.host_ip is not None else ""
        hp = "" if self.host_port is None else str(self.host_port)
        return f"{head}{hp}:{self.port}/{self.proto}" if (head or hp) else f"{self.port}/{self.proto}"


@dataclass(frozen=True)
class Link:
    target: str
    alias: str | None = None
    span: Span = _span()
    spans: Mapping[str, Span] = _spans()


@dataclass(frozen=True)
class AddHost:
    name: str
    ip: IPAddress
    span: Span = _span()


@dataclass(frozen=True)
class Run:
    """`run "COMMAND"`: argv split like a shell would, never given to one."""

    command: str
    argv: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class NodePath:
    """`file PATH ...` or `private PATH`: what a node's processes see at PATH, the node's own (the
    host's PATH is never written)."""

    what: str  # "file" or "private"
    path: str  # absolute, normalised
    content: str | None = None  # a file's text (read from `from "SRC"` when given so)
    source: str | None = None  # the file `from "SRC"` read, as an absolute path
    uid: int = 0
    gid: int = 0
    mode: int = 0o644
    span: Span = _span()
    spans: Mapping[str, Span] = _spans()


@dataclass(frozen=True)
class Route:
    dest: IPNetwork | None  # None means default
    via: IPAddress | None = None
    dev: str | None = None
    metric: int | None = None
    span: Span = _span()
    spans: Mapping[str, Span] = _spans()

    @property
    def dest_text(self) -> str:
        return "default" if self.dest is None else str(self.dest)


@dataclass(frozen=True)
class Sysctl:
    key: str
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Masquerade:
    """`masquerade out IF`: NAT whatever leaves IF (a home modem)."""

    out: str
    span: Span = _span()


@dataclass(frozen=True)
class Shape:
    """Link shaping on one interface: netem (delay, jitter, loss) and tbf (rate).

    Times are in milliseconds, loss in percent, rate in bits per second;
    `text` keeps each option as written, for plans and formatting.
    """

    ifname: str
    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    rate_bps: int | None = None
    text: Mapping[str, str] = field(default_factory=dict, compare=False)
    span: Span = _span()

    @property
    def needs_netem(self) -> bool:
        return any(v is not None for v in (self.delay_ms, self.jitter_ms, self.loss_pct))


#: the key in an interface's `spans` of an `address` the file gives but that could not be read (an error
#: already reported): the allocator gives that interface no pool address in its place (`allocate`), so
#: that one error is not followed by a second about the pool it would have drained
UNREADABLE_ADDRESS = "unreadable address"


@dataclass(frozen=True)
class Interface:
    """An interface of a container.

    kind: the name of its kind in `pipenet.kinds` (`port`, `dummy`,
    `macvlan`, `vlan`, ...), whose module says what the other fields mean
    for it. What the generic stages read: `bridge` (a port's bridge; eth0
    of `net BRIDGE` is a port, marked `primary`), `parent` (the interface
    it is made on, in node `parent_node`, or in its own node when that is
    None), `host_name` (a port's host end, when named; else pipenet makes a
    name, `pipenet.plan.names.host_port_name`). `settings` is the kind's
    own (a frozen dataclass of its module: a VLAN id, a macvlan mode), or
    None for a kind without any.
    """

    name: str
    kind: str
    bridge: str | None = None
    parent: str | None = None
    parent_node: str | None = None
    settings: Any = None
    address: IfAddr | None = None
    mac: str | None = None
    mtu: int | None = None
    primary: bool = False
    host_name: str | None = None  # a port's host end, when named (`host-name`, pipework's -l)
    address6: IfAddr | None = None  # dual stack: the IPv6 address, when `address` is the IPv4 one
    span: Span = _span()
    spans: Mapping[str, Span] = _spans()

    @cached_property  # (asked for ten times per container by the planner: made once; not a field)
    def addresses(self) -> tuple[IfAddr, ...]:
        """Every address of the interface: one, or an IPv4 and an IPv6 one (dual stack)."""
        return tuple(a for a in (self.address, self.address6) if a is not None)

    def address_of(self, version: int) -> IfAddr | None:
        return next((a for a in self.addresses if a.version == version), None)


@dataclass(frozen=True)
class Net:
    """How a container is networked: none, host, bridge (with `target`), container (with `target`)."""

    kind: str = "none"
    target: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Attach:
    """An existing namespace (pipework's use): by `pid`, `netns` path, or `docker` container name."""

    kind: str
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Container:
    name: str
    hostname: str
    net: Net = Net()
    interfaces: tuple[Interface, ...] = ()
    dns: tuple[IPAddress, ...] = ()
    dns_search: tuple[str, ...] = ()
    add_hosts: tuple[AddHost, ...] = ()
    expose: tuple[Port, ...] = ()
    publish: tuple[Publish, ...] = ()
    publish_all: bool = False
    links: tuple[Link, ...] = ()
    run: tuple[Run, ...] = ()
    routes: tuple[Route, ...] = ()
    forwarding: bool | None = None
    masquerade: tuple[Masquerade, ...] = ()
    sysctls: tuple[Sysctl, ...] = ()
    shapes: tuple[Shape, ...] = ()
    attach: Attach | None = None
    paths: tuple[NodePath, ...] = ()
    machine: str | None = None  # `machine M`: the machine it lives on (None: the one pipenet runs on)
    span: Span = _span()
    spans: Mapping[str, Span] = _spans()

    @property
    def uts_hostname(self) -> str | None:
        """The hostname its processes see: its own, or, in the host's namespace (`net host`), the host's
        (as Docker keeps it with --net=host): hostname, /etc/hosts and /etc/hostname then agree."""
        return None if self.net.kind == "host" else self.hostname

    @property
    def primary(self) -> Interface | None:
        for i in self.interfaces:
            if i.primary:
                return i
        return None

    def private_holding(self, path: str) -> str | None:
        """The innermost of the node's `private` directories that `path` lies in, if any (what is
        inside one is kept in it, and needs no mount point of its own)."""
        best = None
        for p in self.paths:
            if p.what == "private" and path.startswith(p.path + "/") and (best is None or len(p.path) > len(best)):
                best = p.path
        return best

    def interface(self, name: str) -> Interface | None:
        for i in self.interfaces:
            if i.name == name:
                return i
        return None


@dataclass(frozen=True)
class Bridge:
    name: str
    address: IfAddr | None = None
    auto: bool = False
    pool: IPNetwork | None = None
    mtu: int | None = None
    icc: bool = True
    masquerade: bool | None = None  # None: on when the bridge has an address
    external: bool = False
    address6: IfAddr | None = None  # dual stack: the IPv6 address, when `address` is IPv4 (or auto)
    pool6: IPNetwork | None = None  # the pool of address6's subnet (Docker --fixed-cidr-v6)
    machine: str | None = None  # `machine M`: where its address and NAT live (None: the local machine)
    span: Span = _span()
    spans: Mapping[str, Span] = _spans()

    @property
    def subnet(self) -> IPNetwork | None:
        return self.address.network if self.address is not None and self.address.prefix is not None else None

    @property
    def subnet6(self) -> IPNetwork | None:
        """The subnet of the second family of a dual-stack bridge."""
        return self.address6.network if self.address6 is not None and self.address6.prefix is not None else None

    @property
    def addresses(self) -> tuple[IfAddr, ...]:
        return tuple(a for a in (self.address, self.address6) if a is not None)

    def address_of(self, version: int) -> IfAddr | None:
        return next((a for a in self.addresses if a.version == version), None)

    @property
    def has_ipv6(self) -> bool:
        return self.address_of(6) is not None

    @property
    def gateway(self) -> bool:
        return self.address is not None or self.auto

    @property
    def nat(self) -> bool:
        return self.gateway if self.masquerade is None else self.masquerade


@dataclass(frozen=True)
class P2PEnd:
    node: str
    ifname: str
    address: IfAddr | None = None
    mac: str | None = None
    span: Span = _span()
    spans: Mapping[str, Span] = _spans()

    @property
    def ref(self) -> str:
        return f"{self.node}:{self.ifname}"


@dataclass(frozen=True)
class P2PLink:
    a: P2PEnd
    b: P2PEnd
    mtu: int | None = None
    shape: Shape | None = None
    span: Span = _span()

    def peer_of(self, end: P2PEnd) -> P2PEnd:
        return self.b if end is self.a else self.a


@dataclass(frozen=True)
class HostConfig:
    """The few things a topology may change in the namespace pipenet runs in."""

    routes: tuple[Route, ...] = ()
    forwarding: bool | None = None
    masquerade: tuple[Masquerade, ...] = ()
    sysctls: tuple[Sysctl, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Target:
    """What an expectation probes: a node, an address or `host`, optionally a port."""

    node: str | None
    ip: IPAddress | None
    port: Port | None = None
    span: Span = _span()

    def __str__(self) -> str:
        who = self.node if self.node is not None else str(self.ip)
        return who if self.port is None else f"{who}:{self.port}"


@dataclass(frozen=True)
class AllPairs:
    """`expect all of SOURCES can reach all of TARGETS`: one statement that stands for every ordered pair of
    the nodes its globs match (a node never probes itself). Each pair is an `Expectation` of its own, which
    points back here (`Expectation.statement`), so probing, slicing across machines and results treat a pair
    like any expectation, and the report can still sum a statement up as one matrix.

    `sources` and `targets` are the matched node names in file order (the matrix's rows and columns);
    `index` tells apart two statements with the same words (from a loop)."""

    kind: str  # `reach` or `unreach`
    source_glob: str
    target_glob: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    port: Port | None = None
    within: float | None = None
    family: int | None = None
    index: int = 0
    span: Span = _span()

    def describe(self) -> str:
        verb = "can reach" if self.kind == "reach" else "cannot reach"
        port = f":{self.port}" if self.port is not None else ""
        over = f" over ipv{self.family}" if self.family is not None else ""
        within = f" within {self.within:g}s" if self.within is not None else ""
        return f"all of {self.source_glob} {verb} all of {self.target_glob}{port}{over}{within}"


@dataclass(frozen=True)
class Expectation:
    """kind: `reach` (with optional `as_ip`), `unreach`, or `resolves` (`name` to `ip`). `statement`: the
    all-pairs statement this expectation is one pair of (None for a single `expect`)."""

    kind: str
    source: str
    target: Target | None = None
    as_ip: IPAddress | None = None
    as_node: str | None = None
    name: str | None = None
    ip: IPAddress | None = None
    within: float | None = None  # seconds: retry until it holds, or until then (`within 30s`)
    family: int | None = None  # `over ipv4|ipv6`: which of a node's addresses a name means (None: its primary)
    span: Span = _span()
    spans: Mapping[str, Span] = _spans()
    statement: AllPairs | None = None

    def describe(self) -> str:
        if self.kind == "resolves":
            return f"{self.source} resolves {self.name} to {self.ip}"
        verb = "can reach" if self.kind == "reach" else "cannot reach"
        as_what = self.as_ip if self.as_ip is not None else self.as_node
        tail = f" as {as_what}" if as_what is not None else ""
        over = f" over ipv{self.family}" if self.family is not None else ""
        within = f" within {self.within:g}s" if self.within is not None else ""
        return f"{self.source} {verb} {self.target}{tail}{over}{within}"


@dataclass(frozen=True)
class Machine:
    """`machine NAME { ssh [USER@]HOST; underlay ADDR; pipenet "PATH" }`: another machine a topology spans.

    `ssh` is what the system's ssh client is given (user and host); `underlay` the machine's address for
    tunnels (None: the address `ssh` connects to, when it is one); `pipenet` the program to run there.
    """

    name: str
    ssh: str | None = None
    underlay: IPAddress | None = None
    pipenet: str | None = None
    span: Span = _span()
    spans: Mapping[str, Span] = _spans()

    @property
    def host(self) -> str | None:
        """The host part of `ssh` (what ssh connects to)."""
        return None if self.ssh is None else self.ssh.rpartition("@")[2]


@dataclass(frozen=True)
class Tunnel:
    """A bridge's VXLAN device to the other machines its segment spans: made by slicing a topology for one
    machine (`pipenet.plan.slice`), never written in a file. `remotes`: the other machines' underlays."""

    bridge: str
    name: str
    vni: int
    port: int
    local: IPAddress
    remotes: tuple[IPAddress, ...]
    mtu: int | None = None


@dataclass(frozen=True)
class Topology:
    name: str
    file: str
    bridges: tuple[Bridge, ...] = ()
    containers: tuple[Container, ...] = ()
    p2p: tuple[P2PLink, ...] = ()
    host: HostConfig = HostConfig()
    hosts_auto: bool = False
    expectations: tuple[Expectation, ...] = ()
    machines: tuple[Machine, ...] = ()
    tunnels: tuple[Tunnel, ...] = ()  # (a slice's: see Tunnel)
    machine: str | None = None  # (a slice's: the machine it is for)
    span: Span = field(default=NOWHERE, compare=False)

    @cached_property
    def bridge_map(self) -> dict[str, Bridge]:
        return {b.name: b for b in self.bridges}

    @cached_property
    def container_map(self) -> dict[str, Container]:
        return {c.name: c for c in self.containers}

    @cached_property
    def machine_map(self) -> dict[str, Machine]:
        return {m.name: m for m in self.machines}
