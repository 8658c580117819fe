"""The kernel backend: what operations may ask of Linux, by namespace ref and interface name.

Operations (`pipenet.plan.ops`) are plain data and call only these methods,
so the same operations run against the real kernel here and against the
recording backend (`pipenet.backends.recording`) in fast unit tests.
"""

from __future__ import annotations

import errno
import os

from pipenet.backends import nlmsg
from pipenet.backends.netlink import NetlinkError
from pipenet.backends.netns import Handle, Namespaces

MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
TC_H_ROOT = 0xFFFFFFFF



def sysctl_path(key: str) -> str:
    parts = key.split("/") if "/" in key else key.split(".")
    return "/proc/sys/" + "/".join(parts)


class Kernel:
    def __init__(self, run_dir: str = "/run/netns"):
        self.ns = Namespaces(run_dir)
        self._features: dict[str, bool] = {}

    def close(self) -> None:
        self.ns.close()

    def _h(self, ref: str) -> Handle:
        return self.ns.get(ref)

    # ---- namespaces ----------------------------------------------------------------------------
    def netns_create(self, name: str) -> None:
        self.ns.create(name)

    def netns_delete(self, name: str) -> None:
        self.ns.delete(name)

    def netns_exists(self, ref: str) -> bool:
        return self.ns.exists(ref)

    def netns_inode(self, ref: str) -> int:
        return self.ns.inode(ref)

    def netns_fd(self, ref: str) -> int:
        return self._h(ref).fd

    # ---- links --------------------------------------------------------------------------------------
    def link_exists(self, ns: str, name: str) -> bool:
        if not self.ns.exists(ns):
            return False
        h = self._h(ns)
        h.nl.forget(name)
        return h.nl.link_exists(name)

    def link_names(self, ns: str) -> set[str]:
        """Every interface name in `ns` (one dump), or nothing when there is no such namespace."""
        if not self.ns.exists(ns):
            return set()
        return self._h(ns).nl.link_names()

    def bridge_add(self, name: str, mtu: int | None) -> None:
        self._h("").nl.link_add(name, "bridge", mtu=mtu)

    def veth_add(self, ns: str, name: str, peer_ns: str, peer: str, *, mac: str | None = None,
                 peer_mac: str | None = None, mtu: int | None = None, master: str | None = None,
                 hairpin: bool = False, group: int | None = None) -> None:
        h = self._h(ns)
        same = peer_ns == ns
        p = {"ifname": peer, "mac": peer_mac, "mtu": mtu, "netns_fd": None if same else self._h(peer_ns).fd}
        h.nl.forget(name)  # a name made again must never resolve to the index of its predecessor
        self._h(peer_ns).nl.forget(peer)
        h.nl.link_add(name, "veth", mtu=mtu, mac=mac, master=master, peer=p, group=group)
        try:
            self._h(peer_ns).nl.link_set(peer, up=True)
            if hairpin:
                h.nl.brport_hairpin(name)
        except BaseException:
            h.nl.link_del(name)  # atomic: no half-made pair is left behind
            raise

    def link_add(self, ns: str, name: str, kind: str, *, parent_ns: str | None = None, parent: str | None = None,
                 mode: str | None = None, vlan_id: int | None = None, mac: str | None = None,
                 mtu: int | None = None) -> None:
        """A dummy, macvlan or vlan interface named `name` in `ns`, on `parent` (in `parent_ns`)."""
        data = b""
        if kind == "macvlan":
            data = nlmsg.u32(nlmsg.IFLA_MACVLAN_MODE, MACVLAN_MODES[mode or "bridge"])
        elif kind == "vlan":
            data = nlmsg.u16(nlmsg.IFLA_VLAN_ID, vlan_id)
        where = ns if parent_ns is None else parent_ns
        moved = where != ns
        self._h(ns).nl.forget(name)
        self._h(where).nl.forget(name)
        self._h(where).nl.link_add(name, kind, mtu=mtu, mac=mac, link=parent, info_data=data,
                                   netns_fd=self._h(ns).fd if moved else None)
        if moved:
            try:
                self._h(ns).nl.link_set(name, up=True)
            except BaseException:
                self._h(ns).nl.link_del(name)
                raise

    def link_del(self, ns: str, name: str) -> None:
        h = self._h(ns)
        try:
            h.nl.link_del(name)
        except NetlinkError as e:
            if e.errno != errno.ENODEV:
                raise

    def link_del_many(self, ns: str, names: list[str], group: int | None) -> None:
        """Delete these interfaces; in one request when they are exactly the members of their group
        (a group may hold interfaces pipenet did not make: then one by one, never those)."""
        h = self._h(ns)
        wanted = set(names)
        if group and wanted:
            members = h.nl.group_members(group)
            if members and set(members) <= wanted:
                h.nl.group_del(group)
                wanted -= set(members)
        for name in names:
            if name in wanted:
                self.link_del(ns, name)

    def link_forget(self, ns: str, name: str) -> None:
        if ns in self.ns.handles:
            self.ns.handles[ns].nl.forget(name)

    def link_set(self, ns: str, name: str, **kw) -> None:
        self._h(ns).nl.link_set(name, **kw)

    # ---- addresses and routes -----------------------------------------------------------------------
    def addr_add(self, ns: str, ifname: str, ip: str, prefixlen: int) -> None:
        self._h(ns).nl.addr_add(ifname, ip, prefixlen)

    def addr_del(self, ns: str, ifname: str, ip: str, prefixlen: int) -> None:
        try:
            self._h(ns).nl.addr_del(ifname, ip, prefixlen)
        except NetlinkError as e:
            if e.errno not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                raise

    def route_add(self, ns: str, dest: str | None, via: str | None, dev: str | None, metric: int | None) -> None:
        self._h(ns).nl.route_add(dest, via, dev, metric)

    def route_del(self, ns: str, dest: str | None, via: str | None, dev: str | None, metric: int | None) -> None:
        try:
            self._h(ns).nl.route_del(dest, via, dev, metric)
        except NetlinkError as e:
            if e.errno not in (errno.ESRCH, errno.ENODEV):
                raise

    # ---- sysctls ---------------------------------------------------------------------------------------
    def sysctl_get(self, ns: str, key: str) -> str:
        path = sysctl_path(key)

        def read():
            with open(path) as f:
                return f.read().strip()

        return self.ns.in_ns(ns, read)

    def sysctl_set(self, ns: str, key: str, value: str) -> None:
        path = sysctl_path(key)

        def write():
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, str(value).encode())
            finally:
                os.close(fd)

        self.ns.in_ns(ns, write)

    # ---- traffic control -------------------------------------------------------------------------------
    def qdisc_set(self, ns: str, ifname: str, delay_ms=None, jitter_ms=None, loss_pct=None, rate_bps=None) -> None:
        from pipenet.backends.tc import set_shape

        set_shape(self._h(ns).nl, ifname, delay_ms, jitter_ms, loss_pct, rate_bps)

    def qdisc_del(self, ns: str, ifname: str) -> None:
        from pipenet.backends.tc import clear_shape

        clear_shape(self._h(ns).nl, ifname)

    # ---- firewall ----------------------------------------------------------------------------------------
    def _fd_or_none(self, ns: str) -> int | None:
        return None if ns == "" else self._h(ns).fd

    def firewall_install(self, ns: str, table: str, chains: dict, jumps: list, tag: str) -> None:
        from pipenet.backends import iptables

        iptables.install(self._fd_or_none(ns), table, chains, jumps, tag)

    def firewall_remove(self, ns: str, table: str, chains: list, jumps: list, tag: str,
                        drop_table: bool = False) -> None:
        from pipenet.backends import iptables

        iptables.remove(self._fd_or_none(ns), table, chains, jumps, tag)
        if drop_table:
            iptables.drop_table_if_pristine(self._fd_or_none(ns), table)

    def firewall_table_exists(self, ns: str, table: str) -> bool:
        from pipenet.backends import iptables

        return iptables.table_exists(self._fd_or_none(ns), table)

    # ---- shared host forwarding --------------------------------------------------------------------------
    def _shared(self):
        from pipenet.backends.shared import SharedForwarding
        from pipenet.engine.state import state_root

        return SharedForwarding(state_root(), lambda: self.sysctl_get("", "net.ipv4.ip_forward"),
                                lambda v: self.sysctl_set("", "net.ipv4.ip_forward", v))

    def forwarding_acquire(self, topology: str) -> None:
        self._shared().acquire(topology)

    def forwarding_release(self, topology: str) -> None:
        self._shared().release(topology)

    # ---- files ------------------------------------------------------------------------------------------------
    def etc_read(self, directory: str, names: list[str]) -> dict:
        from pipenet.backends import files

        return files.read(directory, names)

    def etc_write(self, directory: str, content: dict[str, str]) -> None:
        from pipenet.backends import files

        files.write(directory, content)

    def etc_restore(self, directory: str, saved: dict) -> None:
        from pipenet.backends import files

        files.restore(directory, saved)

    # ---- processes -------------------------------------------------------------------------------------------
    def process_start(self, ns: str, argv, hostname: str, etc: str, log: str, marker: str = "") -> dict:
        from pipenet.backends import processes

        path = None if ns == "" else self.ns.path(ns)
        return processes.start(path, list(argv), hostname, etc or None, log, marker)

    def process_stop(self, saved: dict, marker: str = "", ns: str | None = None) -> None:
        from pipenet.backends import processes

        if saved.get("pid"):
            processes.stop(saved)
        if marker:  # and whatever else carries its mark in its node: a pid that never reached the record
            inode = self.netns_inode(ns) if ns is not None and self.netns_exists(ns) else None
            for found in processes.marked(marker, inode):
                processes.stop(found)

    # ---- what this kernel can do ----------------------------------------------------------------------
    def supports(self, feature: str) -> bool:
        if feature not in self._features:
            from pipenet.backends.probe import probe

            self._features[feature] = probe(self.ns, feature)
        return self._features[feature]
