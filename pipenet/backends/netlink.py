"""rtnetlink over raw sockets, one socket per network namespace.

pyroute2's synchronous `IPRoute` keeps its socket per *thread* (an asyncio
event loop in thread-local storage), so a socket that a worker thread opens
inside a namespace cannot be used from the main thread, and `IPRoute(netns=)`
forks a process per namespace. pipenet therefore opens plain
`AF_NETLINK/NETLINK_ROUTE` sockets itself (a raw socket belongs to the
namespace its creating thread was in, forever) and packs its few message
shapes with `struct` (`nlmsg`; why not pyroute2's message classes on these
sockets: measured in bench/netlink.py, see docs/how-it-works.md).

What a request guarantees, whatever comes back: a reply within
TIMEOUT_SECONDS or NetlinkError(ETIMEDOUT); a dump the kernel marks as
interrupted (NLM_F_DUMP_INTR: the table changed while it was read) read
again, up to DUMP_RETRIES times; a refusal raised with the kernel's own words
when it gives them (extended acks); and any reply that does not fit its
lengths raised as NetlinkError(EBADMSG), never an IndexError or struct.error.
Messages of another sequence number (a late answer to a request that timed
out) and of another type than the request asks for are skipped.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
import threading

from pipenet.backends import nlmsg as M
from pipenet.backends.objects import PIPENET_PROTO
from pipenet.backends.nlmsg import (NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP,
                                    NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR,
                                    NLMSG_MIN_TYPE, NLMSGERR_ATTR_MSG)

IFF_UP = 1
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
#: how long a reply from the kernel may take before the request is called failed
TIMEOUT_SECONDS = 30
#: how many times a dump the kernel marked as interrupted (the table changed under it) is retried
DUMP_RETRIES = 5
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1

RTM_NEWNEIGH, NDA_DST, NDA_LLADDR, NUD_PERMANENT, NTF_SELF, NLM_F_APPEND = 28, 1, 2, 0x80, 0x02, 0x800
CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10  # acks carry only the request's header, not the whole request
NETLINK_EXT_ACK = 11  # an error carries the kernel's own words (NLMSGERR_ATTR_MSG)
NETLINK_GET_STRICT_CHK = 12  # dump requests are checked strictly, and their filters applied
_HDR = M.HDR
_S32 = struct.Struct("=i")
_TIMEVAL = struct.Struct("@ll")  # struct timeval
#: a link dump's request: without statistics (smaller messages, and nothing pipenet reads is lost)
_LINKS = M.ifinfo() + M.u32(M.IFLA_EXT_MASK, M.RTEXT_FILTER_SKIP_STATS)
_LOOPBACK = M.ifinfo(1) + M.u32(M.IFLA_EXT_MASK, M.RTEXT_FILTER_SKIP_STATS)
_UNSEEN = bytes(10)  # a message's flags, sequence number and port, as `dump_raw` hands them on
#: what a link's message says that changes by itself and that no check reads: its counters (any packet
#: in or out) and its per-family data (IPv6's own counters, and its reachable time, drawn anew by the
#: kernel every five minutes); `dump_raw` hands them on zeroed
_LINK_NOISE = frozenset({7, 23, M.IFLA_AF_SPEC})  # IFLA_STATS, IFLA_STATS64, IFLA_AF_SPEC
_ATTR = struct.Struct("=HH")
_ZEROS = memoryview(bytes(1 << 16))  # (zeroing from a slice of it allocates nothing)
#: a dump of the main table's routes, both families (its filter applied under strict checking)
_MAIN_ROUTES = M.rtmsg(socket.AF_UNSPEC, 0, RT_TABLE_MAIN, 0, 0, 0) + M.u32(M.RTA_TABLE, RT_TABLE_MAIN)


def _quieten(b: bytearray, off: int, end: int) -> None:
    """Zero the payload of each top-level attribute of the link message at `off` that is noise
    (`_LINK_NOISE`): never one `nlmsg.decode` reads, so what decoding makes of the message is the same
    whatever these held. An attribute whose length does not fit ends the walk (decoding refuses it)."""
    pos = off + 16 + M.IFINFO.size
    unpack = _ATTR.unpack_from
    left = len(_LINK_NOISE)  # (each comes once: the walk stops after the last)
    while pos + 4 <= end:
        n, t = unpack(b, pos)
        if n < 4 or pos + n > end:
            return
        if t & 0x3FFF in _LINK_NOISE:
            b[pos + 4:pos + n] = _ZEROS[:n - 4]
            left -= 1
            if not left:
                return
        pos += (n + 3) & ~3


def _error(data: bytes, off: int) -> int:
    """The error code of the NLMSG_ERROR message at `off` (0 for an ack). ValueError when the message
    is too short to hold one."""
    length = _HDR.unpack_from(data, off)[0] if off + 16 <= len(data) else len(data) - off
    if length < 20 or off + 20 > len(data):
        raise ValueError(f"a netlink error message of {length} bytes, short of 20")
    return _S32.unpack_from(data, off + 16)[0]


def _done_code(data: bytes, off: int) -> int:
    """The code a dump's NLMSG_DONE carries (negative: the dump failed), 0 when it carries none."""
    return _error(data, off) if _HDR.unpack_from(data, off)[0] >= 20 else 0


def _ext_ack(data: bytes, off: int) -> str:
    """The kernel's message in an extended ack ("" when there is none, or when the ack does not fit
    its lengths: the words are a courtesy, never a reason to fail). After the error code come the
    request's header (and its body too, unless the ack says NLM_F_CAPPED), then the TLVs; a dump's
    NLMSG_DONE has its TLVs right after the code."""
    if off + 16 > len(data):
        return ""
    length, t, flags, _s, _p = _HDR.unpack_from(data, off)
    if not flags & NLM_F_ACK_TLVS:
        return ""
    end = min(off + length, len(data))
    start = off + 20
    if t == NLMSG_ERROR:
        if start + 16 > end:
            return ""
        start += 16 if flags & NLM_F_CAPPED else max(16, _HDR.unpack_from(data, start)[0])
        start = (start + 3) & ~3
    msg = M.attrs_of(bytes(data[start:end])).get(NLMSGERR_ATTR_MSG)
    return msg.split(b"\0", 1)[0].decode(errors="replace") if msg else ""


def _main_unicast(data: bytes, off: int) -> bool:
    """A route message of the main table (rtm_table) and of type unicast (rtm_type), by its header.
    One too short to have those fields is kept, for `decode` to refuse."""
    if _HDR.unpack_from(data, off)[0] < 16 + M.RTMSG.size:
        return True
    return data[off + 16 + 4] == RT_TABLE_MAIN and data[off + 16 + 7] == RTN_UNICAST


def _reply_type(mtype: int) -> int | None:
    """The type of the data messages that answer a request: RTM_NEWxxx for RTM_GETxxx (rtnetlink's
    types come in fours: new, del, get, set); None when a request is answered by an ack alone."""
    return mtype - 2 if mtype >= NLMSG_MIN_TYPE and mtype % 4 == 2 else None


_BUFFERS = threading.local()


def _receive(sock, copy=bytes) -> bytes:
    """One datagram, read into the calling thread's reusable 1 MB buffer and copied out at its size
    (as `copy`, bytes or bytearray): `recv(1 << 20)` allocates a 1 MB object per read, which cost more
    than the read itself (a thousand namespaces' dumps took twice as long; bench/noop.py)."""
    buf = getattr(_BUFFERS, "buf", None)
    if buf is None:
        buf = _BUFFERS.buf = memoryview(bytearray(1 << 20))
    n = sock.recv_into(buf)
    return copy(buf[:n])


class NetlinkError(OSError):
    """A request failed: the kernel refused it (`errno` is its reason, `detail` its own words when it
    gave them), or no answer came in time, or the answer did not fit its lengths (EBADMSG)."""

    def __init__(self, err: int, what: str, detail: str = ""):
        try:
            reason = os.strerror(err)
        except (OverflowError, ValueError):  # (a code no C int holds: a reply that does not fit)
            err, reason = errno_mod.EBADMSG, f"error code {err}"
        reason += f" ({detail})" if detail else ""
        super().__init__(err, f"{what}: {reason}")
        self.what = what
        self.detail = detail


class Netlink:
    """A netlink socket bound, for its whole life, to the namespace it was opened in."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.seq = 0
        self.lock = threading.Lock()
        self.index: dict[str, int] = {}
        self.strict: bool | None = None  # (NETLINK_GET_STRICT_CHK: None until asked for)

    @classmethod
    def open_here(cls, big: bool = True) -> Netlink:
        """Open a socket in the calling thread's current network namespace (`big`: buffers for the
        host's dumps of thousands of interfaces; a container's few need the defaults)."""
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        if big:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        try:
            s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except OSError:
            pass
        try:
            s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        except OSError:
            pass
        s.bind((0, 0))
        # The kernel's own receive timeout, the socket left blocking: Python's `settimeout` would put a
        # poll() before every send and receive (a third more system calls on a thousand namespaces' reads)
        whole = int(TIMEOUT_SECONDS)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                     _TIMEVAL.pack(whole, int((TIMEOUT_SECONDS - whole) * 1_000_000)))
        return cls(s)

    def close(self) -> None:
        self.sock.close()

    # ---- the wire -------------------------------------------------------------------------------
    def _exchange(self, mtype: int, flags: int, body: bytes, what: str = "netlink request"):
        """Send one request (the caller holds the lock); yield each receive buffer with the
        (type, offset, flags) of every message in it that answers this request. A buffer whose
        lengths do not fit, no answer within TIMEOUT_SECONDS, a socket error: NetlinkError."""
        seq = self._next_seq()
        self._send(M.frame(mtype, flags, seq, body), what)
        for data, found in self._answers(what):
            yield data, [(t, off, fl) for off, _n, t, fl, mseq in found if mseq == seq]

    def _next_seq(self) -> int:
        self.seq = self.seq % 0xFFFFFFFF + 1  # (1 .. 2**32 - 1: 0 is what the kernel's own messages carry)
        return self.seq

    def _send(self, frames: bytes, what: str) -> None:
        try:
            self.sock.send(frames)
        except OSError as e:
            raise NetlinkError(e.errno or errno_mod.EIO, what, "the request could not be sent") from None

    def _read(self, what: str, copy=bytes) -> bytes:
        """One receive buffer (as `copy`: bytes, or a bytearray to change). No answer within
        TIMEOUT_SECONDS, a socket error, an empty read: NetlinkError."""
        try:
            data = _receive(self.sock, copy)
        except (socket.timeout, BlockingIOError):  # (SO_RCVTIMEO ran out: EAGAIN)
            raise NetlinkError(errno_mod.ETIMEDOUT, what, f"no answer within {TIMEOUT_SECONDS} s") from None
        except OSError as e:  # ENOBUFS: the kernel dropped replies its socket had no room for
            raise NetlinkError(e.errno or errno_mod.EIO, what, "the answer could not be read") from None
        if not data:
            raise NetlinkError(errno_mod.EBADMSG, what, "an empty read from the netlink socket")
        return data

    def _answers(self, what: str):
        """Each receive buffer, with every message in it (offset, length, type, flags, seq), for as long
        as the caller asks. A buffer whose lengths do not fit, no answer within TIMEOUT_SECONDS, a
        socket error: NetlinkError."""
        while True:
            data = self._read(what)
            try:
                found = M.messages(data)
            except ValueError as e:
                raise NetlinkError(errno_mod.EBADMSG, what, str(e)) from None
            yield data, found

    def request(self, mtype: int, flags: int, body: bytes, what: str, keep=None, only: dict | None = None) -> list:
        """Send one request and collect its decoded replies; raise NetlinkError on a negative ack
        (with the kernel's own words when it gives them). A dump the kernel marks as interrupted
        (the table changed while it was read) is read again. `keep(data, offset)`, when given, says
        from a message's fixed header whether it is worth decoding (most of a route dump is not);
        `only`, which attributes to decode (`nlmsg.decode`)."""
        for _ in range(DUMP_RETRIES):
            replies, interrupted = self._request_once(mtype, flags, body, what, keep, only)
            if not interrupted:
                return replies
        raise NetlinkError(errno_mod.EAGAIN, what, f"the dump was interrupted {DUMP_RETRIES} times")

    def dump_raw(self, mtype: int, body: bytes, what: str, plain: list | None = None) -> list:
        """A dump's replies undecoded, each as (buffer, offset, type) (`decode_frames` decodes them later,
        if they are needed at all), with the guarantees of `request` (a refusal raised, an interrupted
        dump read again, lengths checked, other sequence numbers and types skipped): the no-op `up`
        reads every namespace's three dumps this way, and the layers of `request` cost more than the
        kernel's own work on a namespace's few messages. `plain`, when given, gets every buffer of the
        dump (of the read that was not interrupted) with each message's flags, sequence number and
        port zeroed, and a link's counters and per-family data (`_quieten`): they change from one read
        to the next when nothing pipenet reads does, so two reads of a namespace in which nothing it
        checks changed give the same bytes (`kernel.Raw`'s digest). The replies are in those same
        buffers: decoding reads nothing that is zeroed."""
        want = _reply_type(mtype)
        unpack = _HDR.unpack_from
        quiet = plain is not None  # (the buffers are then quietened in place, the replies' own included:
        kind = bytearray if quiet else bytes  # decoding reads nothing that is zeroed)
        for _ in range(DUMP_RETRIES):
            bufs: list = []
            with self.lock:
                seq = self._next_seq()
                self._send(M.frame(mtype, NLM_F_REQUEST | NLM_F_DUMP, seq, body), what)
                out: list = []
                interrupted = done = False
                while not done:
                    data = self._read(what, kind)
                    off, size = 0, len(data)
                    while off < size:
                        if off + 16 > size:
                            raise NetlinkError(errno_mod.EBADMSG, what, f"a netlink header cut short ({size - off} "
                                               f"bytes at offset {off})")
                        length, t, fl, mseq, _pid = unpack(data, off)
                        if length < 16 or off + length > size:
                            raise NetlinkError(errno_mod.EBADMSG, what, f"a netlink message of {length} bytes at "
                                               f"offset {off} of a {size}-byte buffer")
                        if mseq == seq:
                            if fl & NLM_F_DUMP_INTR:
                                interrupted = True
                            if t == want:
                                out.append((data, off, t))
                            elif t == NLMSG_ERROR or t == NLMSG_DONE:
                                try:
                                    err = _error(data, off) if t == NLMSG_ERROR else _done_code(data, off)
                                except (ValueError, struct.error, IndexError) as e:
                                    raise NetlinkError(errno_mod.EBADMSG, what, str(e) or type(e).__name__) from None
                                if err < 0:
                                    raise NetlinkError(-err, what, _ext_ack(data, off))
                                done = True
                        if quiet and mseq == seq:  # (another request's message keeps its own: it differs)
                            data[off + 6:off + 16] = _UNSEEN
                            if t == M.RTM_NEWLINK:
                                _quieten(data, off, off + length)
                        off += (length + 3) & ~3
                    bufs.append(data)
            if not interrupted:
                if quiet:
                    plain.extend(bufs)
                return out
        raise NetlinkError(errno_mod.EAGAIN, what, f"the dump was interrupted {DUMP_RETRIES} times")

    @staticmethod
    def decode_frames(frames: list, what: str, keep=None) -> list:
        """The replies of `dump_raw` decoded, as `request` would have returned them."""
        out = []
        for data, off, t in frames:
            try:
                if keep is not None and not keep(data, off):
                    continue
                m = M.decode(data, off, t)
            except (ValueError, struct.error, IndexError) as e:
                raise NetlinkError(errno_mod.EBADMSG, what, str(e) or type(e).__name__) from None
            if m is not None:
                out.append(m)
        return out

    def _request_once(self, mtype: int, flags: int, body: bytes, what: str, keep=None,
                      only: dict | None = None) -> tuple[list, bool]:
        want = _reply_type(mtype)
        with self.lock:
            replies = []
            interrupted = False
            for data, frames in self._exchange(mtype, flags, body, what):
                done = False
                for t, off, fl in frames:
                    if fl & NLM_F_DUMP_INTR:
                        interrupted = True
                    try:
                        if t == NLMSG_ERROR or t == NLMSG_DONE:
                            # an ack, a refusal, or the end of a dump (whose code says whether it failed)
                            err = _error(data, off) if t == NLMSG_ERROR else _done_code(data, off)
                            if err < 0:
                                raise NetlinkError(-err, what, _ext_ack(data, off))
                            done = True
                            continue
                        if t != want:
                            continue  # a control message (NOOP, OVERRUN) or a type this request did not ask for
                        if keep is not None and not keep(data, off):
                            continue
                        m = M.decode(data, off, t, only)
                    except (ValueError, struct.error, IndexError) as e:
                        raise NetlinkError(errno_mod.EBADMSG, what, str(e) or type(e).__name__) from None
                    if m is not None:
                        replies.append(m)
                    if not (flags & NLM_F_DUMP) and not (flags & NLM_F_ACK):
                        done = True
                if done:
                    return replies, interrupted

    # ---- links ------------------------------------------------------------------------------------
    def links(self, raw: bool = False, plain: list | None = None) -> list:
        """Every interface (`raw`: undecoded, `dump_raw`, which fills `plain`)."""
        if raw:
            return self.dump_raw(M.RTM_GETLINK, _LINKS, "list links", plain)
        return self.request(M.RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, _LINKS, "list links")

    def loopback_mark(self) -> str | None:
        """The alias of this namespace's loopback (pipenet's mark on a namespace it made), by a request for
        index 1, which the loopback has in every namespace: one message, three attributes decoded, where
        a dump sends every interface in full (what `down` reads of each namespace it deletes)."""
        for m in self.request(M.RTM_GETLINK, NLM_F_REQUEST, _LOOPBACK, "loopback", only=M.LINK_MARK_ATTRS):
            if m.get_attr("IFLA_IFNAME") == "lo":
                return m.get_attr("IFLA_IFALIAS")
        return None

    def link_marks(self) -> list:
        """Every interface with its name, mark (alias) and group only: what deleting interfaces by
        their marks reads just before it deletes (a quarter of the decoding of `links` on a host of
        4,000 bridge ports)."""
        return self.request(M.RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP,
                            M.ifinfo() + M.u32(M.IFLA_EXT_MASK, M.RTEXT_FILTER_SKIP_STATS), "list links",
                            only=M.LINK_MARK_ATTRS)

    def links_of_kind(self, kind: str) -> list:
        """Every interface of one kind, in full (a filtered dump: the kernel fills nothing for the others)."""
        return self.request(M.RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, _LINKS + M.of_kind(kind), f"list {kind}s")

    def bridge_ports(self) -> list[tuple]:
        """Every bridge port as the bridges' own dump sends it (AF_BRIDGE), without the link dump's lookup
        of a veth's peer namespace (`backends.hostlinks`): (name, index, MAC, MTU, up, bridge's index,
        peer's index, hairpin) each (`nlmsg.bridge_port`)."""
        what = "list bridge ports"
        try:
            return [M.bridge_port(data, off) for data, off, _t in self.dump_raw(M.RTM_GETLINK, M.bridge_ports(), what)]
        except (ValueError, struct.error, IndexError) as e:
            raise NetlinkError(errno_mod.EBADMSG, what, str(e) or type(e).__name__) from None

    def link(self, name: str | None = None, index: int = 0):
        """One interface in full, by name or by index (one request, not a dump); None when there is none."""
        skip = M.u32(M.IFLA_EXT_MASK, M.RTEXT_FILTER_SKIP_STATS)
        body = M.ifinfo(index) + skip if name is None else M.ifinfo() + M.string(M.IFLA_IFNAME, name) + skip
        try:
            found = self.request(M.RTM_GETLINK, NLM_F_REQUEST, body, f"interface {name or f'#{index}'}")
        except NetlinkError as e:
            if e.errno == errno_mod.ENODEV:
                return None
            raise
        return found[0] if found else None

    def link_index(self, name: str) -> int:
        """An interface's index, read from the reply's fixed header (no full decode), then cached."""
        idx = self.index.get(name)
        if idx is not None:
            return idx
        body = M.ifinfo() + M.string(M.IFLA_IFNAME, name)
        what = f"interface {name}"
        with self.lock:
            for data, frames in self._exchange(M.RTM_GETLINK, NLM_F_REQUEST, body, what):
                for t, off, _fl in frames:
                    try:
                        if t == NLMSG_ERROR:
                            err = _error(data, off)
                            raise NetlinkError(-err if err < 0 else errno_mod.EIO, what,
                                               _ext_ack(data, off) if err < 0 else "an ack where a link was asked")
                        if t != M.RTM_NEWLINK:
                            continue
                        if _HDR.unpack_from(data, off)[0] < 16 + M.IFINFO.size:
                            raise ValueError("a link message too short for its fixed header")
                    except (ValueError, struct.error) as e:
                        raise NetlinkError(errno_mod.EBADMSG, what, str(e)) from None
                    idx = _S32.unpack_from(data, off + 20)[0]  # ifinfomsg.ifi_index
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

    def _settings(self, mtu: int | None, mac: str | None, master: str | None) -> bytes:
        """The attributes an interface is made or changed with: MTU, MAC, bridge."""
        out = b""
        if mtu:
            out += M.u32(M.IFLA_MTU, mtu)
        if mac:
            out += M.mac(M.IFLA_ADDRESS, mac)
        if master:
            out += M.u32(M.IFLA_MASTER, self.link_index(master))
        return out

    def link_add(self, name: str, kind: str, *, up: bool = True, mtu: int | None = None, mac: str | None = None,
                 master: str | None = None, link: str | None = None, netns_fd: int | None = None,
                 info_data: bytes = b"", peer: dict | None = None, group: int | None = None) -> None:
        """RTM_NEWLINK (create). `peer` is for veth: {ifname, netns_fd, mac, mtu}; the peer is created
        down (the kernel refuses IFF_UP on a peer placed in another namespace) and set up by its owner.
        `info_data` is the kind's own attributes, already packed."""
        flags = IFF_UP if up and netns_fd is None else 0
        body = M.ifinfo(0, flags, flags) + M.string(M.IFLA_IFNAME, name) + self._settings(mtu, mac, master)
        if link:
            body += M.u32(M.IFLA_LINK, self.link_index(link))
        if netns_fd is not None:
            body += M.u32(M.IFLA_NET_NS_FD, netns_fd)
        if group:
            body += M.u32(M.IFLA_GROUP, group)
        data = info_data
        if peer is not None:
            p = M.ifinfo() + M.string(M.IFLA_IFNAME, peer["ifname"])
            if peer.get("netns_fd") is not None:
                p += M.u32(M.IFLA_NET_NS_FD, peer["netns_fd"])
            if peer.get("mac"):
                p += M.mac(M.IFLA_ADDRESS, peer["mac"])
            if peer.get("mtu"):
                p += M.u32(M.IFLA_MTU, peer["mtu"])
            data += M.attr(M.VETH_INFO_PEER, p)
        info = M.string(M.IFLA_INFO_KIND, kind)
        if data:
            info += M.attr(M.IFLA_INFO_DATA, data)
        body += M.attr(M.IFLA_LINKINFO, info)
        self.request(M.RTM_NEWLINK, CREATE, body, f"create {kind} {name}")

    def link_set(self, name: str, *, up: bool | None = None, mtu: int | None = None, mac: str | None = None,
                 master: str | None = None, nomaster: bool = False, alias: str | None = None,
                 quiet: bool = False) -> None:
        """Change an interface: up/down, MTU, MAC, bridge, alias (pipenet's mark; the kernel ignores an
        alias given at creation, so it is set here), and `quiet`: no IPv6 autoconfiguration."""
        self.request(M.RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK,
                     self._set_msg(name, up, mtu, mac, master, nomaster, alias, quiet), f"set {name}")

    def _set_msg(self, name: str, up: bool | None = None, mtu: int | None = None, mac: str | None = None,
                 master: str | None = None, nomaster: bool = False, alias: str | None = None,
                 quiet: bool = False) -> bytes:
        index = self.index.get(name, 0)
        flags = IFF_UP if up else 0
        body = M.ifinfo(index, flags, IFF_UP if up is not None else 0)
        if not index:
            body += M.string(M.IFLA_IFNAME, name)  # the kernel finds it by name
        body += self._settings(mtu, mac, master)
        if nomaster:
            body += M.u32(M.IFLA_MASTER, 0)
        if alias is not None:
            body += M.string(M.IFLA_IFALIAS, alias)
        if quiet:
            body += M.nested(M.IFLA_AF_SPEC, M.nested(M.AF_INET6_ATTR, M.u8(M.IFLA_INET6_ADDR_GEN_MODE,
                                                                             M.IN6_ADDR_GEN_MODE_NONE)))
        return body

    def link_set_many(self, name: str, changes: list[dict]) -> int:
        """`link_set(name, **change)` for each change, in order, then the interface's index asked for
        (and cached: its addresses need it): all in one send, the answers read after. The kernel takes
        a send's messages one after the other, each with its own answer, and goes on after a refusal:
        the first refusal raises NetlinkError once every answer is in, and the caller undoes the
        interface whole (a container's end of a pair: two requests and an index lookup in one send)."""
        what = [f"set {name}"] * len(changes) + [f"interface {name}"]
        msgs = [(M.RTM_NEWLINK, self._set_msg(name, **c)) for c in changes]
        msgs.append((M.RTM_GETLINK, M.ifinfo() + M.string(M.IFLA_IFNAME, name)))
        with self.lock:
            seqs = {}
            out = []
            for n, (mtype, body) in enumerate(msgs):
                seq = self._next_seq()
                seqs[seq] = n
                out.append(M.frame(mtype, NLM_F_REQUEST | NLM_F_ACK, seq, body))
            self._send(b"".join(out), what[0])
            refused: dict[int, NetlinkError] = {}
            index = None
            for data, found in self._answers(what[0]):
                for off, length, t, _fl, mseq in found:
                    n = seqs.get(mseq)
                    if n is None:
                        continue
                    if t == NLMSG_ERROR:
                        err = _error(data, off)
                        if err < 0:
                            refused.setdefault(n, NetlinkError(-err, what[n], _ext_ack(data, off)))
                        del seqs[mseq]
                    elif t == M.RTM_NEWLINK and length >= 16 + M.IFINFO.size:
                        index = _S32.unpack_from(data, off + 20)[0]  # ifinfomsg.ifi_index
                if not seqs:
                    break  # (every message answered)
        if refused:
            raise refused[min(refused)]
        if index is None:
            raise NetlinkError(errno_mod.EIO, what[-1], "an ack where a link was asked")
        self.index[name] = index
        return index

    def brport_hairpin(self, name: str, on: bool = True) -> None:
        """Let a bridge port send frames back out where they came in (a container reaching its own
        published port through the host)."""
        body = M.ifinfo(self.link_index(name)) + M.nested(
            M.IFLA_LINKINFO, M.string(M.IFLA_INFO_SLAVE_KIND, "bridge"),
            M.nested(M.IFLA_INFO_SLAVE_DATA, M.u8(M.IFLA_BRPORT_MODE, 1 if on else 0)))
        self.request(M.RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, body, f"set hairpin mode on {name}")

    def fdb_append(self, name: str, dst: str) -> None:
        """A static all-zeros forwarding entry on VXLAN device `name` to `dst` (`bridge fdb append
        00:00:00:00:00:00 dev NAME dst DST`): frames for unknown and broadcast MACs are sent to every such
        destination (head-end replication, no multicast)."""
        family = socket.AF_INET6 if ":" in dst else socket.AF_INET
        body = struct.pack("=BxxxiHBB", socket.AF_BRIDGE, self.link_index(name), NUD_PERMANENT, NTF_SELF, 0)
        body += M.attr(NDA_LLADDR, bytes(6)) + M.attr(NDA_DST, socket.inet_pton(family, dst))
        self.request(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND, body,
                     f"add a forwarding entry to {dst} on {name}")

    def link_del(self, name: str) -> None:
        try:
            self.request(M.RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, M.ifinfo(self.link_index(name)),
                         f"delete {name}")
        finally:
            self.index.pop(name, None)

    def group_members(self, group: int) -> list[str]:
        return [m.get_attr("IFLA_IFNAME") for m in self.links() if m.get_attr("IFLA_GROUP") == group]

    def link_set_group(self, name: str, group: int, snooping: int | None = None) -> None:
        """Move an interface into a netdev group (to be removed with it by `group_del`). `snooping`: a
        bridge's multicast snooping (IFLA_BR_MCAST_SNOOPING) set in the same request."""
        body = self._set_msg(name) + M.u32(M.IFLA_GROUP, group)
        what = f"set {name} group {group}"
        if snooping is not None:
            body += M.nested(M.IFLA_LINKINFO, M.string(M.IFLA_INFO_KIND, "bridge"),
                             M.nested(M.IFLA_INFO_DATA, M.u8(M.IFLA_BR_MCAST_SNOOPING, snooping)))
            what += f" mcast_snooping {snooping}"
        self.request(M.RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, body, what)

    def bridge_snooping(self, name: str) -> int | None:
        """A bridge's multicast snooping (IFLA_BR_MCAST_SNOOPING: 1 or 0; None when the kernel does not say)."""
        body = M.ifinfo() + M.string(M.IFLA_IFNAME, name) + M.u32(M.IFLA_EXT_MASK, M.RTEXT_FILTER_SKIP_STATS)
        for m in self.request(M.RTM_GETLINK, NLM_F_REQUEST, body, f"interface {name}",
                              only={M.IFLA_LINKINFO: ("IFLA_LINKINFO", bytes)}):
            info = m.get_attr("IFLA_LINKINFO")
            data = M.attrs_of(info).get(M.IFLA_INFO_DATA) if info else None
            value = M.first(data, M.IFLA_BR_MCAST_SNOOPING) if data else None
            return value[0] if value else None
        return None

    def group_del(self, group: int) -> None:
        """Delete every interface of a netdev group in one request (one batched unregister)."""
        self.request(M.RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, M.ifinfo() + M.u32(M.IFLA_GROUP, group),
                     f"delete interface group {group}")
        self.index.clear()

    def forget(self, name: str) -> None:
        """Drop a cached index (the interface went away with its peer or namespace)."""
        self.index.pop(name, None)

    # ---- addresses --------------------------------------------------------------------------------
    def _addr_msg(self, ifname: str, ip: str, prefixlen: int, extra: bytes = b"") -> bytes:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return (M.ifaddr(family, prefixlen, self.link_index(ifname)) + M.ip(M.IFA_LOCAL, ip)
                + M.ip(M.IFA_ADDRESS, ip) + extra)

    def addr_add(self, ifname: str, ip: str, prefixlen: int, nodad: bool = False) -> None:
        """Add an address marked as pipenet's (IFA_PROTO); an IPv6 one without duplicate address
        detection when `nodad` (pipenet owns the segment: the address is usable at once)."""
        extra = M.u8(M.IFA_PROTO, PIPENET_PROTO)
        if nodad and ":" in ip:
            extra += M.u32(M.IFA_FLAGS, M.IFA_F_NODAD)
        self.request(M.RTM_NEWADDR, CREATE, self._addr_msg(ifname, ip, prefixlen, extra),
                     f"add {ip}/{prefixlen} to {ifname}")

    def addr_del(self, ifname: str, ip: str, prefixlen: int) -> None:
        self.request(M.RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, self._addr_msg(ifname, ip, prefixlen),
                     f"remove {ip}/{prefixlen} from {ifname}")

    def addrs(self, family: int = 0, raw: bool = False, plain: list | None = None) -> list:
        if raw:
            return self.dump_raw(M.RTM_GETADDR, M.ifaddr(family, 0, 0), "list addresses", plain)
        return self.request(M.RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, M.ifaddr(family, 0, 0), "list addresses")

    # ---- routes -------------------------------------------------------------------------------------
    def _route_msg(self, dest: str | None, via: str | None, dev: str | None, metric: int | None,
                   proto: int = PIPENET_PROTO) -> bytes:
        sample = via or dest or "0.0.0.0"
        v6 = ":" in sample
        dst_len = 0
        attrs = M.u32(M.RTA_TABLE, RT_TABLE_MAIN)
        if dest is not None:
            net, _, plen = dest.partition("/")
            dst_len = int(plen) if plen else (128 if v6 else 32)
            attrs += M.ip(M.RTA_DST, net)
        if via:
            attrs += M.ip(M.RTA_GATEWAY, via)
        if dev:
            attrs += M.u32(M.RTA_OIF, self.link_index(dev))
        if metric is not None:
            attrs += M.u32(M.RTA_PRIORITY, metric)
        return M.rtmsg(socket.AF_INET6 if v6 else socket.AF_INET, dst_len, RT_TABLE_MAIN, proto,
                       RT_SCOPE_UNIVERSE if via else RT_SCOPE_LINK, RTN_UNICAST) + attrs

    def route_add(self, dest: str | None, via: str | None, dev: str | None, metric: int | None,
                  replace: bool = False, proto: int = PIPENET_PROTO) -> None:
        flags = (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | M.NLM_F_REPLACE) if replace else CREATE
        self.request(M.RTM_NEWROUTE, flags, self._route_msg(dest, via, dev, metric, proto),
                     f"add route {dest or 'default'}")

    def route_del(self, dest: str | None, via: str | None, dev: str | None, metric: int | None,
                  proto: int = PIPENET_PROTO) -> None:
        """Delete a route; with `proto`, the kernel deletes it only if it carries that protocol (pipenet's
        mark), so a route of the same destination that someone else made is never taken."""
        self.request(M.RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, self._route_msg(dest, via, dev, metric, proto),
                     f"delete route {dest or 'default'}")

    def routes(self, family: int = socket.AF_INET, main_only: bool = False, raw: bool = False,
               plain: list | None = None) -> list:
        """The routes of every table (or, `main_only`, the main table's unicast routes: what pipenet makes,
        the rest skipped by their fixed header before they are decoded; `raw`: every table's, undecoded,
        `main_unicast` being the test to decode them with)."""
        if raw:
            return self.dump_raw(M.RTM_GETROUTE, M.rtmsg(family, 0, 0, 0, 0, 0), "list routes", plain)
        return self.request(M.RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, M.rtmsg(family, 0, 0, 0, 0, 0),
                            "list routes", keep=_main_unicast if main_only else None)

    main_unicast = staticmethod(_main_unicast)

    def main_routes_raw(self, plain: list | None = None) -> list:
        """The main table's routes (both families) undecoded (`dump_raw`), the kernel asked to send only
        that table (a table filter, which it applies under strict checking, turned on for this socket
        the first time): a container's local table, its broadcast and local routes, is most of an
        unfiltered dump, and nothing pipenet reads. Where strict checking cannot be had (before Linux
        4.20), every table's, as `routes(raw=True)`."""
        if self.strict is None:
            try:
                self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
                self.strict = True
            except OSError:
                self.strict = False
        if not self.strict:
            return self.routes(socket.AF_UNSPEC, raw=True, plain=plain)
        return self.dump_raw(M.RTM_GETROUTE, _MAIN_ROUTES, "list routes", plain)

    # ---- qdiscs -----------------------------------------------------------------------------------
    def qdiscs(self) -> list:
        return self.request(M.RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, M.tcmsg(), "list qdiscs")
