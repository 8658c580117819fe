"""Which probe an ICMP message belongs to: `icmp.parse` on messages shaped as the kernel delivers them.

The kernel-level tests (test_matching.py and the others) exercise IPv4 replies
and errors; these cover what they do not reach, IPv6 errors among them, and
the messages that must not be taken for a probe's.
"""

from __future__ import annotations

import ipaddress
import struct

from pipenet.expect import icmp

NONCE = bytes(range(16))


def ipv4_header(src: str, dst: str, proto: int = 1) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + 16, 0, 0, 64, proto, 0,
                       ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)


def ipv6_header(src: str, dst: str, next_header: int = 58) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, 8 + 16, next_header, 64,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed)


def test_v4_reply_and_checksum():
    request = icmp.echo_request(4, 0x1234, 7, NONCE)
    assert icmp.checksum(request) == 0  # a valid checksum sums to zero
    reply = bytes([0, 0]) + request[2:]
    m = icmp.parse(4, ipv4_header("10.0.0.2", "10.0.0.1") + reply, "10.0.0.2")
    assert m == icmp.Reply("10.0.0.2", 0x1234, 7, NONCE)


def test_v4_error_names_the_quoted_request():
    quoted = ipv4_header("10.0.0.1", "10.99.0.1") + icmp.echo_request(4, 0x1234, 3, NONCE)[:8]
    error = struct.pack("!BBHI", 3, 0, 0, 0) + quoted
    m = icmp.parse(4, ipv4_header("10.0.0.254", "10.0.0.1") + error, "10.0.0.254")
    assert m == icmp.Error("10.0.0.254", "network unreachable", 0x1234, 3, "10.99.0.1")


def test_v4_error_about_something_else_is_nobodys():
    # a port unreachable about a UDP datagram, and an echo request seen in the namespace
    quoted = ipv4_header("10.0.0.1", "10.0.0.9", proto=17) + struct.pack("!HHHH", 1000, 53, 8, 0)
    error = struct.pack("!BBHI", 3, 3, 0, 0) + quoted
    assert icmp.parse(4, ipv4_header("10.0.0.9", "10.0.0.1") + error, "10.0.0.9") is None
    request = icmp.echo_request(4, 0x1234, 1, NONCE)
    assert icmp.parse(4, ipv4_header("10.0.0.5", "10.0.0.1") + request, "10.0.0.5") is None


def test_v6_reply_and_error():
    reply = struct.pack("!BBHHH", 129, 0, 0, 0x4321, 2) + NONCE  # no IP header on an ICMPv6 socket
    assert icmp.parse(6, reply, "fd00::2") == icmp.Reply("fd00::2", 0x4321, 2, NONCE)
    quoted = ipv6_header("fd00::1", "fd00:99::1") + icmp.echo_request(6, 0x4321, 5, NONCE)
    error = struct.pack("!BBHI", 1, 3, 0, 0) + quoted
    assert icmp.parse(6, error, "fd00::fe") == icmp.Error("fd00::fe", "address unreachable", 0x4321, 5,
                                                          "fd00:99::1")
    assert icmp.parse(6, struct.pack("!BBHI", 1, 3, 0, 0) + ipv6_header("fd00::1", "fd00::9", 17) + bytes(8),
                      "fd00::9") is None


def test_short_and_truncated_messages_are_ignored():
    assert icmp.parse(4, b"", "10.0.0.1") is None
    assert icmp.parse(4, ipv4_header("10.0.0.2", "10.0.0.1")[:12], "10.0.0.2") is None
    assert icmp.parse(4, ipv4_header("10.0.0.2", "10.0.0.1") + struct.pack("!BBHI", 3, 1, 0, 0) + b"\x45",
                      "10.0.0.2") is None
    assert icmp.parse(6, b"\x81\x00", "fd00::2") is None
