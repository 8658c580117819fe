"""What the kernel has, as plain data: the answer to "what is live?".

Both kernels (the real one and the recording one) describe a namespace with
these, so an operation's live check reads the same shapes in fast unit tests
and on the real kernel. They are read once per namespace per command
(`pipenet.engine.live.LiveView`) and never change the system.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

#: the prefix of every mark pipenet writes (interface aliases, rule comments)
MARK_PREFIX = "pipenet:"
#: the protocol number pipenet's routes (rtm_protocol) and addresses (IFA_PROTO) carry: its mark on them,
#: shown by `ip route` as "proto 112" (unassigned in /etc/iproute2/rt_protos)
PIPENET_PROTO = 112


def mark(topology: str, key: str = "") -> str:
    """The mark pipenet puts on an object it makes: the topology's name and the object's key."""
    return f"{MARK_PREFIX}{topology}:{key}" if key else f"{MARK_PREFIX}{topology}"


def mark_topology(text: str | None) -> str | None:
    """The topology a mark names (None when `text` is not a pipenet mark)."""
    if not text or not text.startswith(MARK_PREFIX):
        return None
    return text[len(MARK_PREFIX):].split(":", 1)[0]


class Link(NamedTuple):  # (tuples: a thousand namespaces' worth are made, and sent between processes)
    name: str
    index: int
    kind: str | None = None  # "bridge", "veth", "macvlan", ... (None: a physical or loopback device)
    mac: str | None = None
    mtu: int | None = None
    up: bool = False
    master: str | None = None  # the bridge it is a port of, by name
    alias: str | None = None  # pipenet's mark when pipenet made it
    group: int = 0
    peer_index: int | None = None  # a veth's peer, as an index in the peer's namespace
    hairpin: bool | None = None  # a bridge port's hairpin mode
    data: bytes | None = None  # its kind's own settings as the kernel has them (IFLA_INFO_DATA; see nlmsg)


class Address(NamedTuple):
    ifname: str
    ip: str
    prefixlen: int
    proto: int = 0  # IFA_PROTO: pipenet's addresses carry its own
    tentative: bool = False  # IPv6 duplicate address detection still running

    @property
    def cidr(self) -> str:
        return f"{self.ip}/{self.prefixlen}"


class Route(NamedTuple):
    dest: str  # "default" or NETWORK/LEN
    via: str | None = None
    dev: str | None = None
    metric: int = 0
    proto: int = 0
    family: int = 4


class Qdisc(NamedTuple):
    """A root qdisc as pipenet reads it back: its kind and the parameters pipenet sets."""

    kind: str
    rate_bps: int | None = None
    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    child: "Qdisc | None" = None  # tbf under netem


@dataclass
class Namespace:
    """Links, addresses and routes of one network namespace (the main routing table)."""

    inode: int
    links: dict[str, Link] = field(default_factory=dict)
    addresses: list[Address] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)

    @property
    def mark(self) -> str | None:
        """A namespace pipenet made carries its mark on its loopback interface."""
        lo = self.links.get("lo")
        return lo.alias if lo is not None else None

    def addresses_of(self, ifname: str) -> list[Address]:
        return [a for a in self.addresses if a.ifname == ifname]
