"""Tunnels over an IPv6 underlay: VXLAN over IPv6, 70 bytes of encapsulation (tests/machines.py, ipv6)."""

from __future__ import annotations

import json

from tests.machines import Machines, machine_lines
from tests.multihost.test_across import SPAN
from tests.snapshot import diff, world

SPAN6 = SPAN.replace(machine_lines(3), machine_lines(3, ipv6=True))


def test_a_bridge_across_machines_over_an_ipv6_underlay(tmp_path):
    ms = Machines(tmp_path, 3, ipv6=True)
    try:
        path = tmp_path / "span.pn"
        path.write_text(SPAN6.replace("bridge lan { address 10.70.0.1/24 }",
                                      "bridge lan { address 10.70.0.1/24; mtu 1450 }"))
        before = [world(w) for w in ms.worlds]
        r = ms.coordinator("up", str(path))  # 1450 fits over IPv4 (1500 - 50), not over IPv6 (1500 - 70)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "MTU 1450 does not fit in the tunnel between local, m1, m2: the underlay of local has MTU 1500, " \
               "less 70 for VXLAN over IPv6" in r.stderr and "give mtu 1430 or less" in r.stderr, r.stderr
        assert [diff(b, world(w)) for b, w in zip(before, ms.worlds)] == [[], [], []]
        path.write_text(SPAN6)
        r = ms.coordinator("test", str(path), "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        w1 = ms.worlds[1]
        details = w1.out(["ip", "-d", "link", "show", "master", "lan", "type", "vxlan"])
        assert "local 2001:db8:50::11" in details and "mtu 1430" in details, details
        fdb = w1.out(["bridge", "fdb", "show", "dev", details.split()[1].split("@")[0].rstrip(":")])
        assert "dst 2001:db8:50::10" in fdb and "dst 2001:db8:50::12" in fdb, fdb
        r = w1.run(["ip", "netns", "exec", "span@a", "ping", "-c1", "-W2", "-M", "do", "-s", "1402", "10.70.0.3"],
                   check=False)  # a full 1430-byte packet crosses from m1 to m2, in IPv6 on the underlay
        assert r.returncode == 0, r.stdout + r.stderr
        assert ms.coordinator("down", "span").returncode == 0
        assert [diff(b, world(w)) for b, w in zip(before, ms.worlds)] == [[], [], []]
    finally:
        ms.close()


def test_machines_reached_by_ssh_at_ipv6_addresses(tmp_path):
    """`ssh root@2001:db8:50::11`: the destination written as ssh takes it (no brackets), the master
    connection's socket path and every command of the conversation work with an IPv6 address."""
    ms = Machines(tmp_path, 3, ipv6=True)
    try:
        path = tmp_path / "span.pn"
        path.write_text(SPAN.replace(machine_lines(3), machine_lines(3, ipv6=True, ssh6=True)))
        assert "ssh root@2001:db8:50::11;" in path.read_text()
        before = [world(w) for w in ms.worlds]
        r = ms.coordinator("test", str(path), "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "span" in ms.coordinator("ls").stdout + ms.coordinator("ls").stderr
        r = ms.coordinator("status", "span", "--json")
        assert r.returncode == 0 and {n.get("machine") for n in json.loads(r.stdout)["nodes"]} >= {"m1", "m2"}, r.stdout
        assert ms.coordinator("down", "span").returncode == 0
        assert [diff(b, world(w)) for b, w in zip(before, ms.worlds)] == [[], [], []]
    finally:
        ms.close()


def test_a_segment_mixing_ipv4_and_ipv6_underlays_is_located(tmp_path):
    from pipenet.lang.load import load_text
    from pipenet.plan.slice import inner_mtus

    text = SPAN6.replace("underlay 2001:db8:50::12", "underlay 10.50.0.12")
    diags = inner_mtus(load_text(text, "x.pn"), {})[1]
    assert [d.message for d in diags] == ["the tunnel of lan between local, m1, m2 mixes IPv4 and IPv6 underlays "
                                          "(local, m1: IPv6)"]
    assert diags[0].span.line == text.splitlines().index("bridge lan { address 10.70.0.1/24 }") + 1
