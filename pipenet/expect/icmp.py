"""ICMP echo packets, and which probe a received ICMP message belongs to.

A raw ICMP socket sees every ICMP message of its namespace: the replies to
every probe of that node, other programs' pings, errors about anything. So a
reply counts for a probe only when its identifier, its sequence number (one
per attempt), its source address and its payload (a random nonce per probe)
all match what the probe sent; an error (destination unreachable, time
exceeded) counts only when the packet it quotes is one of the probe's own
echo requests to the probe's own target. The old per-process agent took any
destination-unreachable in its namespace as its own, so one probe's failure
could fail its neighbours.

Pure functions over bytes, so the parsing is tested on its own.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
# the error types a probe listens to: v4 destination unreachable, time exceeded, parameter problem;
# v6 destination unreachable, packet too big, time exceeded, parameter problem
ERRORS = {4: (3, 11, 12), 6: (1, 2, 3, 4)}

_V4_UNREACH = {0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable",
               3: "port unreachable", 4: "fragmentation needed", 9: "network prohibited",
               10: "host prohibited", 13: "administratively prohibited"}
_V6_UNREACH = {0: "no route to destination", 1: "administratively prohibited", 3: "address unreachable",
               4: "port unreachable", 5: "source address failed policy", 6: "reject route"}


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_request(version: int, ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request; for ICMPv6 the kernel fills in the checksum (it covers a pseudo-header)."""
    typ = ECHO_REQUEST[version]
    header = struct.pack("!BBHHH", typ, 0, 0, ident, seq)
    csum = checksum(header + payload) if version == 4 else 0
    return struct.pack("!BBHHH", typ, 0, csum, ident, seq) + payload


@dataclass(frozen=True)
class Reply:
    """An echo reply: who sent it, and the identifier, sequence and payload it echoes."""

    source: str
    ident: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class Error:
    """An ICMP error about one of our echo requests: who reported it, what, and the request it quotes."""

    reporter: str
    what: str
    ident: int
    seq: int
    destination: str


def filter_mask(version: int) -> bytes:
    """The ICMP_FILTER / ICMP6_FILTER value that lets through only replies and errors (a set bit blocks)."""
    allowed = (ECHO_REPLY[version], *ERRORS[version])
    if version == 4:
        bits = 0xFFFFFFFF
        for t in allowed:
            bits &= ~(1 << t)
        return struct.pack("I", bits)
    words = [0xFFFFFFFF] * 8
    for t in allowed:
        words[t >> 5] &= ~(1 << (t & 31))
    return struct.pack("8I", *words)


def parse(version: int, data: bytes, sender: str) -> Reply | Error | None:
    """What one datagram read from a raw ICMP socket is (v4 data starts with the IP header)."""
    if version == 4:
        if len(data) < 20:
            return None
        data = data[(data[0] & 0x0F) * 4:]
    if len(data) < 8:
        return None
    typ, code, _, ident, seq = struct.unpack("!BBHHH", data[:8])
    if typ == ECHO_REPLY[version]:
        return Reply(sender, ident, seq, data[8:])
    if typ not in ERRORS[version]:
        return None
    quoted = data[8:]
    if version == 4:
        if len(quoted) < 28 or quoted[9] != 1:  # the quoted packet must be ICMP
            return None
        dst = str(ipaddress.IPv4Address(quoted[16:20]))
        inner = quoted[(quoted[0] & 0x0F) * 4:]
    else:
        if len(quoted) < 48 or quoted[6] != 58:  # next header ICMPv6 (no extension headers on our probes)
            return None
        dst = str(ipaddress.IPv6Address(quoted[24:40]))
        inner = quoted[40:]
    if len(inner) < 8:
        return None
    ityp, _, _, iident, iseq = struct.unpack("!BBHHH", inner[:8])
    if ityp != ECHO_REQUEST[version]:
        return None
    return Error(sender, describe(version, typ, code), iident, iseq, dst)


def describe(version: int, typ: int, code: int) -> str:
    if version == 4:
        if typ == 3:
            return _V4_UNREACH.get(code, f"destination unreachable (code {code})")
        return "time exceeded (a routing loop, or too many hops)" if typ == 11 else "parameter problem"
    if typ == 1:
        return _V6_UNREACH.get(code, f"destination unreachable (code {code})")
    return {2: "packet too big", 3: "time exceeded (a routing loop, or too many hops)"}.get(typ, "parameter problem")
