"""What pipenet's netlink code does with replies that do not fit: each gives a NetlinkError or is skipped,
never an IndexError, a struct.error or a traceback. Also the receive timeout, interrupted dumps, the
kernel's own words in errors (extended acks), and a fuzz of the decoder. No kernel involved: the replies
are built here (tests/engine/netlink_fake.py); test_netlink_kernel.py has the real kernel's."""

from __future__ import annotations

import errno
import random
import socket
import struct

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from pipenet.backends import netlink as NL
from pipenet.backends import nlmsg as M
from pipenet.backends.netlink import NetlinkError
from tests.engine.netlink_fake import ack, done, encoded, header, nl_with

LINK = encoded(ifinfmsg, M.RTM_NEWLINK, {"index": 4, "flags": 1}, [
    ("IFLA_IFNAME", "eth0"), ("IFLA_ADDRESS", "02:42:0a:00:00:02"), ("IFLA_MTU", 1500), ("IFLA_GROUP", 9),
    ("IFLA_IFALIAS", "pipenet:t:eth0"),
    ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth")]})])
LINK2 = encoded(ifinfmsg, M.RTM_NEWLINK, {"index": 5}, [("IFLA_IFNAME", "eth1")])
ADDR = encoded(ifaddrmsg, M.RTM_NEWADDR, {"family": socket.AF_INET, "prefixlen": 16, "index": 4},
               [("IFA_ADDRESS", "10.0.0.2"), ("IFA_LOCAL", "10.0.0.2"), ("IFA_PROTO", 112)])
ROUTE = encoded(rtmsg, M.RTM_NEWROUTE, {"family": socket.AF_INET, "dst_len": 16, "table": 254, "proto": 112,
                                        "type": 1}, [("RTA_TABLE", 254), ("RTA_DST", "10.9.0.0"),
                                                     ("RTA_GATEWAY", "10.0.0.1")])
QDISC = encoded(tcmsg, M.RTM_NEWQDISC, {"index": 4, "handle": 0x10000, "parent": 0xFFFFFFFF},
                [("TCA_KIND", "noqueue")])
EXT_MSG = M.string(M.NLMSGERR_ATTR_MSG, "Nexthop has invalid gateway")


def _with_length(msg: bytes, length: int) -> bytes:
    return struct.pack("=I", length) + msg[4:]


def links_of(*replies: bytes):
    nl, s = nl_with(replies=list(replies), timeout=True)
    return nl.links(), s


# ---- malformed replies, one kind at a time -----------------------------------------------------------------
@pytest.mark.parametrize("buffer,why", [
    (LINK + done() + LINK2[:8], "header cut short (8 bytes"),
    (LINK2[:12], "header cut short (12 bytes"),
    (_with_length(LINK, len(LINK) + 40) + done(), f"of {len(LINK) + 40} bytes at offset 0 of a"),
    (LINK + _with_length(done(), 24), f"of 24 bytes at offset {len(LINK)} of a"),
    (_with_length(LINK, 12) + done(), "of 12 bytes"),
    (_with_length(LINK, 0) + done(), "of 0 bytes"),
], ids=["truncated-header-after-a-message", "truncated-header-alone", "length-past-the-buffer",
        "last-length-past-the-buffer", "length-under-16", "length-zero"])
def test_a_buffer_whose_framing_does_not_fit_is_a_bad_message(buffer, why):
    with pytest.raises(NetlinkError) as e:
        links_of(buffer)
    assert e.value.errno == errno.EBADMSG and why in str(e.value) and "list links" in str(e.value)


def _bad_attr_length(n: int) -> bytes:
    data = bytearray(LINK)
    at = 16 + M.IFINFO.size  # the first attribute's length
    data[at:at + 2] = struct.pack("=H", n)
    return bytes(data)


@pytest.mark.parametrize("n", [0, 3, 2000], ids=["zero", "under-4", "past-the-message"])
def test_an_attribute_whose_length_does_not_fit_is_a_bad_message(n):
    with pytest.raises(NetlinkError) as e:
        links_of(_bad_attr_length(n) + done())
    assert e.value.errno == errno.EBADMSG and "an attribute of" in str(e.value)


def test_stray_bytes_after_the_attributes_are_a_bad_message():
    msg = _with_length(LINK2 + b"\x01\x02\x03\x04", len(LINK2) + 2)  # two bytes: no room for an attribute
    with pytest.raises(NetlinkError) as e:
        links_of(msg[:len(LINK2) + 2] + b"\0\0" + done())
    assert e.value.errno == errno.EBADMSG and "stray bytes" in str(e.value)


def test_a_message_shorter_than_its_fixed_header_is_a_bad_message():
    short = header(16 + 8, M.RTM_NEWLINK, M.NLM_F_MULTI) + bytes(8)  # an ifinfomsg is 16 bytes
    with pytest.raises(NetlinkError) as e:
        links_of(short + done())
    assert e.value.errno == errno.EBADMSG and "too short" in str(e.value)


def test_an_attribute_of_the_wrong_size_reads_as_absent_and_the_rest_decodes():
    mtu = M.attr(M.IFLA_MTU, b"\x05\xdc")  # a u32 in two bytes
    addr = M.attr(M.IFA_LOCAL, b"\x0a\x00\x00")  # an IPv4 address in three
    proto = M.attr(M.IFA_PROTO, b"\x70\x00")  # a u8 in two
    link = header(0, M.RTM_NEWLINK, M.NLM_F_MULTI) + M.ifinfo(4) + mtu + M.string(M.IFLA_IFNAME, "eth0")
    address = header(0, M.RTM_NEWADDR, M.NLM_F_MULTI) + M.ifaddr(socket.AF_INET, 24, 4) + addr + proto + M.ip(
        M.IFA_ADDRESS, "10.0.0.2")
    [m], _ = links_of(_with_length(link, len(link)) + done())
    assert m.get_attr("IFLA_MTU") is None and m.get_attr("IFLA_IFNAME") == "eth0" and m["index"] == 4
    nl, _ = nl_with(replies=[_with_length(address, len(address)) + done()])
    [a] = nl.addrs()
    assert (a.get_attr("IFA_LOCAL"), a.get_attr("IFA_PROTO"), a.get_attr("IFA_ADDRESS")) == (None, None, "10.0.0.2")


def test_unknown_attributes_and_messages_of_unknown_or_unasked_types_are_skipped():
    unknown_attr = header(0, M.RTM_NEWLINK, M.NLM_F_MULTI) + M.ifinfo(6) + M.u32(999, 1) + M.string(
        M.IFLA_IFNAME, "eth2")
    unknown_type = header(20, 99, M.NLM_F_MULTI) + bytes(4)
    noop = header(16, M.NLMSG_NOOP, 0)
    links, _ = links_of(LINK + unknown_type + ADDR + noop + ROUTE + _with_length(unknown_attr, len(unknown_attr))
                        + QDISC + LINK2 + done())
    assert [(m["index"], m.get_attr("IFLA_IFNAME")) for m in links] == [(4, "eth0"), (6, "eth2"), (5, "eth1")]
    assert all(m.get_attr("IFA_ADDRESS") is None for m in links)  # the address was not read as a link


def test_messages_of_another_sequence_number_are_skipped():
    stale = bytearray(LINK2)
    stale[8:12] = struct.pack("=I", 7777)  # a late answer to an earlier request that timed out
    links, s = links_of(bytes(stale), LINK + done())
    assert [m["index"] for m in links] == [4] and s.reads == 2


@pytest.mark.parametrize("length", [16, 18, 19])
def test_an_error_message_too_short_for_its_code_is_a_bad_message(length):
    short = header(length, M.NLMSG_ERROR, 0) + b"\xea\xff\xff"[:length - 16]
    nl, _ = nl_with({"eth0": 3}, replies=[short + bytes(-length & 3)], timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.addr_add("eth0", "10.0.0.2", 16)
    assert e.value.errno == errno.EBADMSG and "short of 20" in str(e.value)
    nl, _ = nl_with(replies=[short + bytes(-length & 3)], timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.link_index("eth0")
    assert e.value.errno == errno.EBADMSG


def test_an_index_lookup_answered_too_short_or_with_an_ack_is_an_error():
    short = header(24, M.RTM_NEWLINK, 0) + bytes(8)
    nl, _ = nl_with(replies=[short], timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.link_index("eth0")
    assert e.value.errno == errno.EBADMSG and "eth0" in str(e.value)
    nl, _ = nl_with(replies=[ack()], timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.link_index("eth0")
    assert e.value.errno == errno.EIO and "eth0" not in nl.index


def test_a_route_message_too_short_for_its_header_fields_is_a_bad_message_not_an_index_error():
    short = header(20, M.RTM_NEWROUTE, M.NLM_F_MULTI) + bytes(4)
    nl, _ = nl_with(replies=[short + done()], timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.routes(socket.AF_UNSPEC, main_only=True)
    assert e.value.errno == errno.EBADMSG


def test_route_dumps_skip_other_tables_by_header():
    local = encoded(rtmsg, M.RTM_NEWROUTE, {"family": socket.AF_INET, "table": 255, "type": 2},
                    [("RTA_TABLE", 255), ("RTA_DST", "127.0.0.1")])
    nl, _ = nl_with(replies=[local + ROUTE + done()], timeout=True)
    [r] = nl.routes(socket.AF_UNSPEC, main_only=True)
    assert (r.get_attr("RTA_DST"), r.get_attr("RTA_GATEWAY"), r["table"]) == ("10.9.0.0", "10.0.0.1", 254)


def test_an_empty_read_is_a_bad_message_not_an_endless_loop():
    nl, s = nl_with(replies=[b""], timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.links()
    assert e.value.errno == errno.EBADMSG and s.reads == 1


# ---- interrupted dumps -------------------------------------------------------------------------------------
def _interrupted(msg: bytes) -> bytes:
    data = bytearray(msg)
    data[6:8] = struct.pack("=H", struct.unpack_from("=H", msg, 6)[0] | M.NLM_F_DUMP_INTR)
    return bytes(data)


def test_an_interrupted_dump_is_read_again():
    nl, s = nl_with(replies=[LINK + _interrupted(LINK2) + done(), LINK + LINK2 + done()], timeout=True)
    links = nl.links()
    assert [m["index"] for m in links] == [4, 5]  # the second reading only, not both
    assert len(s.sent) == 2 and s.sent[0][4:8] == s.sent[1][4:8]  # the same request again


def test_an_interruption_marked_on_the_done_message_alone_is_read_again():
    nl, s = nl_with(replies=[LINK + _interrupted(done()), LINK + done()], timeout=True)
    assert [m["index"] for m in nl.links()] == [4] and len(s.sent) == 2


def test_a_dump_interrupted_every_time_gives_up_with_eagain():
    nl, s = nl_with(replies=[_interrupted(LINK) + done()] * (NL.DUMP_RETRIES + 1), timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.links()
    assert e.value.errno == errno.EAGAIN and f"interrupted {NL.DUMP_RETRIES} times" in str(e.value)
    assert len(s.sent) == NL.DUMP_RETRIES


# ---- the receive timeout -------------------------------------------------------------------------------------
def test_no_answer_is_a_timeout_error_naming_the_request():
    nl, _ = nl_with({"eth0": 3}, replies=[], timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.addr_add("eth0", "10.0.0.2", 16)
    assert e.value.errno == errno.ETIMEDOUT and "add 10.0.0.2/16 to eth0" in str(e.value)
    assert f"no answer within {NL.TIMEOUT_SECONDS} s" in str(e.value)


def test_a_socket_error_while_reading_is_a_netlink_error():
    class Full:
        def send(self, data):
            pass

        def recv_into(self, buf):
            raise OSError(errno.ENOBUFS, "No buffer space available")

    with pytest.raises(NetlinkError) as e:
        NL.Netlink(Full()).links()
    assert e.value.errno == errno.ENOBUFS and "list links" in str(e.value)


def test_sequence_numbers_wrap_without_zero():
    nl, s = nl_with({"eth0": 3})
    nl.seq = 0xFFFFFFFF - 1
    nl.link_set("eth0", up=True)
    nl.link_set("eth0", up=True)
    assert [M.HDR.unpack_from(m)[3] for m in s.sent] == [0xFFFFFFFF, 1]


# ---- the kernel's own words --------------------------------------------------------------------------------
def test_an_extended_ack_puts_the_kernels_words_in_the_error():
    nl, _ = nl_with(replies=[ack(error=-errno.ENETUNREACH, flags=M.NLM_F_CAPPED | M.NLM_F_ACK_TLVS,
                                 tlvs=EXT_MSG)])
    with pytest.raises(NetlinkError) as e:
        nl.route_add("10.9.0.0/16", "10.99.0.1", None, None)
    assert str(e.value) == "[Errno 101] add route 10.9.0.0/16: Network is unreachable (Nexthop has invalid gateway)"
    assert e.value.detail == "Nexthop has invalid gateway"


def test_an_extended_ack_after_the_whole_request_is_read_too():
    """Without NETLINK_CAP_ACK (a kernel that refused it) the error carries the whole request first."""
    request = M.frame(M.RTM_NEWROUTE, 0x605, 1, M.rtmsg(2, 16, 254, 112, 0, 1) + M.ip(M.RTA_GATEWAY, "10.99.0.1"))
    nl, _ = nl_with(replies=[ack(error=-errno.ENETUNREACH, flags=M.NLM_F_ACK_TLVS, tlvs=EXT_MSG, request=request)])
    with pytest.raises(NetlinkError) as e:
        nl.route_add("10.9.0.0/16", "10.99.0.1", None, None)
    assert e.value.detail == "Nexthop has invalid gateway" and e.value.errno == errno.ENETUNREACH


@pytest.mark.parametrize("tlvs", [b"\x03\x00\x01\x00", b"\xff\x00\x01\x00abc", EXT_MSG[:7]],
                         ids=["tlv-under-4", "tlv-past-the-end", "cut-short"])
def test_a_broken_extended_ack_still_raises_the_kernels_code(tlvs):
    nl, _ = nl_with({"eth0": 3}, replies=[ack(error=-errno.EEXIST, flags=M.NLM_F_CAPPED | M.NLM_F_ACK_TLVS,
                                              tlvs=tlvs)])
    with pytest.raises(NetlinkError) as e:
        nl.addr_add("eth0", "10.0.0.2", 16)
    assert e.value.errno == errno.EEXIST and e.value.detail == ""


def test_a_dump_that_fails_says_so_in_its_done_message_with_the_kernels_words():
    words = M.string(M.NLMSGERR_ATTR_MSG, "dump failed")
    nl, _ = nl_with(replies=[LINK + done(error=-errno.EMSGSIZE, flags=M.NLM_F_MULTI | M.NLM_F_ACK_TLVS,
                                         tlvs=words)])
    with pytest.raises(NetlinkError) as e:
        nl.links()
    assert e.value.errno == errno.EMSGSIZE and e.value.detail == "dump failed"


@pytest.mark.parametrize("request_", ["links", "bridge ports"])
def test_an_error_code_no_c_int_holds_is_a_bad_message(request_):
    """-2**31 negated is past a C int (os.strerror would raise OverflowError): found by the fuzz."""
    nl, _ = nl_with(replies=[done(error=-2**31)], timeout=True)
    with pytest.raises(NetlinkError) as e:
        REQUESTS[request_](nl)
    assert e.value.errno == errno.EBADMSG and "error code 2147483648" in str(e.value)


def test_a_dump_whose_done_message_has_no_code_ends_cleanly():
    nl, _ = nl_with(replies=[LINK + header(16, M.NLMSG_DONE, M.NLM_F_MULTI)])
    assert [m["index"] for m in nl.links()] == [4]


# ---- the decoder on its own ------------------------------------------------------------------------------------
@pytest.mark.parametrize("data,off", [
    (b"", 0), (LINK[:15], 0), (LINK, len(LINK) - 4), (LINK, -4), (_with_length(LINK, 8), 0),
    (_with_length(LINK, len(LINK) + 1), 0), (LINK[:20], 0), (_bad_attr_length(2), 0),
])
def test_decode_raises_value_error_for_every_length_that_does_not_fit(data, off):
    with pytest.raises(ValueError):
        M.decode(data, off, M.RTM_NEWLINK)


def test_decode_reads_a_message_in_the_middle_of_a_buffer_and_leaves_unknown_types():
    data = ADDR + LINK
    m = M.decode(data, len(ADDR), M.RTM_NEWLINK)
    assert m.get_attr("IFLA_IFNAME") == "eth0" and m.get_attr("IFLA_LINKINFO") == {"kind": "veth"}
    assert M.decode(data, 0, 99) is None
    assert [(off, t) for off, _n, t, _f, _s in M.messages(data)] == [(0, M.RTM_NEWADDR), (len(ADDR), M.RTM_NEWLINK)]


#: a message of the bridges' port dump (AF_BRIDGE), as br_fill_ifinfo makes it
_PORT_BODY = (M.IFINFO.pack(socket.AF_BRIDGE, 1, 7, 0x11043, 0) + M.string(M.IFLA_IFNAME, "veth7")
              + M.u32(M.IFLA_MASTER, 3) + M.u32(M.IFLA_MTU, 1400) + M.u8(16, 6)
              + M.mac(M.IFLA_ADDRESS, "0a:58:0a:00:00:07") + M.u32(M.IFLA_LINK, 2)
              + M.attr(M.IFLA_PROTINFO | 0x8000, M.u8(1, 3) + M.u16(2, 32) + M.u32(3, 2) + M.u8(M.IFLA_BRPORT_MODE, 1)))
PORT = header(16 + len(_PORT_BODY), M.RTM_NEWLINK, M.NLM_F_MULTI) + _PORT_BODY


def _port_by_decode(data: bytes, off: int) -> tuple:
    """What `nlmsg.bridge_port` must read, by the general decoder."""
    m = M.decode(data, off, M.RTM_NEWLINK, only=M.BRIDGE_PORT_ATTRS)
    a = m.attrs
    return (a.get("IFLA_IFNAME"), m["index"], a.get("IFLA_ADDRESS"), a.get("IFLA_MTU"), bool(m["flags"] & 1),
            a.get("IFLA_MASTER"), a.get("IFLA_LINK"), a.get("IFLA_PROTINFO"))


def test_a_bridge_port_reads_as_the_general_decoder_reads_it():
    assert M.bridge_port(PORT, 0) == _port_by_decode(PORT, 0) == (
        "veth7", 7, "0a:58:0a:00:00:07", 1400, True, 3, 2, True)
    nl, _ = nl_with(replies=[PORT + PORT + done()], timeout=True)
    assert nl.bridge_ports() == [M.bridge_port(PORT, 0)] * 2
    nl, _ = nl_with(replies=[_with_length(PORT, len(PORT) + 40) + done()], timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.bridge_ports()
    assert e.value.errno == errno.EBADMSG


# ---- the fuzz ------------------------------------------------------------------------------------------------
CORPUS = [LINK, LINK2, ADDR, ROUTE, QDISC, PORT, done(), ack(),
          ack(error=-errno.EINVAL, flags=M.NLM_F_CAPPED | M.NLM_F_ACK_TLVS, tlvs=EXT_MSG),
          encoded(ifinfmsg, M.RTM_NEWLINK, {"index": 9}, [
              ("IFLA_IFNAME", "vc1"), ("IFLA_MASTER", 2), ("IFLA_LINK", 3), ("IFLA_LINK_NETNSID", 0),
              ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_SLAVE_KIND", "bridge"),
                                           ("IFLA_INFO_SLAVE_DATA", {"attrs": [("IFLA_BRPORT_MODE", 1)]})]})])]


def _lengths(msg: bytes) -> list[int]:
    """The offsets of the length fields of a message: its header's, and each top-level attribute's."""
    if len(msg) < 16:
        return [0]
    fixed = {M.RTM_NEWLINK: M.IFINFO.size, M.RTM_NEWADDR: M.IFADDR.size, M.RTM_NEWROUTE: M.RTMSG.size,
             M.RTM_NEWQDISC: M.TCMSG.size}.get(struct.unpack_from("=H", msg, 4)[0])
    out = [0]
    if fixed is None:
        return out
    pos = 16 + fixed
    while pos + 4 <= len(msg):
        out.append(pos)
        n = struct.unpack_from("=H", msg, pos)[0]
        if n < 4:
            break
        pos += (n + 3) & ~3
    return out


def _mutant(rng: random.Random) -> bytes:
    msgs = [bytearray(rng.choice(CORPUS)) for _ in range(rng.randint(1, 4))]
    for m in msgs:
        for _ in range(rng.randint(0, 3)):
            how = rng.randrange(6)
            if how == 0 and len(m) > 1:  # cut short
                del m[rng.randrange(1, len(m)):]
            elif how == 1 and m:  # a byte changed
                m[rng.randrange(len(m))] = rng.randrange(256)
            elif how == 2 and len(m) >= 4:  # a length field given a value near its own, or any
                at = rng.choice([x for x in _lengths(bytes(m)) if x + 2 <= len(m)] or [0])
                old = struct.unpack_from("=H", m, at)[0]
                m[at:at + 2] = struct.pack("=H", rng.choice([0, 1, 3, 4, old - 1, old + 1, old + 4, 0xFFFF,
                                                             rng.randrange(0x10000)]) & 0xFFFF)
            elif how == 3:  # bytes inserted
                at = rng.randrange(len(m) + 1)
                m[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif how == 4 and len(m) >= 8:  # a type changed
                m[4:6] = struct.pack("=H", rng.choice([1, 2, 3, 4, 16, 20, 24, 36, 99, rng.randrange(0x10000)]))
            elif how == 5 and len(m) >= 8:  # flags changed (an interruption, extended acks, ...)
                m[6:8] = struct.pack("=H", rng.randrange(0x10000))
    out = b"".join(bytes(m) for m in msgs)
    if rng.random() < 0.05:
        out = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    return out.replace(b"SEQ!", struct.pack("=I", 1))


REQUESTS = {
    "links": lambda nl: nl.links(),
    "addrs": lambda nl: nl.addrs(),
    "routes": lambda nl: nl.routes(socket.AF_UNSPEC, main_only=True),
    "qdiscs": lambda nl: nl.qdiscs(),
    "lookup": lambda nl: nl.link_index("eth0"),
    "bridge ports": lambda nl: nl.bridge_ports(),
    "ack": lambda nl: nl.link_set("eth0", up=True),
}


def test_fuzzed_replies_give_a_netlink_error_or_a_reading_never_anything_else():
    """Thousands of mutated replies (cut short, lengths changed, bytes changed or inserted, types and flags
    changed, messages run together, random bytes), seeded, through every kind of request and through the
    decoder directly: the only exceptions are NetlinkError (requests) and ValueError (the decoder)."""
    rng = random.Random(15)
    outcomes = {"read": 0, "NetlinkError": 0, "decoded": 0, "ValueError": 0}
    for _ in range(3000):
        data = _mutant(rng)
        for name, request in REQUESTS.items():
            nl, _ = nl_with(replies=[data], timeout=True)
            try:
                result = request(nl)
            except NetlinkError as e:
                assert e.errno and str(e), name
                outcomes["NetlinkError"] += 1
            else:
                assert isinstance(result, (list, int)) or (name == "ack" and result is None), name
                outcomes["read"] += 1
        try:
            framed = M.messages(data)
        except ValueError:
            outcomes["ValueError"] += 1
            framed = [(off, 0, 0, 0, 0) for off in range(0, max(len(data) - 15, 0), 4)]  # decode at any offset
        for off, _n, _t, _f, _s in framed:
            for mtype in (M.RTM_NEWLINK, M.RTM_NEWADDR, M.RTM_NEWROUTE, M.RTM_NEWQDISC):
                try:
                    m = M.decode(data, off, mtype)
                except ValueError:
                    outcomes["ValueError"] += 1
                else:
                    assert m is not None and isinstance(m.attrs, dict)
                    outcomes["decoded"] += 1
            try:  # (the bridges' port dump's own reading: the general decoder's answer, or its refusal)
                port = M.bridge_port(data, off)
            except ValueError:
                with pytest.raises(ValueError):
                    _port_by_decode(data, off)
            else:
                assert port == _port_by_decode(data, off)
            try:
                NL._ext_ack(data, off)
            except ValueError:  # (it never raises: the words are a courtesy)
                pytest.fail(f"_ext_ack raised on {data!r} at {off}")
    # the fuzz reached both sides of every check, not just one
    assert all(count > 500 for count in outcomes.values()), outcomes


def test_a_marks_read_decodes_each_link_s_name_mark_and_group_and_nothing_else():
    """`link_marks` (what deleting by mark reads just before it deletes): the same request and framing
    checks as `links`, fewer attributes decoded."""
    nl, _ = nl_with(replies=[LINK + LINK2 + done()], timeout=True)
    marks = nl.link_marks()
    assert [m.attrs for m in marks] == [{"IFLA_IFNAME": "eth0", "IFLA_IFALIAS": "pipenet:t:eth0", "IFLA_GROUP": 9},
                                        {"IFLA_IFNAME": "eth1"}]
    full, _ = links_of(LINK + done())
    assert full[0].get_attr("IFLA_MTU") == 1500 and full[0].get_attr("IFLA_LINKINFO") == {"kind": "veth"}
    nl, _ = nl_with(replies=[_with_length(LINK, len(LINK) + 40) + done()], timeout=True)
    with pytest.raises(NetlinkError) as e:
        nl.link_marks()
    assert e.value.errno == errno.EBADMSG
