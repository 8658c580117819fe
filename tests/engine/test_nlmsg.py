"""pipenet's own netlink packing, byte for byte against pyroute2's encoder (the reference).

Every request pipenet sends is here: creations, changes, deletions, lookups and dumps, links, addresses,
routes and qdiscs. This matters most for the forms this machine's kernel cannot run (802.1Q VLAN,
dummy, netem): their requests are checked here as bytes, since the kernel cannot check them.
"""

from __future__ import annotations

import socket

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from pipenet.backends import nlmsg as M
from pipenet.backends import tc
from pipenet.backends.netlink import NetlinkError
from tests.engine.netlink_fake import done, encoded, nl_with


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


# ---- every other request: deletions, lookups, dumps, changes, qdiscs -------------------------------------
ACK = M.NLM_F_REQUEST | M.NLM_F_ACK
DUMP = M.NLM_F_REQUEST | M.NLM_F_DUMP
AF_SPEC_QUIET = ("IFLA_AF_SPEC", {"attrs": [("AF_INET6", {"attrs": [("IFLA_INET6_ADDR_GEN_MODE", 1)]})]})


def test_deleting_an_interface_by_index_matches_pyroute2():
    nl, s = nl_with({"vc1": 4})
    nl.link_del("vc1")
    assert s.sent == [reference(ifinfmsg, M.RTM_DELLINK, ACK, {"index": 4}, [])]
    assert "vc1" not in nl.index  # the name may be made again: its old index must never be used


def test_deleting_an_interface_group_matches_pyroute2():
    nl, s = nl_with({"vc1": 4})
    nl.group_del(77)
    assert s.sent == [reference(ifinfmsg, M.RTM_DELLINK, ACK, {}, [("IFLA_GROUP", 77)])]
    assert nl.index == {}


@pytest.mark.parametrize("ip,plen,family", [("10.0.0.2", 16, socket.AF_INET), ("fd00::2", 64, socket.AF_INET6)])
def test_deleting_an_address_matches_pyroute2(ip, plen, family):
    nl, s = nl_with({"eth0": 3})
    nl.addr_del("eth0", ip, plen)
    assert s.sent == [reference(ifaddrmsg, M.RTM_DELADDR, ACK, {"family": family, "prefixlen": plen, "index": 3},
                                [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)])]


def _route_reference(mtype, flags, dest, via, dev_index, metric, proto):
    v6 = ":" in (via or dest or "")
    attrs = [("RTA_TABLE", 254)]
    fields = {"family": socket.AF_INET6 if v6 else socket.AF_INET, "table": 254, "proto": proto, "type": 1,
              "scope": 0 if via else 253}
    if dest:
        fields["dst_len"] = int(dest.split("/")[1])
        attrs.append(("RTA_DST", dest.split("/")[0]))
    if via:
        attrs.append(("RTA_GATEWAY", via))
    if dev_index:
        attrs.append(("RTA_OIF", dev_index))
    if metric is not None:
        attrs.append(("RTA_PRIORITY", metric))
    return reference(rtmsg, mtype, flags, fields, attrs)


@pytest.mark.parametrize("dest,via,dev,metric", [
    (None, "10.0.0.1", None, None), ("10.1.1.2/32", None, "A", None), ("10.9.0.0/16", "10.0.0.1", "A", 50),
    (None, "fd00::1", "A", 1024)])
def test_deleting_a_route_carries_pipenets_protocol_and_matches_pyroute2(dest, via, dev, metric):
    nl, s = nl_with({"A": 6})
    nl.route_del(dest, via, dev, metric)
    assert s.sent == [_route_reference(M.RTM_DELROUTE, ACK, dest, via, 6 if dev else None, metric, 112)]


def test_replacing_a_route_and_another_protocol_match_pyroute2():
    nl, s = nl_with({"A": 6})
    nl.route_add("10.3.0.0/16", "10.0.0.1", None, 5, replace=True)
    nl.route_add("10.4.0.0/16", None, "A", None, proto=3)
    replace = M.NLM_F_REQUEST | M.NLM_F_ACK | M.NLM_F_CREATE | M.NLM_F_REPLACE
    assert _same(s.sent[0], _route_reference(M.RTM_NEWROUTE, replace, "10.3.0.0/16", "10.0.0.1", None, 5, 112))
    assert _same(s.sent[1], _route_reference(M.RTM_NEWROUTE, CREATE, "10.4.0.0/16", None, 6, None, 3))


def test_looking_an_interface_up_by_name_matches_pyroute2_and_reads_its_index():
    reply = encoded(ifinfmsg, M.RTM_NEWLINK, {"index": 42, "flags": 1}, [("IFLA_IFNAME", "eth0")], flags=0)
    nl, s = nl_with(replies=reply)
    assert nl.link_index("eth0") == 42
    assert s.sent == [reference(ifinfmsg, M.RTM_GETLINK, M.NLM_F_REQUEST, {}, [("IFLA_IFNAME", "eth0")])]
    assert nl.link_index("eth0") == 42 and len(s.sent) == 1  # then from the cache


@pytest.mark.parametrize("call,cls,mtype,fields,attrs", [
    (lambda nl: nl.links(), ifinfmsg, M.RTM_GETLINK, {}, [("IFLA_EXT_MASK", M.RTEXT_FILTER_SKIP_STATS)]),
    (lambda nl: nl.addrs(), ifaddrmsg, M.RTM_GETADDR, {}, []),
    (lambda nl: nl.addrs(socket.AF_INET6), ifaddrmsg, M.RTM_GETADDR, {"family": socket.AF_INET6}, []),
    (lambda nl: nl.routes(), rtmsg, M.RTM_GETROUTE, {"family": socket.AF_INET}, []),
    (lambda nl: nl.routes(socket.AF_UNSPEC, main_only=True), rtmsg, M.RTM_GETROUTE,
     {"family": socket.AF_UNSPEC}, []),
    (lambda nl: nl.qdiscs(), tcmsg, M.RTM_GETQDISC, {}, []),
], ids=["links", "addrs", "addrs6", "routes", "routes-main", "qdiscs"])
def test_dump_requests_match_pyroute2(call, cls, mtype, fields, attrs):
    nl, s = nl_with(replies=done())
    assert call(nl) == []
    assert s.sent == [reference(cls, mtype, DUMP, fields, attrs)]


def test_changing_an_interface_matches_pyroute2():
    nl, s = nl_with({"vc1": 4, "br0": 7})
    nl.link_set("vc1", up=True, alias="pipenet:t:vc1", quiet=True)  # by index: it is known
    nl.link_set("eth0", up=True, alias="pipenet:t:eth0")  # by name: the kernel finds it
    nl.link_set("vc1", nomaster=True)
    nl.link_set("vc1", master="br0", mac="02:42:0a:00:00:09", mtu=1400)
    nl.link_set("vc1", up=False)
    refs = [
        ({"index": 4, "flags": 1, "change": 1}, [("IFLA_IFALIAS", "pipenet:t:vc1"), AF_SPEC_QUIET]),
        ({"flags": 1, "change": 1}, [("IFLA_IFNAME", "eth0"), ("IFLA_IFALIAS", "pipenet:t:eth0")]),
        ({"index": 4}, [("IFLA_MASTER", 0)]),
        ({"index": 4}, [("IFLA_MTU", 1400), ("IFLA_ADDRESS", "02:42:0a:00:00:09"), ("IFLA_MASTER", 7)]),
        ({"index": 4, "flags": 0, "change": 1}, []),
    ]
    assert len(s.sent) == len(refs)
    for got, (fields, attrs) in zip(s.sent, refs):
        assert _same(got, reference(ifinfmsg, M.RTM_NEWLINK, ACK, fields, attrs))


@pytest.mark.parametrize("on", [True, False])
def test_hairpin_on_and_off_match_pyroute2(on):
    nl, s = nl_with({"vc1": 4})
    nl.brport_hairpin("vc1", on)
    assert s.sent == [reference(ifinfmsg, M.RTM_NEWLINK, ACK, {"index": 4}, [("IFLA_LINKINFO", {"attrs": [
        ("IFLA_INFO_SLAVE_KIND", "bridge"), ("IFLA_INFO_SLAVE_DATA", {"attrs": [("IFLA_BRPORT_MODE", int(on))]})]})])]


def test_a_veth_in_one_namespace_and_a_bridge_with_a_mac_match_pyroute2():
    nl, s = nl_with()
    nl.link_add("va", "veth", up=False, peer={"ifname": "vb"})
    nl.link_add("br0", "bridge", mac="02:42:ac:11:00:01", up=False)
    assert _same(s.sent[0], reference(ifinfmsg, M.RTM_NEWLINK, CREATE, {}, [
        ("IFLA_IFNAME", "va"), ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {
            "attrs": [("VETH_INFO_PEER", {"attrs": [("IFLA_IFNAME", "vb")]})]})]})]))
    assert _same(s.sent[1], reference(ifinfmsg, M.RTM_NEWLINK, CREATE, {}, [
        ("IFLA_IFNAME", "br0"), ("IFLA_ADDRESS", "02:42:ac:11:00:01"),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]})]))


def test_a_macvlan_made_in_its_parents_namespace_matches_pyroute2():
    nl, s = nl_with({"eth0": 2})
    nl.link_add("mv0", "macvlan", link="eth0", mac="02:00:00:00:00:01", mtu=1400,
                info_data=M.u32(M.IFLA_MACVLAN_MODE, 1))
    assert s.sent == [reference(ifinfmsg, M.RTM_NEWLINK, CREATE, {"flags": 1, "change": 1}, [
        ("IFLA_IFNAME", "mv0"), ("IFLA_MTU", 1400), ("IFLA_ADDRESS", "02:00:00:00:00:01"), ("IFLA_LINK", 2),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "macvlan"),
                                     ("IFLA_INFO_DATA", {"attrs": [("IFLA_MACVLAN_MODE", 1)]})]})])]


QDISC_CREATE = M.NLM_F_REQUEST | M.NLM_F_ACK | M.NLM_F_CREATE | M.NLM_F_REPLACE


@pytest.mark.parametrize("shape,want", [
    ({"rate_bps": 8_000_000, "burst": 32768},
     [(0x10000, 0xFFFFFFFF, "tbf", lambda: tc.tbf_options(8_000_000, 32768))]),
    ({"delay_ms": 10, "jitter_ms": 2, "loss_pct": 1.5},
     [(0x10000, 0xFFFFFFFF, "netem", lambda: tc.netem_options(10, 2, 1.5))]),
    ({"delay_ms": 5, "rate_bps": 1_000_000},
     [(0x10000, 0xFFFFFFFF, "netem", lambda: tc.netem_options(5, None, None)),
      (0x100000, 0x10001, "tbf", lambda: tc.tbf_options(1_000_000, 16 * 1024))]),
], ids=["tbf", "netem", "netem-then-tbf"])
def test_qdisc_requests_match_pyroute2(shape, want):
    nl, s = nl_with({"eth0": 3})
    tc.set_shape(nl, "eth0", **shape)
    assert len(s.sent) == len(want)
    for got, (handle, parent, kind, options) in zip(s.sent, want):
        assert _same(got, reference(tcmsg, M.RTM_NEWQDISC, QDISC_CREATE,
                                    {"index": 3, "handle": handle, "parent": parent},
                                    [("TCA_KIND", kind), ("TCA_OPTIONS", options())]))


def test_removing_shaping_matches_pyroute2():
    nl, s = nl_with({"eth0": 3})
    tc.clear_shape(nl, "eth0")
    assert s.sent == [reference(tcmsg, M.RTM_DELQDISC, ACK, {"index": 3, "handle": 0, "parent": 0xFFFFFFFF}, [])]


def test_a_qdisc_dump_reply_decodes():
    reply = encoded(tcmsg, M.RTM_NEWQDISC, {"index": 3, "handle": 0x10000, "parent": 0xFFFFFFFF},
                    [("TCA_KIND", "tbf"), ("TCA_OPTIONS", tc.tbf_options(8_000_000, 32768))])
    nl, _ = nl_with(replies=reply + done())
    [m] = nl.qdiscs()
    assert (m["index"], m["handle"], m["parent"], m.get_attr("TCA_KIND")) == (3, 0x10000, 0xFFFFFFFF, "tbf")
    assert isinstance(m.get_attr("TCA_OPTIONS"), bytes) and len(m.get_attr("TCA_OPTIONS")) > 36


def test_an_address_reply_decodes_like_pyroute2():
    reply = encoded(ifaddrmsg, M.RTM_NEWADDR, {"family": socket.AF_INET6, "prefixlen": 64, "index": 3},
                    [("IFA_ADDRESS", "fd00::2"), ("IFA_LOCAL", "fd00::2"), ("IFA_FLAGS", M.IFA_F_NODAD),
                     ("IFA_PROTO", 112)])
    nl, _ = nl_with(replies=reply + done())
    [m] = nl.addrs()
    assert (m["family"], m["prefixlen"], m["index"], m.get_attr("IFA_ADDRESS"), m.get_attr("IFA_LOCAL"),
            m.get_attr("IFA_FLAGS"), m.get_attr("IFA_PROTO")) == (socket.AF_INET6, 64, 3, "fd00::2", "fd00::2",
                                                                  M.IFA_F_NODAD, 112)


def test_a_bridge_port_reply_decodes_its_kind_hairpin_alias_and_peer():
    reply = encoded(ifinfmsg, M.RTM_NEWLINK, {"index": 9, "flags": 1}, [
        ("IFLA_IFNAME", "vc1"), ("IFLA_IFALIAS", "pipenet:t:vc1"), ("IFLA_LINK", 2), ("IFLA_LINK_NETNSID", 0),
        ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_SLAVE_KIND", "bridge"),
                                     ("IFLA_INFO_SLAVE_DATA", {"attrs": [("IFLA_BRPORT_MODE", 1)]})]})])
    nl, _ = nl_with(replies=reply + done())
    [m] = nl.links()
    assert (m.get_attr("IFLA_IFALIAS"), m.get_attr("IFLA_LINK"), m.get_attr("IFLA_LINK_NETNSID"),
            m.get_attr("IFLA_LINKINFO")) == ("pipenet:t:vc1", 2, 0, {"kind": "veth", "hairpin": True})
