"""Sockets inside the lab's namespaces, opened once per run and closed at its end.

A socket belongs to the network namespace it was created in, whichever
thread later uses it. So the runner has the kernel backend's namespace
worker (`k.in_namespace`) create each socket inside the node, and then uses it
from its own event loop like any other: a raw ICMP socket per node that
pings, a route-netlink socket per namespace for the neighbour footprint,
one socket per TCP or UDP probe, the temporary listeners.
"""

from __future__ import annotations

import socket

from pipenet.expect.ping import Pinger
from pipenet.expect.rtnl import Rtnl


def _proc_net_reader(proto: str):
    def read() -> str:
        parts = []
        for name in (proto, proto + "6"):
            try:
                with open(f"/proc/thread-self/net/{name}") as f:
                    parts.append(f.read())
            except OSError:
                pass
        return "\n".join(parts)

    return read


class Places:
    def __init__(self, k):
        self.k = k
        self.pingers: dict[tuple[str, int], Pinger] = {}
        self.rtnls: dict[str, Rtnl] = {}

    def inside(self, ref: str, fn):
        return self.k.in_namespace(ref, fn)

    def socket(self, ref: str, family: int, kind: int) -> socket.socket:
        return self.inside(ref, lambda: socket.socket(family, kind))

    def opener(self, ref: str):
        return lambda family, kind: self.socket(ref, family, kind)

    def pinger(self, ref: str, version: int) -> Pinger:
        p = self.pingers.get((ref, version))
        if p is None:
            p = self.pingers[(ref, version)] = Pinger(self.inside(ref, lambda: Pinger.open_here(version)), version)
        return p

    def rtnl(self, ref: str) -> Rtnl:
        r = self.rtnls.get(ref)
        if r is None:
            r = self.rtnls[ref] = Rtnl(self.inside(ref, lambda: socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)))
        return r

    def read_net(self, ref: str, proto: str) -> str:
        """/proc/net/tcp (or udp), v4 and v6, as the namespace sees it."""
        return self.inside(ref, _proc_net_reader(proto))

    def close(self) -> None:
        for p in self.pingers.values():
            p.close()
        for r in self.rtnls.values():
            r.close()
        self.pingers.clear()
        self.rtnls.clear()
