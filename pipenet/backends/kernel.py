"""The kernel backend: what operations may ask of Linux, by namespace ref and interface name.

Operations (`pipenet.plan.ops`) are plain data and call only these methods,
so the same operations run against the real kernel here and against the
recording backend (`pipenet.backends.recording`) in fast unit tests.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import struct
import time

from pipenet.backends import nlmsg, objects
from pipenet.backends.hostlinks import HostLinks
from pipenet.backends.netlink import NetlinkError
from pipenet.backends.objects import PIPENET_PROTO
from pipenet.backends.netns import Handle, Namespaces
from pipenet.backends.taskpipe import MAX_TASKS, TaskPipe
from pipenet.errors import PartlyDone
from pipenet.fsutil import write_if_possible

TC_H_ROOT = 0xFFFFFFFF
_SIZE = struct.Struct("=Q")  # (the length of a child's answer, before it: `split_work`)
#: from this many namespaces on, `read_marks_many` reads them in two processes at once, this many at a time
SPLIT_LINKS_AT, MARK_CHUNK = 400, 64
#: `link_del_many` reads the host's interfaces anew when this process's read of them for its checks
#: (`read_links`) was asked for longer ago than this (seconds): at 4,000 containers `down` asks for it
#: about 0.55 s before its ports' request (the read itself, the namespaces' marks read meanwhile, the
#: plan, the journal), and a read anew would add 0.17 s
READ_FRESH = 1.0



def sysctl_path(key: str) -> str:
    parts = key.split("/") if "/" in key else key.split(".")
    return "/proc/sys/" + "/".join(parts)


def _qdisc(kind: str, options: bytes) -> objects.Qdisc:
    """A qdisc's parameters read back from TCA_OPTIONS (tbf: rate; netem: delay, jitter, loss)."""
    try:
        if kind == "tbf":
            a = nlmsg.attrs_of(options)
            rate = None
            if nlmsg.TCA_TBF_RATE64 in a:
                rate = struct.unpack_from("=Q", a[nlmsg.TCA_TBF_RATE64])[0]
            elif nlmsg.TCA_TBF_PARMS in a:
                rate = struct.unpack_from("=I", a[nlmsg.TCA_TBF_PARMS], 8)[0]
            return objects.Qdisc(kind, rate_bps=rate * 8 if rate is not None else None)
        if kind == "netem" and len(options) >= 24:
            _lat, _limit, loss, _gap, _dup, _jit = struct.unpack_from("=IIIIII", options)
            a = nlmsg.attrs_of(options[24:])
            delay = jitter = None
            if nlmsg.TCA_NETEM_LATENCY64 in a:
                delay = struct.unpack_from("=q", a[nlmsg.TCA_NETEM_LATENCY64])[0] / 1e6
            if nlmsg.TCA_NETEM_JITTER64 in a:
                jitter = struct.unpack_from("=q", a[nlmsg.TCA_NETEM_JITTER64])[0] / 1e6
            return objects.Qdisc(kind, delay_ms=delay or None, jitter_ms=jitter or None,
                                 loss_pct=round(loss * 100 / 0xFFFFFFFF, 4) or None)
    except struct.error:
        pass
    return objects.Qdisc(kind)


def _received_then_decoded(nl) -> list:
    """A namespace's links: the whole dump received, then decoded. While the host's dump of thousands of
    bridge ports is being sent, every other netlink dump on the machine (the other process's reads of
    its namespaces) runs about twenty times slower; decoding between its parts drew that out by half
    as long again (the no-op at 4,000 containers: about 10 ms sooner done this way)."""
    from pipenet.backends.netlink import Netlink

    return Netlink.decode_frames(nl.links(raw=True), "list links")


def _link(f: dict, a: dict, names: dict) -> objects.Link:
    """A decoded link message (its fixed header's fields and its attributes) as a Link; `names`: the
    names of the namespace's interfaces by index (its bridge's among them)."""
    info = a.get("IFLA_LINKINFO") or {}
    master = a.get("IFLA_MASTER")
    return objects.Link(a.get("IFLA_IFNAME"), f["index"], info.get("kind"), a.get("IFLA_ADDRESS"), a.get("IFLA_MTU"),
                        bool(f["flags"] & 1), names.get(master) if master else None, a.get("IFLA_IFALIAS"),
                        a.get("IFLA_GROUP") or 0, a.get("IFLA_LINK"), info.get("hairpin"), info.get("data"))


def _reap(pid: int) -> None:
    """Wait for a child's exit (none to wait for, under an inherited SIGCHLD=SIG_IGN, is no error)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


_RENICE: list[bool] = []


def can_renice() -> bool:
    """May this process raise a process's priority again once lowered (CAP_SYS_NICE in the machine's own
    user namespace, or a high enough RLIMIT_NICE)? Asked of the kernel itself, once: this thread's own
    priority raised by one step, then put back."""
    if not _RENICE:
        now = os.getpriority(os.PRIO_PROCESS, 0)
        if now <= -20:  # (no step higher to try: the kernel would take -21 as -20, and prove nothing)
            _RENICE.append(False)
            return False
        try:
            os.setpriority(os.PRIO_PROCESS, 0, now - 1)
        except OSError:
            _RENICE.append(False)
        else:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, now)
            finally:
                _RENICE.append(True)
    return _RENICE[0]


class Forked:
    """A forked child's work (`Kernel.fork_work`), its answer taken once with `answer`, or the child
    waited for (`wait`) or stopped (`stop`) when the answer is no longer wanted."""

    def __init__(self, pid: int, rfd: int, group: bool = False):
        self.pid, self.rfd, self.group = pid, rfd, group

    def answer(self) -> tuple[bool, object]:
        """(True, what in_child returned), or (False, None) when the child failed. The answer comes with
        its length, so it is taken as soon as it is whole: the child's exit (closing the sockets of the
        thousands of namespaces it read, about 10 ms) is waited for by a thread, not here."""
        import pickle
        import threading

        got = bytearray()
        try:
            want = None
            while want is None or len(got) < want:
                chunk = os.read(self.rfd, 1 << 20)
                if not chunk:
                    break
                got += chunk
                if want is None and len(got) >= _SIZE.size:
                    want = _SIZE.size + _SIZE.unpack_from(got)[0]
            whole = want is not None and len(got) == want
        except BaseException:
            if self.group:  # (one set aside had no Ctrl-C of its own)
                self.stop()
            else:
                self.wait()
            raise
        self._close()
        if not whole:
            _reap(self.pid)
            return False, None
        try:  # (its exit is waited for meanwhile, so it leaves no zombie)
            threading.Thread(target=_reap, args=(self.pid,), name="pipenet-reap", daemon=True).start()
        except RuntimeError:  # (no thread to be had: waited for here)
            _reap(self.pid)
        try:
            return True, pickle.loads(memoryview(got)[_SIZE.size:])
        except Exception:  # noqa: BLE001
            return False, None

    def wait(self) -> None:
        """The answer is not wanted: the child's end of the pipe fails, and its exit is waited for."""
        self._close()
        _reap(self.pid)

    def hurry(self) -> None:
        """The answer is waited for now: a child set aside (`fork_work`) gets this process's priority
        back (it had the lowest only where this process may give that back: `can_renice`)."""
        if self.group:
            try:
                os.setpriority(os.PRIO_PGRP, self.pid, os.getpriority(os.PRIO_PROCESS, 0))
            except OSError:
                pass

    def stop(self) -> None:
        """The answer is not wanted, nor the rest of its work: the child (and its group's processes,
        when set aside) is killed, and reaped."""
        import signal

        for kill in ((os.killpg, os.kill) if self.group else (os.kill,)):
            try:
                kill(self.pid, signal.SIGKILL)
                break
            except ProcessLookupError:  # (no group yet: the child alone; or it is gone)
                continue
        self.wait()

    def _close(self) -> None:
        if self.rfd >= 0:
            os.close(self.rfd)
            self.rfd = -1


class Raw:
    """A namespace's dumps as received (`Kernel.read_raw`): each message as (buffer, offset, type), and
    one digest of them all with the namespace's inode. The digest covers every byte the kernel sent
    but each message's flags, sequence number and port, and a link's counters and per-family data
    (`Netlink.dump_raw`: they change by themselves, and decoding never reads them), so two reads of a
    namespace in which nothing pipenet reads changed have the same digest, and any change to what
    decoding reads of its links, addresses or routes (a flag, an address, an alias, a route of any
    table) gives another."""

    __slots__ = ("inode", "links", "addrs", "routes", "digest")

    def __init__(self, inode: int, links: list, addrs: list, routes: list, plain: list):
        self.inode, self.links, self.addrs, self.routes = inode, links, addrs, routes
        h = hashlib.blake2b(inode.to_bytes(8, "little"), digest_size=16)
        for buf in plain:
            h.update(buf)
        self.digest = h.hexdigest()


class Kernel:
    def __init__(self, run_dir: str = "/run/netns", state_root: str | None = None):
        self.ns = Namespaces(run_dir)
        self.state_root = state_root  # where the host-settings ledger lives (given by the engine)
        self._features: dict[str, bool] = {}
        # the host's links as this process last read them for a check (`read_links`), with when that read
        # was asked for: what `link_del_many` compares while it is fresh (`_h` voids it)
        self._host_seen: tuple[float, objects.Namespace] | None = None
        self._marks: dict[str, tuple[int, str | None]] = {}  # ref: (inode, its loopback's mark) read

    def close(self) -> None:
        self.ns.close()

    def _h(self, ref: str) -> Handle:
        """The handle through which the interfaces of namespace `ref` are changed: a change in the host
        (or any request made there this way) voids the host's last read for `link_del_many`."""
        if ref == "":
            self._host_seen = None
        return self.ns.get(ref)

    # ---- namespaces ----------------------------------------------------------------------------
    def netns_create(self, name: str, mark: str | None = None, quiet: bool = False) -> int:
        """Create /run/netns/NAME with `mark` on its loopback interface; return its inode."""
        h = self.ns.create(name, mark, quiet)
        return os.fstat(h.fd).st_ino

    def netns_create_many(self, specs: list[tuple[str, str | None, bool]]) -> list[int]:
        """`netns_create` for each (name, mark, quiet), in one hand-over to the namespace thread; their
        inodes. One that fails raises PartlyDone with the inodes of those made before it."""
        try:
            return [os.fstat(h.fd).st_ino for h in self.ns.create_many(specs)]
        except PartlyDone as e:
            raise PartlyDone([os.fstat(h.fd).st_ino for h in e.done], e.cause) from e.cause

    def netns_mark(self, ref: str) -> str | None:
        """The mark on a namespace's loopback interface (None: no namespace, or not pipenet's). One read
        in this command of the namespace now at `ref` (same inode) is enough: `down` checks every
        namespace (`read_namespace`), then deletes each after checking its mark again."""
        inode = self.ns.live_inode(ref)
        if inode is None:
            return None
        seen = self._marks.get(ref)
        if seen is not None and seen[0] == inode:
            return seen[1]
        for m in self.ns.fresh(ref, inode).nl.link_marks():
            if m.get_attr("IFLA_IFNAME") == "lo":
                self._marks[ref] = (inode, m.get_attr("IFLA_IFALIAS"))
                return m.get_attr("IFLA_IFALIAS")
        return None

    def netns_delete(self, name: str, mark: str | None = None) -> bool:
        """Remove a namespace pipenet made; one without `mark` (someone else's, made under the same
        name) is left alone and False returned."""
        if self._not_ours(name, mark):
            return False
        self.ns.delete(name)
        return True

    def _not_ours(self, name: str, mark: str | None) -> bool:
        """Is there a namespace at `name` that does not carry `mark` (someone else's)?"""
        return mark is not None and self.ns.exists(name) and self.netns_mark(name) != mark

    def netns_delete_many(self, specs: list[tuple[str, str | None]]) -> list[str]:
        """`netns_delete` of each (name, mark): those that do not carry their mark are left alone; the
        names of those removed are returned. When one cannot be removed, PartlyDone names those dealt
        with (removed, or left alone as not pipenet's)."""
        names = [name for name, mark in specs if not self._not_ours(name, mark)]
        try:
            self.ns.delete_many(names)
        except PartlyDone as e:
            failed = set(names) - set(e.done)
            raise PartlyDone([name for name, _ in specs if name not in failed], e.cause) from e.cause
        return names

    def netns_restore(self, name: str, inode: int | None = None) -> bool:
        """Mount back the namespace (of that inode) this run removed at /run/netns/NAME, the same one,
        with what is still in it (`Namespaces.restore`): how a rollback gives back a namespace it had
        removed. False when this run removed none such; OSError (EBUSY) when the name was taken since."""
        return self.ns.restore(name, inode)

    def netns_exists(self, ref: str) -> bool:
        return self.ns.exists(ref)

    def netns_placeholder(self, name: str) -> bool:
        """Is there a file at /run/netns/NAME that is not a mounted namespace?"""
        return not self.ns.exists(name) and os.path.lexists(self.ns.path(name))

    def netns_inode(self, ref: str) -> int:
        return self.ns.inode(ref)

    def netns_fd(self, ref: str) -> int:
        return self._h(ref).fd

    def netns_names(self) -> list[str]:
        """The names under the namespace directory (/run/netns), pipenet's or not."""
        try:
            return sorted(os.listdir(self.ns.run_dir))
        except OSError:
            return []

    def in_namespace(self, ref: str, fn):
        """fn() run by the namespace's worker thread, inside it: a socket it opens belongs to the namespace
        (how probes get sockets in every node without a process per node)."""
        return self.ns.in_ns(ref, fn)

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

    def link_alias(self, ns: str, name: str) -> str | None:
        """An interface's alias (pipenet's mark), or None when it has none or does not exist."""
        if not self.ns.exists(ns):
            return None
        for m in self._h(ns).nl.link_marks():
            if m.get_attr("IFLA_IFNAME") == name:
                return m.get_attr("IFLA_IFALIAS")
        return None

    def bridge_add(self, name: str, mtu: int | None, alias: str | None = None, quiet: bool = False,
                   mac: str | None = None) -> None:
        """A bridge, marked; when `quiet`, IPv6 autoconfiguration is turned off before it comes up (a
        bridge has carrier as soon as it is up, and its link-local address would be made at once)."""
        h = self._h("")
        h.nl.forget(name)
        h.nl.link_add(name, "bridge", mtu=mtu, mac=mac, up=not quiet)
        try:
            h.nl.link_set(name, alias=alias, quiet=quiet)
            if quiet:
                h.nl.link_set(name, up=True)
        except BaseException:
            h.nl.link_del(name)  # atomic: never an unmarked bridge
            raise

    def veth_add(self, ns: str, name: str, peer_ns: str, peer: str, *, mac: str | None = None,
                 peer_mac: str | None = None, mtu: int | None = None, master: str | None = None,
                 hairpin: bool = False, group: int | None = None, alias: str | None = None,
                 peer_alias: str | None = None, quiet: bool = False, peer_quiet: bool = False) -> None:
        """A veth pair, both ends marked. `quiet`, `peer_quiet`: no IPv6 autoconfiguration on the first end
        (`name`), on the peer."""
        h = self._h(ns)
        same = peer_ns == ns
        p = {"ifname": peer, "mac": peer_mac, "mtu": mtu, "netns_fd": None if same else self._h(peer_ns).fd}
        h.nl.forget(name)  # a name made again must never resolve to the index of its predecessor
        self._h(peer_ns).nl.forget(peer)
        # made down, then brought up in the request that marks it, before its peer: with no carrier yet it
        # makes no IPv6 link-local address before `quiet` turns that off (the kernel applies a request's
        # up before its addrgenmode). The peer has carrier as soon as it is up (measured on 6.18: brought
        # up and made quiet in one request, 299 of 300 got a link-local address), so a quiet peer is
        # marked and made quiet first, then brought up: two requests and its index lookup (for its
        # addresses) in one send.
        h.nl.link_add(name, "veth", up=False, mtu=mtu, mac=mac, master=master, peer=p, group=group)
        try:
            if ns == "" and (master or group):  # (a port's group: also one made again without its bridge)
                self._port_without_ipv6(name)
            h.nl.link_set(name, up=True, alias=alias, quiet=quiet)
            if peer_quiet:
                self._h(peer_ns).nl.link_set_many(peer, [{"alias": peer_alias, "quiet": True}, {"up": True}])
            else:
                self._h(peer_ns).nl.link_set_many(peer, [{"up": True, "alias": peer_alias}])
            if hairpin:
                h.nl.brport_hairpin(name)
        except BaseException:
            h.nl.link_del(name)  # atomic: no half-made pair is left behind
            raise

    def _port_without_ipv6(self, name: str) -> None:
        """IPv6 off on the host's end of a bridge port (`disable_ipv6`), while it is still down. A bridge
        port needs no IPv6 of its own (the bridge forwards IPv6 frames all the same, and the host's IPv6
        addresses on the segment are the bridge's), and the kernel otherwise gives each one a multicast
        route in the host's table once it has carrier; every interface the host then removes walks that
        whole table (about 0.15 s of the request that removes 4,000 ports, which grows with the square
        of their number). Written from this thread, which is in the host's namespace (the namespace
        worker never makes veth pairs); a kernel without IPv6, or a sysctl that cannot be written (a
        sandbox without /proc/sys), leaves the port as it was."""
        write_if_possible(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", b"1")

    def link_add(self, ns: str, name: str, kind: str, *, parent_ns: str | None = None, parent: str | None = None,
                 settings: dict | None = None, spec=None, mac: str | None = None, mtu: int | None = None,
                 alias: str | None = None, quiet: bool = False) -> None:
        """An interface of kind `kind` (IFLA_INFO_KIND: dummy, macvlan, vlan, ...) named `name` in `ns`, on
        `parent` (in `parent_ns`), up and marked; `settings` are its kind's (`AddLink.settings`), which
        `spec` encodes: the kind's module in `pipenet.kinds`, handed over by the operation (the backends
        know no kind by name): `spec.info_data(settings, parent_index)` and `spec.parent_is_link`.
        `quiet`: no IPv6 autoconfiguration, turned off before it comes up (a bridge's tunnel port)."""
        if spec is None:
            raise ValueError(f"pipenet makes no interfaces of kind {kind}")
        where = ns if parent_ns is None else parent_ns
        moved = where != ns
        nl = self._h(where).nl
        self._h(ns).nl.forget(name)
        nl.forget(name)
        data = spec.info_data(settings or {}, nl.link_index(parent) if parent else None)
        nl.link_add(name, kind, mtu=mtu, mac=mac, link=parent if spec.parent_is_link else None, info_data=data,
                    netns_fd=self._h(ns).fd if moved else None, up=not quiet)
        try:
            if quiet:
                self._h(ns).nl.link_set(name, quiet=True)
            self._h(ns).nl.link_set(name, up=True, alias=alias)
        except BaseException:
            self._h(ns).nl.link_del(name)
            raise

    def link_del(self, ns: str, name: str, alias: str | None = None) -> bool:
        """Delete an interface; with `alias`, only if it carries that mark (else False: not ours)."""
        if not self.ns.exists(ns):
            return False
        h = self._h(ns)
        if alias is not None:
            h.nl.forget(name)
            # (that interface alone, not a dump of every one: a rollback removes a thousand ports one by
            # one when they are not all of their group; the kernel also finds one by an alternative name)
            found = h.nl.link(name=name)
            if found is None or found.get_attr("IFLA_IFNAME") != name or found.get_attr("IFLA_IFALIAS") != alias:
                return False
        try:
            h.nl.link_del(name)
        except NetlinkError as e:
            if e.errno != errno.ENODEV:
                raise
            return False
        return True

    def link_del_many(self, ns: str, names: list[str], group: int | None, aliases: list[str] | None = None,
                      join: tuple[str, ...] = ()) -> None:
        """Delete these interfaces; in one request when they are exactly the members of their group
        and every member carries its mark (a group may hold interfaces pipenet did not make: then one
        by one, as a read made just before shows them, never those). `join`: interfaces among
        `names` (bridges) that are moved into the group first, when the group's request is to be made,
        so that it takes them too.

        In the host, what this process read of its interfaces for the command's checks (`read_links`)
        is what is compared, when that read was asked for at most READ_FRESH before and no interface
        request was made in the host through `_h` since (`down` at 4,000 containers: about 0.55 s
        before, and a read anew would take 0.17 s); otherwise the interfaces are read now."""
        marks = dict(zip(names, aliases)) if aliases is not None else {}
        seen = self._host_seen if ns == "" else None  # (taken before `_h` voids it)
        h = self._h(ns)

        def read() -> dict[str, tuple[str | None, int]]:
            return {m.get_attr("IFLA_IFNAME"): (m.get_attr("IFLA_IFALIAS"), m.get_attr("IFLA_GROUP") or 0)
                    for m in h.nl.link_marks()}

        def ours(links: dict) -> set[str]:  # (those gone already, or not ours, left out)
            return {n for n in names if n in links and (n not in marks or links[n][0] == marks[n])}

        fresh = seen is None or time.monotonic() - seen[0] > READ_FRESH
        links = read() if fresh else {n: (link.alias, link.group) for n, link in seen[1].links.items()}
        wanted = ours(links)
        if group and wanted:
            members = {n for n, m in links.items() if m[1] == group}
            if members and members <= wanted:
                joining = [n for n in join if n in wanted and n not in members]
                moved: list[tuple[str, int | None]] = []
                try:
                    for name in joining:  # (a bridge: its multicast snooping off in the same request)
                        was = h.nl.bridge_snooping(name) or None
                        moved.append((name, was))  # (put back even if the request fails partway)
                        h.nl.link_set_group(name, group, 0 if was else None)
                    h.nl.group_del(group)
                except BaseException:
                    for name, was in moved:  # (the request failed whole: each back as it was)
                        try:
                            h.nl.link_set_group(name, links[name][1], was)
                        except OSError:
                            pass
                    raise
                wanted -= members | set(joining)
        if wanted and not fresh:  # one by one (the group is not all ours): each as read just before
            wanted = ours(read())
        for name in names:
            if name in wanted:
                try:
                    self.link_del(ns, name)
                except Exception as e:
                    dealt = [n for n in names if n not in wanted]
                    raise PartlyDone(dealt, e) from e
                wanted.discard(name)

    def link_forget(self, ns: str, name: str) -> None:
        h = self.ns.handles.get(ns)  # (one read: the main thread may retire it meanwhile)
        if h is not None:
            h.nl.forget(name)

    def link_set(self, ns: str, name: str, **kw) -> None:
        self._h(ns).nl.link_set(name, **kw)

    def fdb_append(self, ns: str, name: str, dst: str) -> None:
        self._h(ns).nl.fdb_append(name, dst)

    def link_hairpin(self, ns: str, name: str, on: bool) -> None:
        self._h(ns).nl.brport_hairpin(name, on)

    # ---- addresses and routes -----------------------------------------------------------------------
    def addr_add(self, ns: str, ifname: str, ip: str, prefixlen: int, nodad: bool = False) -> None:
        self._h(ns).nl.addr_add(ifname, ip, prefixlen, nodad=nodad)

    def addr_del(self, ns: str, ifname: str, ip: str, prefixlen: int) -> bool:
        """Remove an address pipenet added (it carries pipenet's IFA_PROTO); any other is left alone."""
        if not self.ns.exists(ns):
            return False
        view = self.read_namespace(ns)
        if view is None or not any(a.ip == ip and a.prefixlen == prefixlen and a.proto == PIPENET_PROTO
                                   for a in view.addresses_of(ifname)):
            return False
        try:
            self._h(ns).nl.addr_del(ifname, ip, prefixlen)
        except NetlinkError as e:
            if e.errno not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                raise
            return False
        return True

    def route_add(self, ns: str, dest: str | None, via: str | None, dev: str | None, metric: int | None,
                  replace: bool = False) -> None:
        self._h(ns).nl.route_add(dest, via, dev, metric, replace=replace)

    def route_del(self, ns: str, dest: str | None, via: str | None, dev: str | None, metric: int | None) -> bool:
        """Delete one of pipenet's routes (the kernel matches its protocol: another's is never taken)."""
        if not self.ns.exists(ns):
            return False
        try:
            self._h(ns).nl.route_del(dest, via, dev, metric)
        except NetlinkError as e:
            if e.errno not in (errno.ESRCH, errno.ENODEV):
                raise
            return False
        return True

    # ---- reading what is live ------------------------------------------------------------------------
    def open_namespaces(self, refs: list[str]) -> None:
        """Open these namespaces together, ahead of reading them (see Namespaces.open_many)."""
        self.ns.open_many(refs)

    def room_for(self, namespaces: int) -> None:
        """Make room at once for this many namespaces to be opened (a few at a time, later)."""
        self.ns.room_for(namespaces)

    def split_work(self, in_child, here):
        """(here(), in_child()), the second run in a forked child at the same time (`fork_work`): two
        CPUs for work that is mostly Python decoding netlink replies (threads cannot share that out). A
        child that fails has its share done here instead."""
        if not hasattr(os, "fork"):
            return here(), in_child()
        forked = self.fork_work(in_child)
        try:
            mine = here()
        except BaseException:
            forked.wait()
            raise
        whole, theirs = forked.answer()
        return (mine, theirs) if whole else (mine, in_child())  # (the child failed: its share, done here)

    def fork_work(self, in_child, aside: bool = False) -> Forked:
        """Start in_child() in a forked child, whose answer is taken later (`Forked.answer`): it runs in
        this process's copy, with netlink sockets of its own (`Namespaces.forked`), ends with its answer
        sent back pickled, never returning into the caller's code, and dies with this process (it holds
        copies of every descriptor, the topology's lock among them). `aside`: work that must not slow
        this process down while it goes on with its own (`engine.vouch`): the child, and any process
        it forks, run in a process group of their own, at the lowest priority when this process may
        give them back their own later (`can_renice`; otherwise at its own) until `Forked.hurry`, and
        `Forked.stop` stops them all."""
        import pickle
        import signal

        from pipenet.backends import linux

        low = aside and can_renice()
        parent = os.getpid()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # (no Ctrl-C loses the child)
        forked = None
        opened: list[int] = []
        try:
            rfd, wfd = os.pipe()
            opened += (rfd, wfd)
            go = os.pipe() if aside else None  # (the child set aside waits until its group and priority are set)
            opened += go or ()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    os.close(rfd)
                    linux.die_with_parent()
                    if os.getppid() != parent:  # (it died before the line above)
                        os._exit(1)
                    if go is not None:
                        os.close(go[1])
                        if os.read(go[0], 1) != b"g":  # (the parent died first, or gave up on it)
                            os._exit(1)
                        os.close(go[0])
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    self.ns.forked()
                    data = pickle.dumps(in_child(), protocol=pickle.HIGHEST_PROTOCOL)
                    view = memoryview(_SIZE.pack(len(data)) + data)
                    while view:
                        view = view[os.write(wfd, view):]
                except BaseException:  # noqa: BLE001
                    code = 1
                os._exit(code)
            forked = Forked(pid, rfd, aside)
            opened.remove(rfd)
            os.close(wfd)
            opened.remove(wfd)
            if go is not None:  # (before it runs on: every process it forks is in the group, at its priority)
                try:
                    os.setpgid(pid, pid)
                except OSError:  # (it has died already: its answer says so)
                    pass
                if low:
                    try:
                        os.setpriority(os.PRIO_PGRP, pid, 19)
                    except OSError:
                        pass
                try:
                    os.write(go[1], b"g")
                except OSError:
                    pass
        except BaseException:
            if forked is not None:
                forked.stop()
                forked = None  # (reaped: its pid is not signalled again below, it may be another's now)
            raise
        finally:
            for fd in opened:
                os.close(fd)
            try:  # (a Ctrl-C held back meanwhile is raised here: the child is stopped, not lost)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            except BaseException:
                if forked is not None:
                    forked.stop()
                raise
        return forked

    def read_links(self, ref: str) -> objects.Namespace | None:
        """A namespace's inode and links (its loopback's mark among them): one dump, what checking
        that a namespace is pipenet's and reading its interfaces' marks need. Its addresses and routes
        are not read (left empty): `read_namespace` reads them. None when there is no namespace."""
        inode = self.ns.live_inode(ref)
        if inode is None:
            return None
        view = objects.Namespace(inode=inode)
        asked = time.monotonic()  # (how old the read is counts from its request)
        self._links_into(view, ref, _received_then_decoded(self.ns.fresh(ref, inode).nl))
        if ref == "":
            self._host_seen = (asked, view)
        return view

    def read_mark(self, ref: str) -> objects.Namespace | None:
        """A namespace's inode and its loopback alone, for its mark (`Netlink.loopback_mark`: one small
        request, not a dump of every interface). None when there is no namespace at `ref`."""
        inode = self.ns.live_inode(ref)
        if inode is None:
            return None
        view = objects.Namespace(inode=inode)
        view.links["lo"] = objects.Link("lo", 1, up=True, alias=self.ns.fresh(ref, inode).nl.loopback_mark())
        self._remember_mark(ref, view)
        return view

    def read_marks_many(self, refs: list[str], split_at: int | None = None, meanwhile=()
                        ) -> tuple[dict[str, objects.Namespace | None], dict]:
        """What `down` checks before it removes anything: the host's links in full (`read_links`: its
        interfaces are removed one by one, each checked), and of every other namespace of `refs` its mark
        alone (`read_mark`: what is inside goes with it); with the union of the dicts `meanwhile`'s
        functions return, work of the caller's that reads no namespace and takes no lock of the kernel's
        (`down`'s /etc checks, a few hundred at a time).

        From `split_at` (SPLIT_LINKS_AT) namespaces on, this process reads the host while a forked child
        starts on the rest, then both take it from one queue (`TaskPipe`): first the caller's work, then
        the marks, MARK_CHUNK namespaces at a time. In that order because the host's link dump and a
        loopback's read both need the kernel's RTNL lock, and while the first is sent (0.14 s at 4,000
        bridge ports, most of it the kernel looking up each port's peer namespace) every other link read
        on the machine waits for it, twenty times slower (docs/performance.md, the eighth pass): the
        child does what needs no such lock meanwhile. This process keeps a descriptor on every namespace
        (`Namespaces.hold`: the unmount of a namespace that is still held is fast, see `Namespaces.delete`)
        and opens a handle (a descriptor and a socket) on each it reads itself; it remembers each
        loopback's mark by its namespace's inode, exactly as its own reads do, so a namespace replaced
        meanwhile (another inode) is read again."""
        split_at = SPLIT_LINKS_AT if split_at is None else split_at
        refs = list(dict.fromkeys(refs))
        others = [r for r in refs if r]
        work = list(meanwhile or ())
        size = max(MARK_CHUNK, -(-len(others) // (MAX_TASKS // 2)))  # (at most half the queue's room)
        chunks = [others[i:i + size] for i in range(0, len(others), size)]

        def host() -> dict[str, objects.Namespace | None]:
            return {"": self.read_links("")} if "" in refs else {}

        def do(i: int, marks: dict, extra: dict) -> None:
            if i < len(work):
                extra.update(work[i]())
                return
            chunk = chunks[i - len(work)]
            self.ns.open_many(chunk)
            for r in chunk:
                marks[r] = self.read_mark(r)

        queue = TaskPipe(len(work) + len(chunks)) if len(others) >= max(split_at, 2) else None
        if queue is None or not queue.full:
            if queue is not None:
                queue.close()
            out, extra = host(), {}
            for i in range(len(work) + len(chunks)):
                do(i, out, extra)
            return out, extra
        self.ns.hold(others)
        self.ns.room_for(len(others))  # (this process opens the namespaces it reads a chunk at a time)

        def here():
            out, extra = host(), {}
            for i in queue:
                do(i, out, extra)
            return out, extra

        def in_child():
            marks, extra = {}, {}
            for i in queue.for_child():
                do(i, marks, extra)
            return marks, extra

        try:
            (out, extra), (got, theirs) = self.split_work(in_child, here)
        finally:
            queue.close()
        for ref, view in got.items():
            if view is not None:
                self._remember_mark(ref, view)
        out.update(got)
        extra.update(theirs)
        return out, extra

    def _remember_mark(self, ref: str, view: objects.Namespace) -> None:
        """A namespace's loopback mark, by its inode: `netns_mark` answers from it in this command."""
        if "lo" in view.links:
            self._marks[ref] = (view.inode, view.links["lo"].alias)

    def read_host_links(self, known: dict) -> objects.Namespace | None:
        """The host's inode and links as the no-op reads them (`backends.hostlinks`): its bridges in full
        (a dump of that kind alone), its bridge ports from the bridges' own dump, each vouched for by
        `known` ({name: `hostlinks.identity`} kept by the last check that found everything live; its
        alias and group are what the last read in full saw), anything else read from the kernel
        as it is asked for. 0.02 s where the host's link dump takes 0.14 s at 4,000 bridge ports."""
        from pipenet.backends.hostlinks import compose

        inode = self.ns.live_inode("")
        if inode is None:
            return None
        nl = self.ns.fresh("", inode).nl
        bridges = nl.links_of_kind("bridge")
        names = {m.fields["index"]: m.attrs.get("IFLA_IFNAME") for m in bridges}
        ports = nl.bridge_ports()

        def one(m) -> objects.Link | None:
            if m is None:
                return None
            master = m.attrs.get("IFLA_MASTER")
            return _link(m.fields, m.attrs, links.names_of([master]) if master else {})

        def everything() -> dict:
            view = self.read_links("")
            return dict(view.links) if view is not None else {}

        links = HostLinks(compose([_link(m.fields, m.attrs, names) for m in bridges], ports, known),
                          lambda name: one(nl.link(name=name)), lambda index: one(nl.link(index=index)),
                          everything)
        return objects.Namespace(inode=inode, links=links)

    def _links_into(self, view: objects.Namespace, ref: str, replies: list) -> None:
        """The links of the namespace at `ref` (its link dump's `replies`) into `view`; its loopback's
        mark remembered."""
        raw = [(m.fields, m.attrs) for m in replies]  # (the replies' dicts read directly: a few
        names = {f["index"]: a.get("IFLA_IFNAME") for f, a in raw}  # hundred thousand lookups at 4,000)
        links = view.links
        for f, a in raw:
            link = _link(f, a, names)
            links[link.name] = link
        self._remember_mark(ref, view)

    def read_namespace(self, ref: str, known: objects.Namespace | None = None) -> objects.Namespace | None:
        """Links, addresses and routes (main table, both families) of a namespace: three dumps, or two
        when `known` holds its links read in this command (`read_links`; the same inode is the same
        namespace). None when there is no namespace at `ref`."""
        inode = self.ns.live_inode(ref)
        if inode is None:
            return None
        h = self.ns.fresh(ref, inode)
        if known is not None and known.inode == inode:
            view = objects.Namespace(inode=inode, links=known.links)
        else:
            view = objects.Namespace(inode=inode)
            self._links_into(view, ref, _received_then_decoded(h.nl))
        return self._addresses_routes_into(view, h.nl.addrs(), h.nl.routes(socket.AF_UNSPEC, main_only=True))

    def read_raw(self, ref: str) -> Raw | None:
        """A namespace's three dumps (links, addresses, the main table's routes) received, not decoded,
        with their digest (`Raw`); None when there is no namespace at `ref`. `decode_raw` makes of them
        what `read_namespace` returns. What the no-op `up` reads of every namespace: one whose digest is
        the one its last full check saw need not be decoded (`engine.live`)."""
        h = self.ns.just_opened(ref)  # (opened a moment ago, in this chunk: the path need not be read again)
        if h is None:
            inode = self.ns.live_inode(ref)
            if inode is None:
                return None
            h = self.ns.fresh(ref, inode)
        inode, nl = h.inode, h.nl  # (the namespace read: the one at `ref` when it was opened)
        plain: list = []
        links = nl.links(raw=True, plain=plain)
        addrs = nl.addrs(raw=True, plain=plain)
        return Raw(inode, links, addrs, nl.main_routes_raw(plain), plain)

    def decode_raw(self, ref: str, raw: Raw) -> objects.Namespace:
        """`read_namespace` of what `read_raw` received."""
        from pipenet.backends.netlink import Netlink

        view = objects.Namespace(inode=raw.inode)
        self._links_into(view, ref, Netlink.decode_frames(raw.links, "list links"))
        return self._addresses_routes_into(view, Netlink.decode_frames(raw.addrs, "list addresses"),
                                           Netlink.decode_frames(raw.routes, "list routes", Netlink.main_unicast))

    def _addresses_routes_into(self, view: objects.Namespace, addrs: list, routes: list) -> objects.Namespace:
        """The decoded replies of an address dump and a route dump (the main table's unicast routes) into
        `view`, whose links are read."""
        links = view.links
        if isinstance(links, HostLinks):  # (the host's, read in part: the names asked for, read if not held)
            names = links.names_of({m.fields["index"] for m in addrs} | {m.attrs.get("RTA_OIF") for m in routes})
        else:
            names = {link.index: name for name, link in links.items()}
        Address, Route = objects.Address, objects.Route
        addresses = view.addresses
        for m in addrs:
            f, a = m.fields, m.attrs
            ip = a.get("IFA_LOCAL") or a.get("IFA_ADDRESS")
            if ip is None:
                continue
            flags = a.get("IFA_FLAGS") or f["flags"]
            index = f["index"]
            addresses.append(Address(names.get(index, f"#{index}"), ip, f["prefixlen"], a.get("IFA_PROTO") or 0,
                                     bool(flags & nlmsg.IFA_F_TENTATIVE)))
        out = view.routes
        for m in routes:
            f, a = m.fields, m.attrs
            if a.get("RTA_TABLE") != 254 or f["type"] != 1:  # the main table's unicast routes
                continue
            dst_len = f["dst_len"]
            oif = a.get("RTA_OIF")
            out.append(Route("default" if dst_len == 0 else f"{a.get('RTA_DST')}/{dst_len}", a.get("RTA_GATEWAY"),
                             names.get(oif) if oif else None, a.get("RTA_PRIORITY") or 0, f["proto"],
                             6 if f["family"] == socket.AF_INET6 else 4))
        return view

    def read_qdiscs(self, ref: str) -> dict[str, objects.Qdisc]:
        """The root qdisc of each interface of a namespace (tbf and netem read back with their
        parameters; the kernel's defaults, such as noqueue, by kind only)."""
        if not self.ns.exists(ref):
            return {}
        h = self.ns.fresh(ref)
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in h.nl.links()}
        roots: dict[int, tuple[int, objects.Qdisc]] = {}
        children: dict[tuple[int, int], objects.Qdisc] = {}
        for m in h.nl.qdiscs():
            q = _qdisc(m.get_attr("TCA_KIND") or "", m.get_attr("TCA_OPTIONS") or b"")
            if m["parent"] == TC_H_ROOT:
                roots[m["index"]] = (m["handle"], q)
            else:
                children[(m["index"], m["parent"] & 0xFFFF0000)] = q
        out = {}
        for index, (handle, q) in roots.items():
            child = children.get((index, handle))
            if child is not None:
                q = objects.Qdisc(q.kind, q.rate_bps, q.delay_ms, q.jitter_ms, q.loss_pct, child)
            if index in names:
                out[names[index]] = q
        return out

    def read_sysctls(self, ref: str, keys: list[str]) -> dict[str, str | None]:
        """Several sysctls of one namespace in one visit (None: the setting does not exist there)."""
        paths = {k: sysctl_path(k) for k in keys}

        def read():
            out = {}
            for k, path in paths.items():
                try:
                    with open(path) as f:
                        out[k] = f.read().strip()
                except OSError:
                    out[k] = None
            return out

        return self.ns.in_ns(ref, read)

    def read_firewall(self, ref: str) -> str:
        """`iptables-save` and `ip6tables-save` of the namespace (every table that exists; IPv6's named
        `ip6:TABLE`), as text."""
        from pipenet.backends import iptables

        return iptables.save_both(self._fd_or_none(ref))

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
    def qdisc_set(self, ns: str, ifname: str, delay_ms=None, jitter_ms=None, loss_pct=None, rate_bps=None,
                  burst=None) -> None:
        from pipenet.backends.tc import set_shape

        set_shape(self._h(ns).nl, ifname, delay_ms, jitter_ms, loss_pct, rate_bps, burst)

    def qdisc_del(self, ns: str, ifname: str) -> None:
        from pipenet.backends.tc import clear_shape

        clear_shape(self._h(ns).nl, ifname)

    # ---- firewall ----------------------------------------------------------------------------------------
    def _fd_or_none(self, ns: str) -> int | None:
        return None if ns == "" else self._h(ns).fd

    def firewall_install(self, ns: str, table: str, chains: dict, jumps: list, tag: str) -> dict:
        from pipenet.backends import iptables

        return iptables.install(self._fd_or_none(ns), table, chains, jumps, tag)

    def firewall_restore(self, ns: str, table: str, chains: dict, drop_jumps: list, tag: str) -> None:
        from pipenet.backends import iptables

        iptables.restore_chains(self._fd_or_none(ns), table, chains, drop_jumps, tag)

    def firewall_remove(self, ns: str, table: str, chains: list, jumps: list, tag: str,
                        drop_table: bool = False, builtins_before: list | None = None) -> None:
        from pipenet.backends import iptables

        iptables.remove(self._fd_or_none(ns), table, chains, jumps, tag, drop_table, builtins_before)

    def firewall_table_exists(self, ns: str, table: str) -> bool:
        from pipenet.backends import iptables

        return iptables.table_exists(self._fd_or_none(ns), table)

    def firewall_builtins(self, ns: str, table: str) -> set[str]:
        from pipenet.backends import iptables

        return iptables.builtins_present(self._fd_or_none(ns), table)

    # ---- host settings shared by topologies ----------------------------------------------------------------
    def ledger(self):
        from pipenet.backends.ledger import Ledger

        if self.state_root is None:
            raise RuntimeError("the kernel was made without a state root: no host-settings ledger")
        return Ledger(self.state_root, lambda name: self.sysctl_get("", name),
                      lambda name, value: self.sysctl_set("", name, value))

    def host_setting_acquire(self, topology: str, name: str, value: str) -> None:
        self.ledger().acquire(topology, name, value)

    def host_setting_release(self, topology: str, name: str) -> None:
        self.ledger().release(topology, name)

    # ---- files ------------------------------------------------------------------------------------------------
    def etc_read(self, directory: str, names: list[str]) -> dict:
        from pipenet.backends import files

        return files.read(directory, names)

    def etc_write(self, directory: str, content: dict[str, str]) -> dict:
        """Write the files; their stamps (inode, size, mtime), for a cheap check later."""
        from pipenet.backends import files

        return files.write(directory, content)

    def etc_restore(self, directory: str, saved: dict, ours: dict[str, str] | None = None) -> None:
        from pipenet.backends import files

        files.restore(directory, saved, ours)

    def etc_put_back(self, directory: str, contents: dict, ours: dict[str, str]) -> None:
        from pipenet.backends import files

        files.put_back(directory, contents, ours)

    def etc_is_dir(self, directory: str) -> bool:
        from pipenet.backends import files

        return files.is_dir(directory)

    def etc_inspect(self, directory: str, names: list[str], known: dict | None = None) -> dict | None:
        from pipenet.backends import files

        return files.inspect(directory, names, known)

    def node_path_put(self, root: str, source: str, what: str, content: str | None, uid: int, gid: int,
                      mode: int) -> None:
        from pipenet.backends import nodefiles

        nodefiles.put(root, source, what, content, uid, gid, mode)

    def node_path_remove(self, root: str, source: str, what: str) -> None:
        from pipenet.backends import nodefiles

        nodefiles.remove(root, source, what)

    def node_path_inspect(self, root: str, source: str) -> dict | None:
        from pipenet.backends import nodefiles

        return nodefiles.inspect(root, source)

    # ---- processes -------------------------------------------------------------------------------------------
    def process_start(self, ns: str, argv, hostname: str, etc: str, log: str, marker: str = "",
                      binds: tuple = ()) -> dict:
        from pipenet.backends import processes

        path = None if ns == "" else self.ns.path(ns)
        return processes.start(path, list(argv), hostname, etc or None, log, marker, binds)

    def process_stop(self, saved: dict, marker: str = "", ns: str | None = None) -> None:
        from pipenet.backends import processes

        if saved.get("pid"):
            processes.stop(saved)
        if marker:  # and whatever else carries its mark in its node: a pid that never reached the record
            inode = self.netns_inode(ns) if ns is not None and self.netns_exists(ns) else None
            for found in processes.marked(marker, inode):
                processes.stop(found)

    def processes_marked_under(self, prefix: str) -> list[dict]:
        from pipenet.backends import processes

        return processes.marked_under(prefix)

    def process_find(self, saved: dict, marker: str, ns: str) -> dict | None:
        """{"pid", "net"} of the running process: by its recorded pid and start time, or, when none was
        recorded (a run killed before it could write it), by its marker in the node's namespace."""
        from pipenet.backends import processes

        if saved.get("pid") and processes.alive(saved):
            return {"pid": saved["pid"], "net": processes.net_inode(saved["pid"])}
        if not marker:  # (the recorded pid gone: one started again by a rollback may carry the marker)
            return None
        inode = self.netns_inode(ns) if self.netns_exists(ns) else None
        found = processes.marked(marker, inode)
        if not found:
            return None
        return {"pid": found[0]["pid"], "net": processes.net_inode(found[0]["pid"])}

    # ---- what this kernel can do ----------------------------------------------------------------------
    def supports(self, feature: str) -> bool:
        if feature not in self._features:
            from pipenet.backends.probe import probe

            self._features[feature] = probe(self.ns, feature)
        return self._features[feature]
