"""The vxlan kind (pipenet/kinds/vxlan.py): its form, its errors, its operation and command, its netlink
request byte for byte against pyroute2's encoder, its refusal on a kernel without it, and two containers
reaching each other over a tunnel on the real kernel (in the harness's private namespaces)."""

from __future__ import annotations

import json
import struct
import sys
import textwrap
import time
import types

import pytest
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from pipenet import graph, kinds
from pipenet.backends import nlmsg as M
from pipenet import kinds
from pipenet.backends.features import FEATURES
from pipenet.backends.kernel import Kernel
from pipenet.backends.netlink import Netlink
from pipenet.backends.recording import RecordingKernel
from pipenet.errors import UnsupportedByKernel
from pipenet.lang import analyse, load_text
from pipenet.lang.fmt import format_text
from pipenet.plan.compile import compile_topology
from pipenet.plan.diff import diff
from pipenet.plan.ops import AddLink, Op
from tests import snapshot
from tests.harness import Netns

VXLAN = kinds.KINDS["vxlan"]

# two containers joined by a p2p link (the underlay), each with a tunnel to the other's end of it
TUNNEL = """\
topology vx
container a {
    interface vx0 vxlan id 42 remote 10.80.0.2 local 10.80.0.1 dev u0 address 10.99.0.1/24
}
container b {
    interface vx0 { vxlan id 42 remote 10.80.0.1 dstport 4789; address 10.99.0.2/24 }
}
p2p a:u0 10.80.0.1/30 -- b:u0 10.80.0.2/30

expect a can reach 10.99.0.2
expect b can reach a
expect b can reach 10.99.0.1:7/udp
"""


def ops_of(text: str):
    ops, _ns = compile_topology(load_text(text, "vx.pn"))
    return ops


def tunnel(ops, node: str) -> AddLink:
    return next(o for o in ops if isinstance(o, AddLink) and o.node == node)


# ---- the form ----------------------------------------------------------------------------------------
def test_the_form_and_its_block_form_read_into_the_kinds_settings():
    t = load_text(TUNNEL, "vx.pn")
    a, b = t.container_map["a"].interface("vx0"), t.container_map["b"].interface("vx0")
    assert (a.kind, a.parent, a.parent_node, str(a.address)) == ("vxlan", "u0", None, "10.99.0.1/24")
    assert (a.settings.vni, str(a.settings.remote), str(a.settings.local), a.settings.port) == (
        42, "10.80.0.2", "10.80.0.1", 4789)
    assert (b.parent, b.settings.local, b.settings.port, str(b.settings.remote)) == (None, None, 4789, "10.80.0.1")
    assert a.mac == "02:42:0a:63:00:01"  # Docker's MAC from its address, as every interface with IPv4
    v6 = load_text("container c { interface t vxlan id 0 remote fd00::2 local fd00::1 dstport 8472 "
                   "address fd00:99::1/64 }\n", "v6.pn").container_map["c"].interface("t")
    assert (v6.settings.vni, v6.settings.remote.version, v6.settings.port) == (0, 6, 8472)


def test_the_example_is_clean_and_in_canonical_layout():
    topo, diags, _ = analyse(TUNNEL, "vx.pn")
    assert not diags and len(topo.expectations) == 3
    assert format_text(TUNNEL, "vx.pn") == TUNNEL


A = "container a {{ {} }}\n"


@pytest.mark.parametrize("src,line,col,message,hint", [
    (A.format("interface vx0 vxlan id 16777216 remote 10.0.0.2"), 1, 38, "VXLAN id 16777216 is out of range",
     "0 to 16777215"),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.300"), 1, 47, "is not an IPv4 address", None),
    (A.format("interface vx0 vxlan id 5"), 1, 29, "vxlan vx0 needs a `remote`", "remote 10.80.0.2"),
    (A.format("interface vx0 vxlan id 5 remote 239.1.1.1"), 1, 47, "remote 239.1.1.1 is a multicast group",
     "unicast"),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.2 local fd00::1"), 1, 62,
     "local fd00::1 and remote 10.0.0.2 are not of one family", "IPv4 address of a"),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.2 remote 10.0.0.3"), 1, 63, "`remote` is given twice",
     None),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.2 dstport 0"), 1, 64, "UDP port 0 is out of range", None),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.2 dev eth9"), 1, 60, "device `eth9` is not an interface of a",
     None),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.2 dev vx0"), 1, 60, "`vx0` cannot be its own device", None),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.2 dev x:eth0"), 1, 60, "`x:eth0` is not an interface of a",
     None),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.2 address 10.99.0.1"), 1, 64, "needs a prefix", None),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.2\n  interface vx1 vxlan id 5 remote 10.0.0.3"), 2, 26,
     "a:vx1 is VXLAN id 5 on UDP port 4789, as a:vx0 (line 1) is, in one network namespace", "another id"),
    (A.format("interface vx0 vxlan id 5 remote 10.0.0.2 dummy"), 1, 56, "has more than one kind", "vxlan"),
    (A.format("interface vx0 vxlan 5 remote 10.0.0.2"), 1, 35, "expected `id`, found `5`", None),
    ("container a {\n  interface vx0 vxlan id 5 remote\n}\n", 2, 34, "expected the other end's address, like "
     "10.80.0.2, found the end of the line", None),
    (A.format("interface vx0 address 10.0.0.1/24"), 1, 25, "needs a kind", "`vxlan id VNI remote ADDR`"),
])
def test_errors_are_located_with_a_hint(src, line, col, message, hint):
    _topo, diags, _ = analyse(src, "t.pn")
    found = [d for d in diags if message in d.message]
    assert found, [d.message for d in diags]
    assert (found[0].span.line, found[0].span.column) == (line, col), found[0]
    if hint is not None:
        assert hint in (found[0].hint or ""), found[0].hint


def test_a_wrong_value_is_the_one_error_reported():
    _topo, diags, _ = analyse(A.format("interface vx0 vxlan id 5 remote 10.0.0.300 dstport 99999"), "t.pn")
    assert sorted(d.message for d in diags) == ["UDP port 99999 is out of range",
                                                "`10.0.0.300` is not an IPv4 address (each part is 0 to 255)"]


def test_tunnels_with_one_id_in_different_namespaces_or_on_different_ports_are_fine():
    ok = ("container a { interface vx0 vxlan id 5 remote 10.0.0.2; interface vx1 vxlan id 5 remote 10.0.0.3 "
          "dstport 4790 }\ncontainer b { interface vx0 vxlan id 5 remote 10.0.0.1 }\n")
    _topo, diags, _ = analyse(ok, "t.pn")
    assert diags == []


# ---- the operation, its command, its record ----------------------------------------------------------
def test_it_compiles_to_one_operation_whose_command_is_ip_link_add_type_vxlan():
    ops = ops_of(TUNNEL)
    a, b = tunnel(ops, "a"), tunnel(ops, "b")
    assert (a.link_kind, a.settings) == ("vxlan", {"id": 42, "remote": "10.80.0.2", "local": "10.80.0.1",
                                                   "port": 4789})
    assert a.describe()[0] == ("ip -n vx@a link add name vx0 address 02:42:0a:63:00:01 type vxlan id 42 "
                               "remote 10.80.0.2 local 10.80.0.1 dev u0 dstport 4789")
    assert b.describe()[0] == ("ip -n vx@b link add name vx0 address 02:42:0a:63:00:02 type vxlan id 42 "
                               "remote 10.80.0.1 dstport 4789")
    # made after the pair it is sent through, and made again with it
    pair = next(o for o in ops if o.kind == "veth")
    assert ops.index(pair) < ops.index(a) and a.parents == ("netns:a", "link:a:u0") and b.parents == ("netns:b",)
    again = diff(ops_of(TUNNEL.replace("10.80.0.2/30\n", "10.80.0.2/30 { mtu 1400 }\n")), ops)
    assert ("apply", "a") in [(s.action, s.op.node) for s in again.steps if s.op.kind == "link"]
    # plain data in the record, read back as the same change
    back = Op.from_json(json.loads(json.dumps(a.to_json())))
    assert back.identity() == a.identity() and back.settings == a.settings
    assert diff(ops_of(TUNNEL), [Op.from_json(o.to_json()) for o in ops]).empty


def test_a_tunnel_through_a_host_interface_is_made_in_the_host_and_moved_into_the_node():
    op = tunnel(ops_of("topology h\ncontainer a { interface vx0 vxlan id 7 remote 192.0.2.9 dev host:uplink }\n"),
                "a")
    assert (op.parent_node, op.parent_ns, op.parent, op.parents) == ("host", "", "uplink", ("netns:a",))
    assert op.describe()[0].startswith("ip link add name vx0 netns h@a ") and "dev uplink dstport 4789" in \
        op.describe()[0]


def test_the_graph_draws_the_tunnel_once_between_its_ends():
    dot = graph.to_dot(load_text(TUNNEL, "vx.pn"))
    lines = [line for line in dot.splitlines() if "vxlan 42" in line]
    assert lines == ['  "a" -- "b" [style=dotted, label="vx0\\n10.99.0.1/24\\nvxlan 42"];']


# ---- netlink, byte for byte --------------------------------------------------------------------------
class FakeSocket:
    """Records what is sent; acks every request."""

    def __init__(self):
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def recv_into(self, buf) -> int:
        data = self.recv(len(buf))
        buf[:len(data)] = data
        return len(data)

    def recv(self, _n: int) -> bytes:
        seq = M.HDR.unpack_from(self.sent[-1])[3]
        return M.HDR.pack(36, M.NLMSG_ERROR, 0, seq, 0) + struct.pack("=i", 0) + bytes(16)


def pyroute2_newlink(name: str, info: list, flags: int = 1, **attrs) -> bytes:
    m = ifinfmsg()
    m["flags"] = m["change"] = flags
    m["attrs"] = [("IFLA_IFNAME", name), *attrs.get("before", []),
                  ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "vxlan"), ("IFLA_INFO_DATA", {"attrs": info})]})]
    m["header"]["type"] = M.RTM_NEWLINK
    m["header"]["flags"] = M.NLM_F_REQUEST | M.NLM_F_ACK | M.NLM_F_CREATE | M.NLM_F_EXCL
    m["header"]["sequence_number"] = 1
    m.encode()
    return bytes(m.data)


@pytest.mark.parametrize("settings,parent,info", [
    ({"id": 42, "remote": "10.80.0.2", "local": "10.80.0.1", "port": 4789}, 3,
     [("IFLA_VXLAN_ID", 42), ("IFLA_VXLAN_GROUP", "10.80.0.2"), ("IFLA_VXLAN_LOCAL", "10.80.0.1"),
      ("IFLA_VXLAN_LINK", 3), ("IFLA_VXLAN_PORT", 4789)]),
    ({"id": 16777215, "remote": "fd00::2", "local": "fd00::1", "port": 8472}, None,
     [("IFLA_VXLAN_ID", 16777215), ("IFLA_VXLAN_GROUP6", "fd00::2"), ("IFLA_VXLAN_LOCAL6", "fd00::1"),
      ("IFLA_VXLAN_PORT", 8472)]),
    ({"id": 0, "remote": "192.0.2.9", "port": 1}, None,
     [("IFLA_VXLAN_ID", 0), ("IFLA_VXLAN_GROUP", "192.0.2.9"), ("IFLA_VXLAN_PORT", 1)]),
])
def test_the_request_matches_pyroute2s_encoder(settings, parent, info):
    s = FakeSocket()
    Netlink(s).link_add("vx0", "vxlan", info_data=VXLAN.info_data(settings, parent))
    assert s.sent == [pyroute2_newlink("vx0", info)]
    port = s.sent[0][-4:]
    assert port[:2] == struct.pack("!H", settings["port"])  # the port is big-endian (be16), unlike the rest


def test_the_kernel_backend_puts_dev_in_the_tunnels_own_data_not_in_ifla_link():
    s = FakeSocket()
    nl = Netlink(s)
    nl.index["u0"] = 3
    k = Kernel.__new__(Kernel)
    k.ns = types.SimpleNamespace(get=lambda ref: types.SimpleNamespace(nl=nl, fd=99))
    k.link_add("vx@a", "vx0", "vxlan", parent_ns="vx@a", parent="u0", mac="02:42:0a:63:00:01",
               settings={"id": 42, "remote": "10.80.0.2", "port": 4789}, spec=kinds.by_link_kind("vxlan"),
               alias="pipenet:vx:link:a:vx0")
    create = pyroute2_newlink("vx0", [("IFLA_VXLAN_ID", 42), ("IFLA_VXLAN_GROUP", "10.80.0.2"),
                                      ("IFLA_VXLAN_LINK", 3), ("IFLA_VXLAN_PORT", 4789)],
                              before=[("IFLA_ADDRESS", "02:42:0a:63:00:01")])
    assert s.sent[0] == create  # (no IFLA_LINK: the vxlan driver reads its device from IFLA_VXLAN_LINK)


# ---- kernel support ------------------------------------------------------------------------------------
def test_a_kernel_without_vxlan_refuses_the_plan_in_one_line_before_any_change():
    from pipenet.engine.checks import check_features

    plan = diff(ops_of(TUNNEL), [])
    assert FEATURES["vxlan"] == "CONFIG_VXLAN (VXLAN tunnels)"
    k = RecordingKernel(features={"tbf"})
    with pytest.raises(UnsupportedByKernel) as e:
        check_features(plan, k)
    assert str(e.value) == ("this kernel has no CONFIG_VXLAN (VXLAN tunnels), which interface vx0 of b needs; "
                            "nothing was changed")
    assert k.calls == []
    check_features(plan, RecordingKernel(features={"vxlan"}))  # and one with it goes on


def test_the_operations_apply_and_undo_on_the_recording_kernel():
    k = RecordingKernel(features={"vxlan"})
    ops = ops_of(TUNNEL)
    for op in ops:
        op.apply(k)
    vx = k.state["ns"]["vx@a"]["links"]["vx0"]
    assert (vx["kind"], vx["parent"], vx["alias"]) == ("vxlan", "u0", "pipenet:vx:link:a:vx0")
    tunnel(ops, "a").undo(k)
    assert "vx0" not in k.state["ns"]["vx@a"]["links"]


# ---- the real kernel ---------------------------------------------------------------------------------------
def write(tmp_path, text: str) -> str:
    p = tmp_path / "vx.pn"
    p.write_text(textwrap.dedent(text))
    return str(p)


def supported(netns) -> bool:
    probe = netns.run([sys.executable, "-c", "import pipenet.kinds; from pipenet.backends.kernel import Kernel; "
                                             "print(Kernel().supports('vxlan'))"])
    return probe.stdout.strip() == "True"


def test_the_probe_changes_nothing_and_a_kernel_without_vxlan_refuses_it_in_one_line(netns, tmp_path):
    path = write(tmp_path, TUNNEL)
    before = snapshot.take(netns.runner)
    has = supported(netns)
    assert snapshot.take(netns.runner) == before  # the probe's scratch namespace went with it
    if has:
        return  # the working path: below
    r = netns.pipenet("up", path)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1 and FEATURES["vxlan"] in lines[0], r.stderr
    assert snapshot.take(netns.runner) == before
    pytest.skip(f"this kernel has no {FEATURES['vxlan']}; the refusal was checked, the working path cannot be")


def need_vxlan(netns) -> None:
    if not supported(netns):
        pytest.skip(f"this kernel has no {FEATURES['vxlan']}")


def test_two_containers_reach_each_other_over_a_tunnel_then_down_leaves_the_world_as_before(netns, tmp_path):
    need_vxlan(netns)
    path = write(tmp_path, TUNNEL)
    before = snapshot.take(netns.runner)
    r = netns.pipenet("up", path)
    assert r.returncode == 0, r.stderr
    ping = netns.pipenet("exec", "a", "--", "ping", "-c1", "-W2", "10.99.0.2")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    details = netns.out(["ip", "-n", "vx@a", "-d", "link", "show", "vx0"])
    assert "vxlan id 42 remote 10.80.0.2 local 10.80.0.1 dev u0" in details and "dstport 4789" in details
    assert "alias pipenet:vx:link:a:vx0" in details
    assert "dstport 4789" in netns.out(["ip", "-n", "vx@b", "-d", "link", "show", "vx0"])
    doc = json.loads(netns.pipenet("status", "vx", "--json").stdout)
    assert doc["up"] and doc["drift"] == []  # its live check (kind, mark, MAC, MTU, up) agrees right after up
    result = netns.pipenet("test", path, "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["passed"] == 3, result.stdout
    # drift is seen and put right: the live check of a vxlan is that of any link
    netns.run(["ip", "-n", "vx@b", "link", "set", "dev", "vx0", "down", "address", "02:00:00:00:00:01"])
    drift = netns.pipenet("status", "vx")
    assert drift.returncode == 1 and "vxlan vx0: " in drift.stderr, drift.stderr
    assert "changed: vxlan vx0: mac 02:00:00:00:00:01 (want mac 02:42:0a:63:00:02), down (want up)" in drift.stderr
    assert netns.pipenet("up", path).returncode == 0
    assert json.loads(netns.pipenet("status", "vx", "--json").stdout)["drift"] == []
    # a tunnel's own settings are the kernel's truth too: one carrying pipenet's mark but another id and
    # other end (made again under pipenet) is drift, planned as removed and made again, and put right
    mark = "pipenet:vx:link:a:vx0"
    netns.run(["ip", "-n", "vx@a", "link", "del", "dev", "vx0"])
    netns.run(["ip", "-n", "vx@a", "link", "add", "name", "vx0", "type", "vxlan", "id", "43", "remote", "10.80.0.9",
               "local", "10.80.0.1", "dev", "u0", "dstport", "4789"])
    netns.run(["ip", "-n", "vx@a", "link", "set", "dev", "vx0", "alias", mark, "address", "02:42:0a:63:00:01", "up"])
    drift = netns.pipenet("status", "vx", "--json")
    assert drift.returncode == 1, drift.stdout
    details = [d["detail"] for d in json.loads(drift.stdout)["drift"] if d["object"].endswith("vx0")]
    assert details == ["vxlan vx0: id 43 (want 42), remote 10.80.0.9 (want 10.80.0.2)"], details
    steps = json.loads(netns.pipenet("plan", path, "--json").stdout)["steps"]
    assert [(x["action"], x["key"]) for x in steps if x["key"] == "link:a:vx0"] == [
        ("remove", "link:a:vx0"), ("apply", "link:a:vx0")], steps
    assert netns.pipenet("up", path).returncode == 0
    assert "vxlan id 42 remote 10.80.0.2 " in netns.out(["ip", "-n", "vx@a", "-d", "link", "show", "vx0"])
    assert json.loads(netns.pipenet("status", "vx", "--json").stdout)["drift"] == []
    assert netns.pipenet("test", path).returncode == 0  # its address came back with it
    assert netns.pipenet("down", "vx").returncode == 0
    assert snapshot.take(netns.runner) == before


LIVED_IN = ("br-foreign", "docker_gwbridge")


def sh_world(world) -> dict:
    """What `up` and the sh script must agree on (as tests/engine/test_new_users.py compares them for the
    examples): everything but namespace inodes, process ids and the two worlds' own random bridge MACs."""
    w = snapshot.settled_world(world)
    for key in list(w):
        if key.startswith("ns "):
            w[key].pop("inode", None)
    w["processes"] = sorted(w["processes"].values())
    w["links"] = [dict(link, address=None) if link["ifname"] in LIVED_IN else link for link in w["links"]]
    w["routes"] = [r for r in w["routes"] if "fe80::" not in r]
    w["addresses"] = [a for a in w["addresses"] if " fe80::" not in a]
    return w


def test_plan_as_sh_builds_the_same_world_as_up(netns, tmp_path):
    need_vxlan(netns)
    path = write(tmp_path, TUNNEL)
    other = Netns()
    try:
        script = netns.pipenet("plan", path, "--format", "sh")
        assert script.returncode == 0 and "type vxlan id 42" in script.stdout, script.stderr
        r = other.run(["sh", "-e", "-c", script.stdout], check=False)
        assert r.returncode == 0, (r.stderr, script.stdout)
        assert other.run(["ip", "netns", "exec", "vx@b", "ping", "-c1", "-W2", "10.99.0.1"],
                         check=False).returncode == 0
        assert netns.pipenet("up", path).returncode == 0
        up_world, sh = sh_world(netns), sh_world(other)
        assert up_world == sh, snapshot.diff(up_world, sh)
    finally:
        other.close()


def test_a_tunnel_through_a_host_interface_is_made_in_the_host_and_uses_its_underlay(netns, tmp_path):
    need_vxlan(netns)
    # the far end, made by hand: a namespace behind the host's `uplink`, with a tunnel back to the host
    for argv in (["ip", "netns", "add", "far"],
                 ["ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer", "netns", "far"],
                 ["ip", "addr", "add", "10.81.0.1/30", "dev", "uplink"], ["ip", "link", "set", "uplink", "up"],
                 ["ip", "-n", "far", "addr", "add", "10.81.0.2/30", "dev", "uplink-peer"],
                 ["ip", "-n", "far", "link", "set", "uplink-peer", "up"],
                 ["ip", "-n", "far", "link", "add", "vx9", "type", "vxlan", "id", "9", "remote", "10.81.0.1", "dstport",
                  "4789"],
                 ["ip", "-n", "far", "addr", "add", "10.98.0.2/24", "dev", "vx9"],
                 ["ip", "-n", "far", "link", "set", "vx9", "up"]):
        netns.run(argv)
    path = write(tmp_path, "topology hd\ncontainer a { interface vx0 vxlan id 9 remote 10.81.0.2 dev host:uplink "
                           "address 10.98.0.1/24 }\n")
    # another tool's tunnel with that id and port in the host, where this one is made: refused in one line
    # before any change (the kernel would refuse it halfway through `up`)
    netns.run(["ip", "link", "add", "name", "othertool0", "type", "vxlan", "id", "9", "remote", "10.81.0.2",
               "dstport", "4789"])
    for _ in range(100):  # (the uplink's link-local address leaves duplicate detection, its route comes: then)
        if not netns.out(["ip", "-6", "-o", "addr", "show", "tentative"]).strip():
            break
        time.sleep(0.05)
    before = snapshot.take(netns.runner)
    r = netns.pipenet("up", path)
    assert r.returncode != 0 and "VXLAN id 9 on UDP port 4789 is taken in the host by an interface pipenet did not "\
        "make, othertool0" in r.stderr, r.stderr
    assert snapshot.take(netns.runner) == before
    netns.run(["ip", "link", "del", "dev", "othertool0"])
    before = snapshot.take(netns.runner)
    r = netns.pipenet("up", path)
    assert r.returncode == 0, r.stderr
    assert "vxlan id 9 remote 10.81.0.2 dev if" in netns.out(["ip", "-n", "hd@a", "-d", "link", "show", "vx0"])
    assert "vx0" not in netns.out(["ip", "-o", "link"])  # moved into the node
    assert netns.pipenet("exec", "a", "--", "ping", "-c1", "-W2", "10.98.0.2").returncode == 0
    assert json.loads(netns.pipenet("status", "hd", "--json").stdout)["drift"] == []
    assert netns.pipenet("down", "hd").returncode == 0
    assert snapshot.take(netns.runner) == before
