"""A stand-in for a netlink socket, and replies built the way the kernel builds them, for the tests of
pipenet's netlink code (test_nlmsg.py, test_netlink_decoder.py): no kernel involved."""

from __future__ import annotations

import socket
import struct

from pipenet.backends import nlmsg as M
from pipenet.backends.netlink import Netlink


class FakeSocket:
    """Records what is sent. Each recv answers the last request: with the next of `replies` (buffers in
    which b"SEQ!" stands for the request's sequence number), then with an ack (or the error it is told
    to), or, with `timeout`, by raising socket.timeout once the replies are used up."""

    def __init__(self, errno: int = 0, replies: bytes | list[bytes] = b"", timeout: bool = False):
        self.sent: list[bytes] = []
        self.errno = errno
        self.replies = [replies] if isinstance(replies, bytes) and replies else list(replies or [])
        self.timeout = timeout
        self.reads = 0

    def send(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def recv_into(self, buf) -> int:
        data = self.recv(len(buf))
        buf[:len(data)] = data
        return len(data)

    def recv(self, _n: int) -> bytes:
        self.reads += 1
        seq = M.HDR.unpack_from(self.sent[-1])[3]
        if self.replies:
            return self.replies.pop(0).replace(b"SEQ!", struct.pack("=I", seq))
        if self.timeout:
            raise socket.timeout("timed out")
        return ack(seq, -self.errno)

    def close(self) -> None:
        pass


def nl_with(index: dict | None = None, **kw) -> tuple[Netlink, FakeSocket]:
    s = FakeSocket(**kw)
    nl = Netlink(s)
    nl.index.update(index or {})
    return nl, s


def ack(seq: int | bytes = b"SEQ!", error: int = 0, flags: int = M.NLM_F_CAPPED, tlvs: bytes = b"",
        request: bytes | None = None) -> bytes:
    """An NLMSG_ERROR message: the code, the request's header (or, not capped, the whole request), TLVs."""
    echoed = request if request is not None else M.HDR.pack(16, M.RTM_NEWLINK, 5, 1, 0)
    echoed += b"\0" * (-len(echoed) & 3)
    body = struct.pack("=i", error) + echoed + tlvs
    return header(16 + len(body), M.NLMSG_ERROR, flags, seq) + body


def done(seq: int | bytes = b"SEQ!", error: int = 0, flags: int = M.NLM_F_MULTI, tlvs: bytes = b"") -> bytes:
    body = struct.pack("=i", error) + tlvs
    return header(16 + len(body), M.NLMSG_DONE, flags, seq) + body


def header(length: int, mtype: int, flags: int, seq: int | bytes = b"SEQ!") -> bytes:
    seq_bytes = seq if isinstance(seq, bytes) else struct.pack("=I", seq)
    return struct.pack("=IHH", length, mtype, flags) + seq_bytes + struct.pack("=I", 0)


def encoded(cls, mtype: int, fields: dict, attrs: list, flags: int = M.NLM_F_MULTI, seq: bytes = b"SEQ!") -> bytes:
    """A reply message as the kernel would send it, encoded by pyroute2."""
    m = cls()
    for k, v in fields.items():
        m[k] = v
    m["attrs"] = attrs
    m["header"]["type"] = mtype
    m["header"]["flags"] = flags
    m.encode()
    data = bytearray(m.data)
    data[8:12] = seq
    return bytes(data)
