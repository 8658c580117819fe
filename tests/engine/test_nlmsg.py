"""pipenet's own netlink packing, byte for byte against pyroute2's encoder (the reference).

This matters most for the forms this machine's kernel cannot run (802.1Q VLAN,
dummy): their requests are checked here as bytes, since the kernel cannot
check them.
"""

from __future__ import annotations

import socket
import struct

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from pipenet.backends import nlmsg as M
from pipenet.backends.netlink import Netlink, NetlinkError


class FakeSocket:
    """Records what is sent; answers each request with an ack (or the error it is told to)."""

    def __init__(self, errno: int = 0, replies: bytes = b""):
        self.sent: list[bytes] = []
        self.errno = errno
        self.replies = replies

    def send(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def recv(self, _n: int) -> bytes:
        seq = M.HDR.unpack_from(self.sent[-1])[3]
        if self.replies:
            out = self.replies.replace(b"SEQ!", struct.pack("=I", seq))
            self.replies = b""
            return out
        return M.HDR.pack(36, M.NLMSG_ERROR, 0, seq, 0) + struct.pack("=i", -self.errno) + bytes(16)

    def close(self) -> None:
        pass


def nl_with(index: dict | None = None, **kw) -> tuple[Netlink, FakeSocket]:
    s = FakeSocket(**kw)
    nl = Netlink(s)
    nl.index.update(index or {})
    return nl, s


def reference(cls, mtype: int, flags: int, fields: dict, attrs: list) -> bytes:
    m = cls()
    for k, v in fields.items():
        m[k] = v
    m["attrs"] = attrs
    m["header"]["type"] = mtype
    m["header"]["flags"] = flags
    m["header"]["sequence_number"] = 1
    m["header"]["pid"] = 0
    m.encode()
    return bytes(m.data)


CREATE = M.NLM_F_REQUEST | M.NLM_F_ACK | M.NLM_F_CREATE | M.NLM_F_EXCL


def test_veth_with_peer_in_another_namespace_matches_pyroute2():
    nl, s = nl_with({"br0": 7})
    nl.link_add("vc1", "veth", mtu=1400, mac="02:42:0a:00:00:02", master="br0", group=5,
                peer={"ifname": "eth0", "netns_fd": 9, "mac": "02:42:0a:00:00:03", "mtu": 1400})
    want = reference(ifinfmsg, M.RTM_NEWLINK, CREATE, {"flags": 1, "change": 1}, [
        ("IFLA_IFNAME", "vc1"), ("IFLA_MTU", 1400), ("IFLA_ADDRESS", "02:42:0a:00:00:02"), ("IFLA_MASTER", 7),
        ("IFLA_GROUP", 5),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [
            ("VETH_INFO_PEER", {"attrs": [("IFLA_IFNAME", "eth0"), ("IFLA_NET_NS_FD", 9),
                                          ("IFLA_ADDRESS", "02:42:0a:00:00:03"), ("IFLA_MTU", 1400)]})]})]})])
    assert s.sent == [want]


@pytest.mark.parametrize("kind,data,ref", [
    ("vlan", M.u16(M.IFLA_VLAN_ID, 5), [("IFLA_VLAN_ID", 5)]),
    ("macvlan", M.u32(M.IFLA_MACVLAN_MODE, 4), [("IFLA_MACVLAN_MODE", 4)]),
])
def test_vlan_and_macvlan_on_a_parent_moved_to_a_namespace_match_pyroute2(kind, data, ref):
    nl, s = nl_with({"eth0": 2})
    nl.link_add("eth0.5", kind, link="eth0", netns_fd=11, info_data=data)
    want = reference(ifinfmsg, M.RTM_NEWLINK, CREATE, {}, [
        ("IFLA_IFNAME", "eth0.5"), ("IFLA_LINK", 2), ("IFLA_NET_NS_FD", 11),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", kind), ("IFLA_INFO_DATA", {"attrs": ref})]})])
    assert s.sent == [want]


def test_dummy_bridge_set_hairpin_delete_match_pyroute2():
    nl, s = nl_with({"vc1": 4})
    nl.link_add("d0", "dummy")
    nl.link_add("br0", "bridge", mtu=9000)
    nl.link_set("vc1", up=False, mtu=1300)
    nl.link_set("other", up=True)
    nl.brport_hairpin("vc1")
    nl.group_del(5)
    refs = [
        (CREATE, {"flags": 1, "change": 1}, [("IFLA_IFNAME", "d0"),
                                             ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "dummy")]})]),
        (CREATE, {"flags": 1, "change": 1}, [("IFLA_IFNAME", "br0"), ("IFLA_MTU", 9000),
                                             ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]})]),
        (5, {"index": 4, "flags": 0, "change": 1}, [("IFLA_MTU", 1300)]),
        (5, {"flags": 1, "change": 1}, [("IFLA_IFNAME", "other")]),
        (5, {"index": 4}, [("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_SLAVE_KIND", "bridge"), (
            "IFLA_INFO_SLAVE_DATA", {"attrs": [("IFLA_BRPORT_MODE", 1)]})]})]),
    ]
    assert len(s.sent) == 6
    for got, (flags, fields, attrs) in zip(s.sent, refs):
        assert _same(got, reference(ifinfmsg, M.RTM_NEWLINK, flags, fields, attrs))
    assert _same(s.sent[5], reference(ifinfmsg, M.RTM_DELLINK, 5, {}, [("IFLA_GROUP", 5)]))


def _same(got: bytes, want: bytes) -> bool:
    """Equal but for the sequence number (each request has its own)."""
    return got[:8] == want[:8] and got[12:] == want[12:]


@pytest.mark.parametrize("ip,plen,family", [("10.0.0.2", 16, socket.AF_INET), ("fd00::2", 64, socket.AF_INET6)])
def test_address_matches_pyroute2(ip, plen, family):
    nl, s = nl_with({"eth0": 3})
    nl.addr_add("eth0", ip, plen)
    want = reference(ifaddrmsg, M.RTM_NEWADDR, CREATE, {"family": family, "prefixlen": plen, "index": 3},
                     [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip), ("IFA_PROTO", 112)])  # pipenet's mark
    assert s.sent == [want]


def test_an_ipv6_address_without_duplicate_detection_matches_pyroute2():
    nl, s = nl_with({"eth0": 3})
    nl.addr_add("eth0", "fd00::2", 64, nodad=True)
    want = reference(ifaddrmsg, M.RTM_NEWADDR, CREATE, {"family": socket.AF_INET6, "prefixlen": 64, "index": 3},
                     [("IFA_LOCAL", "fd00::2"), ("IFA_ADDRESS", "fd00::2"), ("IFA_PROTO", 112),
                      ("IFA_FLAGS", M.IFA_F_NODAD)])
    assert s.sent == [want]


@pytest.mark.parametrize("dest,via,dev,metric", [
    (None, "10.0.0.1", None, None), ("10.1.1.2/32", None, "A", None), ("10.9.0.0/16", "10.0.0.1", "A", 50),
    ("fd00:1::/64", "fd00::1", None, None)])
def test_route_matches_pyroute2(dest, via, dev, metric):
    nl, s = nl_with({"A": 6})
    nl.route_add(dest, via, dev, metric)
    v6 = ":" in (via or dest)
    attrs = [("RTA_TABLE", 254)]
    fields = {"family": socket.AF_INET6 if v6 else socket.AF_INET, "table": 254, "proto": 112, "type": 1,
              "scope": 0 if via else 253}
    if dest:
        fields["dst_len"] = int(dest.split("/")[1])
        attrs.append(("RTA_DST", dest.split("/")[0]))
    if via:
        attrs.append(("RTA_GATEWAY", via))
    if dev:
        attrs.append(("RTA_OIF", 6))
    if metric is not None:
        attrs.append(("RTA_PRIORITY", metric))
    assert s.sent == [reference(rtmsg, M.RTM_NEWROUTE, CREATE, fields, attrs)]


def test_a_negative_ack_raises_with_its_errno():
    nl, _ = nl_with({"eth0": 3}, errno=17)
    with pytest.raises(NetlinkError) as e:
        nl.addr_add("eth0", "10.0.0.2", 16)
    assert e.value.errno == 17 and "add 10.0.0.2/16 to eth0" in str(e.value)


def test_dump_replies_decode_like_pyroute2_messages():
    link = ifinfmsg()
    link["index"] = 4
    link["flags"] = 1
    link["attrs"] = [("IFLA_IFNAME", "eth0"), ("IFLA_ADDRESS", "02:42:0a:00:00:02"), ("IFLA_MTU", 1500),
                     ("IFLA_GROUP", 9), ("IFLA_MASTER", 2), ("IFLA_TXQLEN", 1000)]
    link["header"]["type"] = M.RTM_NEWLINK
    link["header"]["flags"] = 2
    link.encode()
    data = bytearray(link.data)
    data[8:12] = b"SEQ!"
    done = M.HDR.pack(20, M.NLMSG_DONE, 2, 0, 0)[:8] + b"SEQ!" + bytes(8)
    nl, _ = nl_with(replies=bytes(data) + done)
    [m] = nl.links()
    assert (m["index"], m["flags"], m.get_attr("IFLA_IFNAME"), m.get_attr("IFLA_ADDRESS"),
            m.get_attr("IFLA_MTU"), m.get_attr("IFLA_GROUP"), m.get_attr("IFLA_MASTER")) == (
        4, 1, "eth0", "02:42:0a:00:00:02", 1500, 9, 2)
    assert m.get_attr("IFLA_TXQLEN") is None  # not read by pipenet


def test_route_reply_decodes():
    r = rtmsg()
    r["family"] = socket.AF_INET
    r["dst_len"] = 24
    r["attrs"] = [("RTA_TABLE", 254), ("RTA_DST", "10.2.0.0"), ("RTA_GATEWAY", "10.0.0.1"), ("RTA_OIF", 3),
                  ("RTA_PRIORITY", 20)]
    r["header"]["type"] = M.RTM_NEWROUTE
    r.encode()
    m = M.decode(bytes(r.data), 0, M.RTM_NEWROUTE)
    assert (m["dst_len"], m.get_attr("RTA_DST"), m.get_attr("RTA_GATEWAY"), m.get_attr("RTA_OIF"),
            m.get_attr("RTA_PRIORITY"), m.get_attr("RTA_TABLE")) == (24, "10.2.0.0", "10.0.0.1", 3, 20, 254)
