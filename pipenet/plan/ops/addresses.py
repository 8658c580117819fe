"""Addresses and routes.

pipenet's addresses carry its protocol number (IFA_PROTO) and its routes
the same number as their routing protocol (`ip route` shows `proto 112`):
a route is deleted only with that protocol, so the kernel itself refuses to
take someone else's route of the same destination, and an address is
removed only when it carries the mark (an address adopted on an external
bridge never is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pipenet.backends.objects import PIPENET_PROTO
from pipenet.plan.ops.base import ADOPTED, OK, Op, changed, foreign, ip_cmd, missing


@dataclass
class AddAddress(Op):
    kind: ClassVar[str] = "addr"
    node: str
    ns: str
    ifname: str
    ip: str
    prefixlen: int
    link_key: str = ""
    nodad: bool = False  # IPv6 without duplicate address detection: pipenet owns the segment

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
        k.addr_add(self.ns, self.ifname, self.ip, self.prefixlen, nodad=self.nodad)

    def undo(self, k):
        k.addr_del(self.ns, self.ifname, self.ip, self.prefixlen)

    vouched_by: ClassVar[tuple[str, ...]] = ("ns",)

    def check(self, view):
        live = view.namespace(self.ns)
        found = [a for a in (live.addresses_of(self.ifname) if live is not None else ())
                 if a.ip == self.ip and a.prefixlen == self.prefixlen]
        if not found:
            return missing(f"address {self.ip}/{self.prefixlen} on {self.ifname}", f"{self.ip}/{self.prefixlen}")
        if not self.link_key and found[0].proto != PIPENET_PROTO:
            return ADOPTED  # on an interface that is not pipenet's (an external bridge): it was there before
        return OK

    def describe(self):
        # (pipenet also marks the address with IFA_PROTO 112; iproute2 before 6.3 cannot write that)
        extra = ["nodad"] if self.nodad and ":" in self.ip else []
        return [ip_cmd(self.ns, "addr", "add", f"{self.ip}/{self.prefixlen}", "dev", self.ifname, *extra)]

    def describe_undo(self):
        return [ip_cmd(self.ns, "addr", "del", f"{self.ip}/{self.prefixlen}", "dev", self.ifname)]


def _family(dest: str | None, via: str | None) -> int:
    return 6 if ":" in (via or dest or "") else 4


@dataclass
class AddRoute(Op):
    kind: ClassVar[str] = "route"
    repairable: ClassVar[bool] = True
    node: str
    ns: str
    dest: str | None
    via: str | None = None
    dev: str | None = None
    metric: int | None = None
    link_keys: tuple = ()

    @property
    def key(self):
        # a dual-stack node has a default route of each family: the IPv6 one is `default6`
        dest = self.dest or ("default6" if _family(self.dest, self.via) == 6 else "default")
        return f"route:{self.node}:{dest}:{self.metric or 0}"

    @property
    def parents(self):
        ps = [f"netns:{self.node}"] if self.node != "host" else []
        return tuple(ps) + tuple(self.link_keys)

    @property
    def live_metric(self) -> int:
        """The metric the kernel gives the route (IPv6 routes without one get 1024)."""
        if self.metric is not None:
            return self.metric
        return 1024 if _family(self.dest, self.via) == 6 else 0

    def apply(self, k):
        k.route_add(self.ns, self.dest, self.via, self.dev, self.metric)

    def undo(self, k):
        k.route_del(self.ns, self.dest, self.via, self.dev, self.metric)

    vouched_by: ClassVar[tuple[str, ...]] = ("ns",)

    def check(self, view):
        live = view.namespace(self.ns)
        dest = self.dest or "default"
        family = _family(self.dest, self.via)
        found = [r for r in (live.routes if live is not None else ())
                 if r.dest == dest and r.family == family and r.metric == self.live_metric]
        if not found:
            return missing(f"route {dest} in {self.node}", self._text())
        r = found[0]
        if (self.via is None or r.via == self.via) and (self.dev is None or r.dev == self.dev):
            return OK
        actual = f"{dest}" + (f" via {r.via}" if r.via else "") + (f" dev {r.dev}" if r.dev else "")
        if r.proto != PIPENET_PROTO:
            return foreign(f"a route {actual} exists in {self.node} and pipenet did not make it")
        return changed(f"route {dest} in {self.node} is {actual}", self._text(), actual,
                       observed={"via": r.via, "dev": r.dev})

    def repair(self, k, observed):
        k.route_add(self.ns, self.dest, self.via, self.dev, self.metric, replace=True)

    def unrepair(self, k, observed):
        k.route_add(self.ns, self.dest, observed.get("via"), observed.get("dev"), self.metric, replace=True)

    def _args(self):
        args = [self.dest or "default"]
        if self.via:
            args += ["via", self.via]
        if self.dev:
            args += ["dev", self.dev]
        if self.metric is not None:
            args += ["metric", self.metric]
        return args

    def _text(self) -> str:
        return " ".join(str(a) for a in self._args())

    def describe(self):
        return [ip_cmd(self.ns, "route", "add", *self._args(), "proto", PIPENET_PROTO)]

    def describe_undo(self):
        return [ip_cmd(self.ns, "route", "del", *self._args(), "proto", PIPENET_PROTO)]

    def describe_repair(self, observed):
        return [ip_cmd(self.ns, "route", "replace", *self._args(), "proto", PIPENET_PROTO)]
