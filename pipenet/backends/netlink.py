"""rtnetlink over raw sockets, one socket per network namespace, messages built by pyroute2.

pyroute2's synchronous `IPRoute` keeps its socket per *thread* (an asyncio
event loop in thread-local storage), so a socket that a worker thread opens
inside a namespace cannot be used from the main thread, and `IPRoute(netns=)`
forks a process per namespace. pipenet therefore opens plain
`AF_NETLINK/NETLINK_ROUTE` sockets itself (a raw socket belongs to the
namespace its creating thread was in, forever) and uses pyroute2's message
classes (`ifinfmsg`, `ifaddrmsg`, `rtmsg`, `tcmsg`) and marshal to encode
requests and decode replies.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
import threading

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR
from pyroute2.netlink.rtnl import (RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE,
                                   RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl.rtmsg import rtmsg

IFF_UP = 1
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1

CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10  # acks carry only the request's header, not the whole request
_HDR = struct.Struct("=IHHII")


class NetlinkError(OSError):
    """The kernel refused a request; `errno` is its reason."""

    def __init__(self, err: int, what: str):
        super().__init__(err, f"{what}: {os.strerror(err)}")
        self.what = what


class Netlink:
    """A netlink socket bound, for its whole life, to the namespace it was opened in."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.seq = 0
        self.lock = threading.Lock()
        self.marshal = MarshalRtnl()
        self.index: dict[str, int] = {}

    @classmethod
    def open_here(cls) -> Netlink:
        """Open a socket in the calling thread's current network namespace."""
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        try:
            s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except OSError:
            pass
        s.bind((0, 0))
        return cls(s)

    def close(self) -> None:
        self.sock.close()

    # ---- the wire -------------------------------------------------------------------------------
    def _exchange(self, msg, mtype: int, flags: int):
        """Send one request (the caller holds the lock); yield each receive buffer with the
        (type, offset) of every message in it that answers this request. Headers are read with
        struct, so acks and index lookups never go through pyroute2's decoder."""
        self.seq += 1
        seq = self.seq
        msg["header"]["type"] = mtype
        msg["header"]["flags"] = flags
        msg["header"]["sequence_number"] = seq
        msg["header"]["pid"] = 0
        msg.encode()
        self.sock.send(msg.data)
        while True:
            data = self.sock.recv(1 << 20)
            frames = []
            off = 0
            while off + 16 <= len(data):
                length, t, _fl, mseq, _pid = _HDR.unpack_from(data, off)
                if length < 16:
                    break
                if mseq == seq:
                    frames.append((t, off))
                off += (length + 3) & ~3
            yield data, frames, seq

    @staticmethod
    def _error(data: bytes, off: int) -> int:
        return struct.unpack_from("=i", data, off + 16)[0]

    def request(self, msg, mtype: int, flags: int, what: str) -> list:
        """Send one request and collect its replies; raise NetlinkError on a negative ack."""
        with self.lock:
            replies = []
            for data, frames, seq in self._exchange(msg, mtype, flags):
                done = False
                data_msgs = False
                for t, off in frames:
                    if t == NLMSG_ERROR:
                        err = self._error(data, off)
                        if err < 0:
                            raise NetlinkError(-err, what)
                        done = True
                    elif t == NLMSG_DONE:
                        done = True
                    else:
                        data_msgs = True
                if data_msgs:
                    for m in self.marshal.parse(data):
                        t = m["header"]["type"]
                        if m["header"]["sequence_number"] == seq and t not in (NLMSG_ERROR, NLMSG_DONE):
                            replies.append(m)
                            if not (flags & NLM_F_DUMP) and not (flags & NLM_F_ACK):
                                done = True
                if done:
                    return replies

    # ---- links ------------------------------------------------------------------------------------
    def links(self) -> list:
        return self.request(ifinfmsg(), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, "list links")

    def link_index(self, name: str) -> int:
        """An interface's index, read from the reply's fixed header (no full decode), then cached."""
        idx = self.index.get(name)
        if idx is not None:
            return idx
        m = ifinfmsg()
        m["attrs"] = [("IFLA_IFNAME", name)]
        with self.lock:
            for data, frames, _seq in self._exchange(m, RTM_GETLINK, NLM_F_REQUEST):
                for t, off in frames:
                    if t == NLMSG_ERROR:
                        err = self._error(data, off)
                        raise NetlinkError(-err if err < 0 else errno_mod.EIO, f"interface {name}")
                    idx = struct.unpack_from("=i", data, off + 20)[0]  # ifinfomsg.ifi_index
                    self.index[name] = idx
                    return idx

    def link_names(self) -> set[str]:
        return {m.get_attr("IFLA_IFNAME") for m in self.links()}

    def link_exists(self, name: str) -> bool:
        try:
            self.link_index(name)
            return True
        except NetlinkError as e:
            if e.errno == errno_mod.ENODEV:
                return False
            raise

    def _settings(self, mtu: int | None, mac: str | None, master: str | None) -> list:
        """The attributes an interface is made or changed with: MTU, MAC, bridge."""
        attrs: list = []
        if mtu:
            attrs.append(("IFLA_MTU", mtu))
        if mac:
            attrs.append(("IFLA_ADDRESS", mac))
        if master:
            attrs.append(("IFLA_MASTER", self.link_index(master)))
        return attrs

    def link_add(self, name: str, kind: str, *, up: bool = True, mtu: int | None = None, mac: str | None = None,
                 master: str | None = None, link: str | None = None, netns_fd: int | None = None,
                 info_data: list | None = None, peer: dict | None = None, group: int | None = None) -> None:
        """RTM_NEWLINK (create). `peer` is for veth: {ifname, netns_fd, mac, mtu}; the peer is created
        down (the kernel refuses IFF_UP on a peer placed in another namespace) and set up by its owner."""
        m = ifinfmsg()
        if up and netns_fd is None:
            m["flags"] = IFF_UP
            m["change"] = IFF_UP
        attrs: list = [("IFLA_IFNAME", name)] + self._settings(mtu, mac, master)
        if link:
            attrs.append(("IFLA_LINK", self.link_index(link)))
        if netns_fd is not None:
            attrs.append(("IFLA_NET_NS_FD", netns_fd))
        if group:
            attrs.append(("IFLA_GROUP", group))
        data = list(info_data or [])
        if peer is not None:
            pattrs: list = [("IFLA_IFNAME", peer["ifname"])]
            if peer.get("netns_fd") is not None:
                pattrs.append(("IFLA_NET_NS_FD", peer["netns_fd"]))
            if peer.get("mac"):
                pattrs.append(("IFLA_ADDRESS", peer["mac"]))
            if peer.get("mtu"):
                pattrs.append(("IFLA_MTU", peer["mtu"]))
            data.append(("VETH_INFO_PEER", {"attrs": pattrs}))
        info: list = [("IFLA_INFO_KIND", kind)]
        if data:
            info.append(("IFLA_INFO_DATA", {"attrs": data}))
        attrs.append(("IFLA_LINKINFO", {"attrs": info}))
        m["attrs"] = attrs
        self.request(m, RTM_NEWLINK, CREATE, f"create {kind} {name}")

    def link_set(self, name: str, *, up: bool | None = None, mtu: int | None = None, mac: str | None = None,
                 master: str | None = None, nomaster: bool = False) -> None:
        m = ifinfmsg()
        m["index"] = self.index.get(name, 0)
        if up is not None:
            m["flags"] = IFF_UP if up else 0
            m["change"] = IFF_UP
        attrs: list = [] if m["index"] else [("IFLA_IFNAME", name)]  # the kernel finds it by name
        attrs += self._settings(mtu, mac, master)
        if nomaster:
            attrs.append(("IFLA_MASTER", 0))
        m["attrs"] = attrs
        self.request(m, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, f"set {name}")

    def brport_hairpin(self, name: str) -> None:
        """Let a bridge port send frames back out where they came in (a container reaching its own
        published port through the host)."""
        m = ifinfmsg()
        m["index"] = self.link_index(name)
        m["attrs"] = [("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_SLAVE_KIND", "bridge"), (
            "IFLA_INFO_SLAVE_DATA", {"attrs": [("IFLA_BRPORT_MODE", 1)]})]})]
        self.request(m, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, f"set hairpin mode on {name}")

    def link_del(self, name: str) -> None:
        m = ifinfmsg()
        m["index"] = self.link_index(name)
        try:
            self.request(m, RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, f"delete {name}")
        finally:
            self.index.pop(name, None)

    def group_members(self, group: int) -> list[str]:
        return [m.get_attr("IFLA_IFNAME") for m in self.links() if m.get_attr("IFLA_GROUP") == group]

    def group_del(self, group: int) -> None:
        """Delete every interface of a netdev group in one request (one batched unregister)."""
        m = ifinfmsg()
        m["index"] = 0
        m["attrs"] = [("IFLA_GROUP", group)]
        self.request(m, RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, f"delete interface group {group}")
        self.index.clear()

    def forget(self, name: str) -> None:
        """Drop a cached index (the interface went away with its peer or namespace)."""
        self.index.pop(name, None)

    # ---- addresses --------------------------------------------------------------------------------
    def _addr_msg(self, ifname: str, ip: str, prefixlen: int):
        m = ifaddrmsg()
        v6 = ":" in ip
        m["family"] = socket.AF_INET6 if v6 else socket.AF_INET
        m["prefixlen"] = prefixlen
        m["index"] = self.link_index(ifname)
        m["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)]
        return m

    def addr_add(self, ifname: str, ip: str, prefixlen: int) -> None:
        self.request(self._addr_msg(ifname, ip, prefixlen), RTM_NEWADDR, CREATE, f"add {ip}/{prefixlen} to {ifname}")

    def addr_del(self, ifname: str, ip: str, prefixlen: int) -> None:
        self.request(self._addr_msg(ifname, ip, prefixlen), RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK,
                     f"remove {ip}/{prefixlen} from {ifname}")

    def addrs(self) -> list:
        return self.request(ifaddrmsg(), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, "list addresses")

    # ---- routes -------------------------------------------------------------------------------------
    def _route_msg(self, dest: str | None, via: str | None, dev: str | None, metric: int | None):
        m = rtmsg()
        sample = via or dest or "0.0.0.0"
        v6 = ":" in sample
        m["family"] = socket.AF_INET6 if v6 else socket.AF_INET
        m["table"] = RT_TABLE_MAIN
        m["proto"] = RTPROT_BOOT
        m["type"] = RTN_UNICAST
        m["scope"] = RT_SCOPE_UNIVERSE if via else RT_SCOPE_LINK
        attrs: list = [("RTA_TABLE", RT_TABLE_MAIN)]
        if dest is not None:
            net, _, plen = dest.partition("/")
            m["dst_len"] = int(plen) if plen else (128 if v6 else 32)
            attrs.append(("RTA_DST", net))
        if via:
            attrs.append(("RTA_GATEWAY", via))
        if dev:
            attrs.append(("RTA_OIF", self.link_index(dev)))
        if metric is not None:
            attrs.append(("RTA_PRIORITY", metric))
        m["attrs"] = attrs
        return m

    def route_add(self, dest: str | None, via: str | None, dev: str | None, metric: int | None) -> None:
        self.request(self._route_msg(dest, via, dev, metric), RTM_NEWROUTE, CREATE,
                     f"add route {dest or 'default'}")

    def route_del(self, dest: str | None, via: str | None, dev: str | None, metric: int | None) -> None:
        self.request(self._route_msg(dest, via, dev, metric), RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK,
                     f"delete route {dest or 'default'}")

    def routes(self, family: int = socket.AF_INET) -> list:
        m = rtmsg()
        m["family"] = family
        return self.request(m, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, "list routes")
