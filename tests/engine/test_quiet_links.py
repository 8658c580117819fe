"""Quiet links, made one interface at a time: a node without IPv6 gets every interface pipenet makes in it
(bridge ports on several bridges, p2p ends, macvlans) without IPv6 autoconfiguration, by netlink before
the interface comes up, since its namespace's default is no longer set (that cost milliseconds per
namespace at thousands of them); a node with IPv6 keeps it; and a record written before the new op
fields existed still names the same objects."""

from __future__ import annotations

import textwrap

from pipenet.lang import load_text
from pipenet.plan.compile import compile_topology
from pipenet.plan.ops import AddLink, AddVeth, CreateNamespace
from pipenet.plan.ops.base import Op
from tests import snapshot

TOPO = """
    topology quiet
    bridge br0 { address 10.81.0.1/24 }
    bridge br1 { address 10.82.0.1/24 }
    bridge lan6 { address fd00:81::1/64 }
    container a { net br0 }
    container b { interface eth0 on br0; interface eth1 on br1 }
    container c { net br1; interface mv0 macvlan of host:uplink }
    container d { net lan6 }
    p2p a:eth1 10.83.0.1/30 -- c:eth1 10.83.0.2/30
"""


def _ipv6(netns, node: str) -> tuple[str, str]:
    """(its IPv6 addresses, its links in detail) as `ip` shows them inside the node."""
    addrs = netns.pipenet("exec", node, "--", "ip", "-6", "-o", "addr", "show").stdout
    links = netns.pipenet("exec", node, "--", "ip", "-d", "-o", "link", "show").stdout
    return addrs, links


def test_nodes_without_ipv6_have_no_link_local_address_on_any_segment(netns, tmp_path):
    netns.run(["ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer"])
    netns.run(["ip", "link", "set", "uplink", "up"])
    netns.run(["ip", "link", "set", "uplink-peer", "up"])
    before = snapshot.settled_world(netns)
    path = tmp_path / "quiet.pn"
    path.write_text(textwrap.dedent(TOPO))
    r = netns.pipenet("up", str(path))
    assert r.returncode == 0, r.stderr
    for node, ifaces in (("a", ("eth0", "eth1")), ("b", ("eth0", "eth1")), ("c", ("eth0", "eth1", "mv0"))):
        addrs, links = _ipv6(netns, node)
        assert "fe80" not in addrs, (node, addrs)
        for name in ifaces:
            line = next(l for l in links.splitlines() if f": {name}@" in l or f": {name}:" in l)
            assert "addrgenmode none" in line, (node, line)
    # the node with IPv6 keeps its link-local address (and its namespace skips duplicate address detection)
    addrs, links = _ipv6(netns, "d")
    assert "fe80::" in addrs and "fd00:81::" in addrs, addrs
    assert netns.pipenet("exec", "d", "--", "sysctl", "-n", "net.ipv6.conf.default.accept_dad").stdout.strip() == "0"
    # the quiet bridges and their ports, in the host, have none either
    host = netns.out(["ip", "-6", "-o", "addr", "show"])
    ports = netns.out(["ip", "-o", "link", "show", "master", "br0"]) + netns.out(
        ["ip", "-o", "link", "show", "master", "br1"])
    quiet_names = ["br0", "br1"] + [l.split(": ")[1].split("@")[0] for l in ports.splitlines()]
    assert len(quiet_names) == 6, ports  # two bridges, four ports (a, b twice, c)
    for line in host.splitlines():
        assert line.split()[1] not in quiet_names or "fe80" not in line, line
    # every bridge port's host end, on a bridge with IPv6 as well, has IPv6 off (no multicast route of
    # its own in the host's table: each removal walks that table), before it ever came up
    lan6 = netns.out(["ip", "-o", "link", "show", "master", "lan6"]).splitlines()
    port_names = quiet_names[2:] + [l.split(": ")[1].split("@")[0] for l in lan6]
    assert len(port_names) == 5, lan6
    local6 = netns.out(["ip", "-6", "route", "show", "table", "local"])
    for name in port_names:
        assert netns.out(["cat", f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6"]).strip() == "1", name
        assert f"dev {name} " not in local6 + " ", (name, local6)
    assert "dev lan6" in local6  # (the bridge itself keeps its IPv6)
    # nothing to change the second time, and down leaves the world as it was
    r = netns.pipenet("plan", str(path))
    assert r.returncode == 0 and "nothing to do" in r.stderr, r.stderr
    assert netns.pipenet("down", "quiet").returncode == 0
    assert snapshot.settled_world(netns) == before


def test_a_record_without_the_new_quiet_fields_names_the_same_objects():
    """peer_quiet (AddVeth) and quiet (AddLink) say how an interface is made: a record written before
    they existed (the node's namespace made its interfaces quiet then) still matches the plan."""
    src = "topology q\nbridge br0 { address 10.81.0.1/24 }\ncontainer a { net br0; interface mv0 macvlan of host:eth0 }\n"
    ops, _ = compile_topology(load_text(src, "q.pn"))
    assert any(isinstance(o, CreateNamespace) and o.quiet for o in ops)
    veth = next(o for o in ops if isinstance(o, AddVeth))
    link = next(o for o in ops if type(o) is AddLink)
    assert veth.peer_quiet and link.quiet
    for op, field in ((veth, "peer_quiet"), (link, "quiet")):
        old = op.to_json()
        del old[field]
        back = Op.from_json(old)
        assert getattr(back, field) is False
        assert back.identity() == op.identity()
        changed = {**op.to_json(), "mac": "02:00:00:00:00:99"} if op is veth else {**op.to_json(), "mtu": 1400}
        assert Op.from_json(changed).identity() != op.identity()  # (what it is still counts)


def test_an_attached_namespace_gets_quiet_interfaces_too(netns, tmp_path):
    """pipenet does not own an attached namespace, but the interfaces it makes there are its own: a node
    without IPv6 gets its port without IPv6 autoconfiguration, as one in a namespace pipenet made."""
    netns.run(["ip", "netns", "add", "x"])
    path = tmp_path / "att.pn"
    path.write_text(textwrap.dedent("""
        topology att
        bridge br { address 10.84.0.1/24 }
        container x { attach netns /run/netns/x; net br }
    """))
    r = netns.pipenet("up", str(path))
    assert r.returncode == 0, r.stderr
    addrs = netns.out(["ip", "-n", "x", "-6", "-o", "addr", "show"])
    link = netns.out(["ip", "-n", "x", "-d", "-o", "link", "show", "eth0"])
    assert "fe80" not in addrs and "addrgenmode none" in link, (addrs, link)
    assert netns.pipenet("status", "att").returncode == 0
    assert netns.pipenet("down", "att").returncode == 0
    netns.run(["ip", "netns", "del", "x"])
