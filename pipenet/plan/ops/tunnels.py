"""A bridge's VXLAN tunnel to the other machines a topology spans (docs/multi-host.md).

One VXLAN device in the host's namespace, a port of the bridge, learning off,
with one static all-zeros forwarding entry per other machine: a frame for an
unknown or broadcast MAC is copied to each of them (head-end replication, no
multicast on the underlay), and a frame for a known MAC goes where the
bridge learned it. The first remote is the device's own (`remote`, which the
kernel turns into the first all-zeros entry); the others are appended. The
entries go with the device, so its undo is the device's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pipenet.plan.ops.links import AddLink


@dataclass
class AddTunnel(AddLink):
    kind: ClassVar[str] = "tunnel"
    master: str | None = None
    fdb: tuple = ()  # the remotes after the first: one all-zeros forwarding entry each

    def _want(self) -> dict:
        return {**super()._want(), "master": self.master}

    def apply(self, k):
        from pipenet import kinds

        # (quiet: a bridge port has no address of its own, so no IPv6 link-local one either)
        k.link_add(self.ns, self.name, self.link_kind, settings=self.settings, spec=kinds.by_link_kind(self.link_kind),
                   mac=self.mac, mtu=self.mtu, alias=self.mark_of(), quiet=True)
        try:
            k.link_set(self.ns, self.name, master=self.master)
            for dst in self.fdb:
                k.fdb_append(self.ns, self.name, dst)
        except BaseException:
            k.link_del(self.ns, self.name, self.mark_of())
            raise

    @property
    def parents(self):
        return ()  # (in the host's namespace; deleting its bridge leaves it there: it is deleted itself)

    @property
    def depends(self):
        return (f"link:host:{self.master}",) if self.master else ()

    def describe(self):
        from pipenet.plan.ops.base import ip_cmd, q

        out = super().describe()
        out.insert(2, ip_cmd(self.ns, "link", "set", "dev", self.name, "master", self.master))
        return out + [f"bridge fdb append 00:00:00:00:00:00 dev {q(self.name)} dst {q(dst)}" for dst in self.fdb]
