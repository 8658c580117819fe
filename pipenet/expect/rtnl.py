"""The few route-netlink questions the probe runner asks inside a namespace.

`ip route get ADDR` (which interface, which next hop, which source address),
`ip neigh get` and `ip neigh del`, and whether an IPv6 address is still
tentative, on a NETLINK_ROUTE socket opened inside the node's namespace.
Packed with `struct`, like the engine's own netlink code, but kept here so
that the runner depends on nothing the engine may change.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from dataclasses import dataclass

RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300
IFA_F_TENTATIVE, IFA_F_DADFAILED = 0x40, 0x08
IFA_FLAGS = 8
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC = 1, 4, 5, 7
NDA_DST = 1
RTN_UNICAST = 1

_HDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BxxxiHBB")
_IFADDRMSG = struct.Struct("=BBBBi")


@dataclass(frozen=True)
class Path:
    """Where the kernel sends a packet for an address: the interface, the neighbour it needs, the source."""

    oif: int
    neighbour: str
    source: str | None


class RouteError(OSError):
    pass


def _attr(kind: int, value: bytes) -> bytes:
    n = 4 + len(value)
    return struct.pack("=HH", n, kind) + value + b"\0" * (-n % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    out, off = {}, 0
    while off + 4 <= len(data):
        n, kind = struct.unpack_from("=HH", data, off)
        if n < 4:
            break
        out.setdefault(kind & 0x3FFF, data[off + 4:off + n])
        off += (n + 3) & ~3
    return out


def _family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


class Rtnl:
    """A NETLINK_ROUTE socket of one namespace (opened there by the caller), asked one thing at a time."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.settimeout(2)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def _ask(self, mtype: int, flags: int, body: bytes) -> tuple[int, bytes]:
        """Send one request; (message type, payload) of its answer; a netlink error raises RouteError."""
        self.seq += 1
        seq = self.seq
        self.sock.send(_HDR.pack(_HDR.size + len(body), mtype, flags, seq, 0) + body)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + _HDR.size <= len(data):
                n, rtype, _, rseq, _ = _HDR.unpack_from(data, off)
                if n < _HDR.size:
                    break
                payload = data[off + _HDR.size:off + n]
                off += (n + 3) & ~3
                if rseq != seq:
                    continue  # an answer to an earlier request given up on
                if rtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise RouteError(code, errno.errorcode.get(code, str(code)))
                return rtype, payload

    def tentative_v6(self) -> int:
        """How many IPv6 addresses of the namespace are still being checked for duplicates (DAD), failed
        checks aside: until that is over the kernel neither uses nor answers them."""
        self.seq += 1
        seq = self.seq
        body = _IFADDRMSG.pack(socket.AF_INET6, 0, 0, 0, 0)
        self.sock.send(_HDR.pack(_HDR.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
        count = 0
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + _HDR.size <= len(data):
                n, rtype, _, rseq, _ = _HDR.unpack_from(data, off)
                if n < _HDR.size:
                    return count
                payload = data[off + _HDR.size:off + n]
                off += (n + 3) & ~3
                if rseq != seq:
                    continue
                if rtype in (NLMSG_DONE, NLMSG_ERROR):
                    return count
                if rtype == RTM_NEWADDR and len(payload) >= _IFADDRMSG.size:
                    flags = _IFADDRMSG.unpack_from(payload)[2]
                    a = _attrs(payload[_IFADDRMSG.size:])
                    if IFA_FLAGS in a:
                        flags = struct.unpack("=I", a[IFA_FLAGS][:4])[0]
                    if flags & IFA_F_TENTATIVE and not flags & IFA_F_DADFAILED:
                        count += 1

    def route(self, ip: str) -> Path | None:
        """The unicast path to `ip` (None: no route, or it is local, broadcast, multicast...)."""
        fam = _family(ip)
        addr = ipaddress.ip_address(ip).packed
        body = _RTMSG.pack(fam, len(addr) * 8, 0, 0, 0, 0, 0, 0, 0) + _attr(RTA_DST, addr)
        try:
            rtype, payload = self._ask(RTM_GETROUTE, NLM_F_REQUEST, body)
        except RouteError:
            return None
        if rtype != RTM_NEWROUTE or len(payload) < _RTMSG.size:
            return None
        if _RTMSG.unpack_from(payload)[7] != RTN_UNICAST:
            return None
        a = _attrs(payload[_RTMSG.size:])
        if RTA_OIF not in a:
            return None
        oif = struct.unpack("=i", a[RTA_OIF][:4])[0]
        hop = str(ipaddress.ip_address(a[RTA_GATEWAY])) if RTA_GATEWAY in a else ip
        src = str(ipaddress.ip_address(a[RTA_PREFSRC])) if RTA_PREFSRC in a else None
        return Path(oif, hop, src)

    def _neigh(self, ifindex: int, ip: str) -> bytes:
        return _NDMSG.pack(_family(ip), ifindex, 0, 0, 0) + _attr(NDA_DST, ipaddress.ip_address(ip).packed)

    def has_neighbour(self, ifindex: int, ip: str) -> bool:
        try:
            rtype, _ = self._ask(RTM_GETNEIGH, NLM_F_REQUEST, self._neigh(ifindex, ip))
        except RouteError as e:
            if e.errno in (errno.ENOENT, errno.ENODEV):
                return False
            raise
        return rtype == RTM_NEWNEIGH

    def forget_neighbour(self, ifindex: int, ip: str) -> None:
        try:
            self._ask(RTM_DELNEIGH, NLM_F_REQUEST | NLM_F_ACK, self._neigh(ifindex, ip))
        except RouteError as e:
            if e.errno not in (errno.ENOENT, errno.ENODEV):
                raise
