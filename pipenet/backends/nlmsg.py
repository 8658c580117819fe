"""rtnetlink messages, packed and unpacked with `struct`: the few pipenet sends and reads.

Why not pyroute2's message classes: measured (bench/netlink.py, issue 15),
encoding and decoding every message of `up` at N = 1,000 with them takes
about a third of `up`'s wall time and 60 times what this module takes, where
the issue allowed 5% (docs/how-it-works.md gives the figures); importing
them would add about 100 ms to every command besides. pipenet sends a
handful of message shapes, so it builds them directly; decoding reads only
the attributes pipenet looks at. pyroute2 stays for qdisc options (`tc.py`),
whose encodings are intricate and off the hot path. Every request shape is
checked byte for byte against pyroute2's encoder (tests/engine/test_nlmsg.py).

The decoder trusts nothing it reads (the model is pyroute2's own tables):
`messages` frames a receive buffer and `decode` a message, each raising
ValueError on a length that does not fit (a header shorter than 16 bytes, a
message past its buffer, a fixed header or an attribute past its message, an
attribute shorter than its own 4 bytes); an attribute whose value has the
wrong size reads as absent; a type pipenet does not read decodes to None.
Nothing else escapes (tests/engine/test_netlink_decoder.py fuzzes it).
"""

from __future__ import annotations

import socket
import struct

# message types and flags (linux/rtnetlink.h, linux/netlink.h)
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
NLMSG_MIN_TYPE = 16  # below: control messages; from here: a family's own (rtnetlink's RTM_*)
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x100, 0x200, 0x400, 0x300
NLM_F_DUMP_INTR = 0x10
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200  # on an error message: request body left out; TLVs follow
NLMSGERR_ATTR_MSG = 1

# attribute numbers
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_PROTINFO = 1, 3, 4, 5, 10, 12
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_GROUP, IFLA_NET_NS_FD, IFLA_EXT_MASK, IFLA_LINK_NETNSID = 18, 20, 27, 28, 29, 37
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFLA_INET6_ADDR_GEN_MODE, IFLA_AF_SPEC, AF_INET6_ATTR = 8, 26, 10
IN6_ADDR_GEN_MODE_NONE = 1
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
VETH_INFO_PEER = 1
IFLA_MACVLAN_MODE = 1
IFLA_VLAN_ID = 1
IFLA_BRPORT_MODE = 4
IFLA_BR_MCAST_SNOOPING = 23
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS, IFA_PROTO = 1, 2, 8, 11
IFA_F_NODAD, IFA_F_TENTATIVE, IFA_F_DADFAILED = 0x02, 0x40, 0x08
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_TBF_PARMS, TCA_TBF_RATE64 = 1, 4
TCA_NETEM_LATENCY64, TCA_NETEM_JITTER64 = 10, 11

HDR = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
TCMSG = struct.Struct("=BxxxiIII")  # family, ifindex, handle, parent, info
_ATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")


# ---- encoding --------------------------------------------------------------------------------------
def attr(kind: int, payload: bytes) -> bytes:
    """One rtattr, padded to four bytes."""
    n = 4 + len(payload)
    return _ATTR.pack(n, kind) + payload + b"\0" * (-n & 3)


def u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value & 0xFFFFFFFF))


def u16(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=H", value))


def u8(kind: int, value: int) -> bytes:
    return attr(kind, bytes((value,)))


def string(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def mac(kind: int, value: str) -> bytes:
    return attr(kind, bytes.fromhex(value.replace(":", "")))


def ip(kind: int, value: str) -> bytes:
    return attr(kind, socket.inet_pton(socket.AF_INET6 if ":" in value else socket.AF_INET, value))


def nested(kind: int, *parts: bytes) -> bytes:
    return attr(kind, b"".join(parts))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def bridge_ports() -> bytes:
    """The request body of the bridge's port dump: an ifinfomsg of family AF_BRIDGE."""
    return IFINFO.pack(socket.AF_BRIDGE, 0, 0, 0, 0)


def of_kind(kind: str) -> bytes:
    """A link dump's filter: interfaces of this kind only (the kernel skips the others before it fills
    anything for them)."""
    return nested(IFLA_LINKINFO, string(IFLA_INFO_KIND, kind))


def ifaddr(family: int, prefixlen: int, index: int) -> bytes:
    return IFADDR.pack(family, prefixlen, 0, 0, index)


def rtmsg(family: int, dst_len: int, table: int, protocol: int, scope: int, rtype: int) -> bytes:
    return RTMSG.pack(family, dst_len, 0, 0, table, protocol, scope, rtype, 0)


def tcmsg(index: int = 0, handle: int = 0, parent: int = 0) -> bytes:
    return TCMSG.pack(socket.AF_UNSPEC, index, handle, parent, 0)


def frame(mtype: int, flags: int, seq: int, body: bytes) -> bytes:
    return HDR.pack(16 + len(body), mtype, flags, seq, 0) + body


# ---- decoding --------------------------------------------------------------------------------------
def messages(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """The messages of one receive buffer: (offset, length, type, flags, sequence) of each. ValueError
    when a length does not fit (a header cut short, a length under 16 or past the buffer): nothing after
    a broken header can be framed, and nothing before it is trusted either."""
    out = []
    off, size = 0, len(data)
    unpack = HDR.unpack_from
    while off < size:
        if off + 16 > size:
            raise ValueError(f"a netlink header cut short ({size - off} bytes at offset {off})")
        length, t, fl, seq, _pid = unpack(data, off)
        if length < 16 or off + length > size:
            raise ValueError(f"a netlink message of {length} bytes at offset {off} of a {size}-byte buffer")
        out.append((off, length, t, fl, seq))
        off += (length + 3) & ~3
    return out


def _mac_text(b: bytes) -> str:
    return b.hex(":")


def _ip_text(b: bytes) -> str:
    if len(b) == 4:
        return socket.inet_ntop(socket.AF_INET, b)
    if len(b) == 16:
        return socket.inet_ntop(socket.AF_INET6, b)
    raise ValueError(f"an address of {len(b)} bytes")


_S32 = struct.Struct("=i")


def _u32_value(b: bytes) -> int:
    return _U32.unpack(b)[0]  # (struct.error unless exactly 4 bytes)


def _str_value(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode(errors="replace")


def _s32_value(b: bytes) -> int:
    return _S32.unpack(b)[0]


def _u8_value(b: bytes) -> int:
    if len(b) != 1:
        raise ValueError(f"a u8 of {len(b)} bytes")
    return b[0]


def attrs_of(b: bytes) -> dict[int, bytes]:
    """The attributes of a nested attribute (or any attribute run), by number; a malformed length
    ends the run rather than raising (the kernel never sends one, but a decoder must not trust it)."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(b):
        n, kind = _ATTR.unpack_from(b, pos)
        if n < 4 or pos + n > len(b):
            break
        out[kind & 0x3FFF] = b[pos + 4:pos + n]
        pos += (n + 3) & ~3
    return out


def first(b: bytes, kind: int) -> bytes | None:
    """The value of the first attribute `kind` of an attribute run (None: there is none before the
    run ends or turns malformed). A bridge port's data holds some forty attributes and pipenet reads
    one of the first: this stops there, where `attrs_of` would walk them all (a few thousand ports)."""
    pos, size = 0, len(b)
    unpack = _ATTR.unpack_from
    while pos + 4 <= size:
        n, k = unpack(b, pos)
        if n < 4 or pos + n > size:
            return None
        if k & 0x3FFF == kind:
            return b[pos + 4:pos + n]
        pos += (n + 3) & ~3
    return None


#: kinds whose IFLA_INFO_DATA is not kept (pipenet compares none of theirs, and makes thousands of them)
_DATA_NOT_KEPT = frozenset({None, "bridge", "veth"})


def _linkinfo(b: bytes) -> dict:
    """IFLA_LINKINFO: the interface's kind, for a bridge port whether hairpin mode is on, and for other
    kinds their own data (IFLA_INFO_DATA, raw: its kind's module reads it, `Kind.live_differences`)."""
    a = attrs_of(b)
    out = {"kind": _str_value(a[IFLA_INFO_KIND]) if IFLA_INFO_KIND in a else None}
    if out["kind"] not in _DATA_NOT_KEPT and IFLA_INFO_DATA in a:
        out["data"] = bytes(a[IFLA_INFO_DATA])
    slave = a.get(IFLA_INFO_SLAVE_DATA)
    if slave is not None:
        mode = first(slave, IFLA_BRPORT_MODE)
        if mode:
            out["hairpin"] = bool(mode[0])
    return out


def _port_hairpin(b: bytes) -> bool:
    """IFLA_PROTINFO of the bridge's port dump (AF_BRIDGE): whether hairpin mode is on."""
    mode = first(b, IFLA_BRPORT_MODE)
    if not mode:
        raise ValueError("no port mode")
    return bool(mode[0])


def _tc_options(b: bytes) -> bytes:
    return bytes(b)


# what each reply's attributes are called and how they read; others are skipped
_LINK_ATTRS = {IFLA_ADDRESS: ("IFLA_ADDRESS", _mac_text), IFLA_IFNAME: ("IFLA_IFNAME", _str_value),
               IFLA_MTU: ("IFLA_MTU", _u32_value), IFLA_MASTER: ("IFLA_MASTER", _u32_value),
               IFLA_GROUP: ("IFLA_GROUP", _u32_value), IFLA_IFALIAS: ("IFLA_IFALIAS", _str_value),
               IFLA_LINK: ("IFLA_LINK", _u32_value), IFLA_LINK_NETNSID: ("IFLA_LINK_NETNSID", _s32_value),
               IFLA_LINKINFO: ("IFLA_LINKINFO", _linkinfo)}
#: a link's name, mark and group only: what deleting interfaces by their marks needs (a bridge port's
#: IFLA_LINKINFO, its forty-odd port attributes, is most of the decoding of a host with thousands)
LINK_MARK_ATTRS = {k: v for k, v in _LINK_ATTRS.items() if k in (IFLA_IFNAME, IFLA_IFALIAS, IFLA_GROUP)}
#: what the bridge's own dump of its ports (RTM_GETLINK, AF_BRIDGE) sends of each: no alias, kind or group,
#: and no peer namespace (the link dump's costly part on a host of thousands of ports: `backends.hostlinks`)
BRIDGE_PORT_ATTRS = {**{k: v for k, v in _LINK_ATTRS.items() if k in (IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU,
                                                                       IFLA_MASTER, IFLA_LINK)},
                     IFLA_PROTINFO: ("IFLA_PROTINFO", _port_hairpin)}
_ADDR_ATTRS = {IFA_ADDRESS: ("IFA_ADDRESS", _ip_text), IFA_LOCAL: ("IFA_LOCAL", _ip_text),
               IFA_FLAGS: ("IFA_FLAGS", _u32_value), IFA_PROTO: ("IFA_PROTO", _u8_value)}
_ROUTE_ATTRS = {RTA_DST: ("RTA_DST", _ip_text), RTA_OIF: ("RTA_OIF", _u32_value),
                RTA_GATEWAY: ("RTA_GATEWAY", _ip_text), RTA_PRIORITY: ("RTA_PRIORITY", _u32_value),
                RTA_TABLE: ("RTA_TABLE", _u32_value)}
_TC_ATTRS = {TCA_KIND: ("TCA_KIND", _str_value), TCA_OPTIONS: ("TCA_OPTIONS", _tc_options)}
_SHAPES = {
    RTM_NEWLINK: (IFINFO, ("family", "type", "index", "flags", "change"), _LINK_ATTRS),
    RTM_NEWADDR: (IFADDR, ("family", "prefixlen", "flags", "scope", "index"), _ADDR_ATTRS),
    RTM_NEWROUTE: (RTMSG, ("family", "dst_len", "src_len", "tos", "table", "proto", "scope", "type", "flags"),
                   _ROUTE_ATTRS),
    RTM_NEWQDISC: (TCMSG, ("family", "index", "handle", "parent", "info"), _TC_ATTRS),
}


def bridge_port(data: bytes, off: int) -> tuple:
    """(name, index, MAC, MTU, up, bridge's index, peer's index, hairpin) of a message of the bridges'
    port dump, read as `decode` with `BRIDGE_PORT_ATTRS` reads it (the same values, an attribute of the
    wrong size absent, ValueError when a length does not fit) without the dicts: a host of thousands of
    ports sends thousands of these to the no-op, and this reads one in a quarter of the time."""
    if off < 0 or off + 16 > len(data):
        raise ValueError("a bridge port's message: no room for its header")
    length = HDR.unpack_from(data, off)[0]
    end = off + length
    if length < 16 + IFINFO.size or end > len(data):
        raise ValueError(f"a bridge port's message of {length} bytes, {len(data) - off} there")
    index, flags = IFINFO.unpack_from(data, off + 16)[2:4]
    name = mac = mtu = master = peer = hairpin = None
    pos = off + 16 + IFINFO.size
    unpack, u32 = _ATTR.unpack_from, _U32.unpack_from
    while pos < end:
        if pos + 4 > end:
            raise ValueError(f"a bridge port's message: {end - pos} stray bytes after its attributes")
        n, kind = unpack(data, pos)
        if n < 4 or pos + n > end:
            raise ValueError(f"a bridge port's message: an attribute of {n} bytes at {pos - off}, in {length}")
        kind &= 0x3FFF
        if kind == IFLA_IFNAME:
            name = _str_value(bytes(data[pos + 4:pos + n]))
        elif n == 8 and kind in (IFLA_MTU, IFLA_MASTER, IFLA_LINK):
            value = u32(data, pos + 4)[0]
            if kind == IFLA_MTU:
                mtu = value
            elif kind == IFLA_MASTER:
                master = value
            else:
                peer = value
        elif kind == IFLA_ADDRESS:
            mac = _mac_text(bytes(data[pos + 4:pos + n]))
        elif kind == IFLA_PROTINFO:
            mode = first(bytes(data[pos + 4:pos + n]), IFLA_BRPORT_MODE)
            if mode:  # (one without a mode reads as absent, as `decode` has it)
                hairpin = bool(mode[0])
        pos += (n + 3) & ~3
    return name, index, mac, mtu, bool(flags & 1), master, peer, hairpin


class Reply:
    """One decoded reply: its fixed header fields by name (m["index"]) and known attributes
    (m.get_attr("IFLA_IFNAME")), the way callers used to read pyroute2's messages."""

    __slots__ = ("fields", "attrs")

    def __init__(self, fields: dict, attrs: dict):
        self.fields = fields
        self.attrs = attrs

    def __getitem__(self, key: str):
        return self.fields[key]

    def get_attr(self, name: str):
        return self.attrs.get(name)


def decode(data: bytes, off: int, mtype: int, only: dict | None = None) -> Reply | None:
    """The message at `off` in `data`, or None for a type pipenet does not read. ValueError when its
    lengths do not fit: the header, the message in the buffer, the fixed header in the message, an
    attribute (at least its own 4 bytes) in the message. Attributes pipenet does not read are skipped;
    one it reads whose value has the wrong size (a u32 that is not 4 bytes) reads as absent. `only`:
    the attributes to read, when fewer than all that pipenet knows (`LINK_MARK_ATTRS`)."""
    shape = _SHAPES.get(mtype)
    if shape is None:
        return None
    st, names, known = shape
    if only is not None:
        known = only
    if off < 0 or off + 16 > len(data):
        raise ValueError(f"netlink message of type {mtype}: no room for its header")
    length = HDR.unpack_from(data, off)[0]
    end = off + length
    if length < 16 or end > len(data):
        raise ValueError(f"netlink message of type {mtype} claims {length} bytes, "
                         f"{len(data) - off} are there")
    if off + 16 + st.size > end:
        raise ValueError(f"netlink message of type {mtype} is too short ({length} bytes)")
    fields = dict(zip(names, st.unpack_from(data, off + 16)))
    attrs = {}
    pos = off + 16 + st.size
    unpack = _ATTR.unpack_from  # (a thousand namespaces: a few hundred thousand attributes walked)
    get = known.get
    while pos < end:
        if pos + 4 > end:
            raise ValueError(f"netlink message of type {mtype}: {end - pos} stray bytes after its attributes")
        n, kind = unpack(data, pos)
        if n < 4 or pos + n > end:
            raise ValueError(f"netlink message of type {mtype}: an attribute of {n} bytes at {pos - off}, "
                             f"in a message of {length}")
        entry = get(kind & 0x3FFF)
        if entry is not None:
            try:
                attrs[entry[0]] = entry[1](data[pos + 4:pos + n])
            except (struct.error, IndexError, KeyError, ValueError, UnicodeError):
                pass  # a malformed attribute reads as absent
        pos += (n + 3) & ~3
    return Reply(fields, attrs)
