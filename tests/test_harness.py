"""The harness itself: kernel tests really run in private namespaces, and the host guard notices changes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from tests import snapshot
from tests.conftest import pipenet_processes
from tests.harness import DOCKER6_RULES, DOCKER_RULES, FOREIGN_BRIDGES, FOREIGN_ETC, FOREIGN_NETNS, Netns


def test_netns_is_private(netns):
    host_before = snapshot.take()
    inside_before = snapshot.take(netns.runner)
    netns.run(["ip", "link", "add", "pnA", "type", "veth", "peer", "name", "pnB"])
    netns.run(["ip", "netns", "add", "probe"])
    netns.run(["mkdir", "-p", "/etc/netns/probe"])
    inside_after = snapshot.take(netns.runner)
    changed = {line.split(":")[0] for line in snapshot.diff(inside_before, inside_after)}
    # the snapshot sees every kind of change the guard is for
    assert {"links", "/run/netns", "/etc/netns"} <= changed
    # ... and none of it reached the machine's own namespace
    assert snapshot.diff(host_before, snapshot.take()) == []
    assert "pnA" not in snapshot.host_runner(["ip", "-o", "link"])


def test_netns_has_its_own_hostname(netns):
    assert netns.out(["hostname"]).strip() == "pipenet-sandbox"



def test_closing_a_netns_ends_every_process_in_it_and_only_those():
    outside = subprocess.Popen(["sleep", "30"])  # in the machine's namespace: must survive
    ns = Netns()
    try:
        inside = subprocess.Popen(ns.argv(["env", "PIPENET_PROCESS=test-marker", "sleep", "30"]))
        deadline = time.monotonic() + 5
        marked: list[int] = []
        while not marked and time.monotonic() < deadline:  # until env has exec'd sleep with the mark
            marked = [p for p in ns.pids("sleep 30") if p in pipenet_processes()]
            time.sleep(0.05)
        [pid] = marked  # in the namespace, and the session's stray check would see it
    finally:
        ns.close()
    assert inside.wait(timeout=10) != 0  # killed
    assert pid not in pipenet_processes()
    assert outside.poll() is None  # a process outside the namespace is untouched
    outside.kill()
    outside.wait()


def _lived_in(netns) -> None:
    """The foreign objects every test world holds, each as the other tool made it."""
    assert FOREIGN_NETNS in [l.split()[0] for l in netns.out(["ip", "netns", "list"]).splitlines()]
    assert netns.out(["stat", "-c", "%U:%G %a", "/etc/netns", f"/etc/netns/{FOREIGN_NETNS}"]).split() == \
        ["root:root", "755"] * 2
    for name, text in FOREIGN_ETC.items():
        assert netns.out(["cat", f"/etc/netns/{FOREIGN_NETNS}/{name}"]) == text
    # `ip netns exec` gives the other tool's namespace its files, as that tool expects
    assert netns.out(["ip", "netns", "exec", FOREIGN_NETNS, "cat", "/etc/resolv.conf"]) == FOREIGN_ETC["resolv.conf"]
    for br, addr in FOREIGN_BRIDGES.items():
        out = netns.out(["ip", "-o", "-4", "addr", "show", "dev", br])
        assert f"inet {addr} " in out, out
        assert "UP" in netns.out(["ip", "-o", "link", "show", "dev", br]).split("<")[1].split(">")[0].split(",")
    for tool, rules in (("iptables-save", DOCKER_RULES), ("ip6tables-save", DOCKER6_RULES)):
        saved = netns.out([tool])
        for line in rules.splitlines():
            if line.startswith("-A "):
                assert line in saved.splitlines(), (tool, line)
    saved = netns.out(["iptables-save"])
    # the jumps Docker installs, in Docker's order
    forward = [l for l in saved.splitlines() if l.startswith("-A FORWARD ")]
    assert forward[-6:][:2] == ["-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1"]


def test_every_test_world_is_lived_in(netns):
    """A fresh test world already holds another tool's namespace and /etc/netns files, foreign
    bridges with addresses and Docker's iptables chains (see tests/harness.py)."""
    _lived_in(netns)
    assert netns.out(["iptables", "-S", "DOCKER-USER"]).splitlines() == ["-N DOCKER-USER", "-A DOCKER-USER -j RETURN"]
    assert "MASQUERADE" in netns.out(["iptables", "-t", "nat", "-S", "POSTROUTING"])


def test_the_lived_in_objects_survive_a_topology_going_up_and_down(netns, tmp_path):
    """pipenet's up and down leave every foreign object exactly as it was: a topology that uses the
    same tables (NAT, published ports, icc off), the filter chains Docker hooks into, /etc/netns, and
    a container attached to the other tool's namespace."""
    before = snapshot.take(netns.runner)
    path = tmp_path / "neighbours.pn"
    path.write_text(textwrap.dedent(f"""
        topology neighbours
        bridge docker0 {{ address 172.17.42.1/16; icc off }}
        container web {{ net docker0; expose 80; publish 8080:80 }}
        container db {{ net docker0; expose 5432 }}
        container app {{ net docker0; link db }}
        container guest {{ attach netns /run/netns/{FOREIGN_NETNS}; net docker0 }}
        expect app can reach db:5432/tcp
    """))
    r = netns.pipenet("up", str(path))
    assert r.returncode == 0, r.stderr
    _lived_in(netns)
    during = snapshot.take(netns.runner)
    assert during["iptables"] != before["iptables"] and during["links"] != before["links"]  # pipenet's are there
    assert netns.pipenet("down", "neighbours").returncode == 0
    _lived_in(netns)
    assert snapshot.diff(before, snapshot.take(netns.runner)) == []
    # what the other tool's namespace had is what it has: lo only, none of pipenet's interfaces
    links = netns.out(["ip", "-n", FOREIGN_NETNS, "-o", "link"]).splitlines()
    assert [l.split(":")[1].strip() for l in links] == ["lo"]


def test_nothing_of_the_lived_in_world_changes_by_itself(netns):
    """Snapshots can compare at any time: no foreign object changes on its own after it is made
    (no carrier reaching a bridge late, no IPv6 duplicate address detection finishing later)."""
    import time

    first = snapshot.take(netns.runner)
    time.sleep(1.5)
    assert snapshot.diff(first, snapshot.take(netns.runner)) == []


def test_a_test_world_has_an_etc_netns_of_its_own():
    """Whatever the machine's /etc/netns holds, a world starts with only the lived-in files (a world
    made inside a world stands for a machine whose /etc/netns has other entries), with no mount
    below /etc, and writes in it never reach the machine."""
    outer = Netns()
    try:
        outer.run(["mkdir", "-p", "/etc/netns/machine-only"])
        # a world started from inside the outer one
        holder = subprocess.Popen(outer.argv([sys.executable, "-m", "pipenet.sandbox.holder", "--stdin"]),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = holder.stdout.readline().split()
            assert line[0] == "ready", line
            inside = ["nsenter", f"--target={line[1]}", "--mount", "--"]
            r = subprocess.run(inside + ["ls", "-A", "/etc/netns"], capture_output=True, text=True)
            assert r.returncode == 0 and r.stdout.split() == []
            mounts = subprocess.run(inside + ["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                                    text=True).stdout.split()
            below_etc = lambda ms: sorted(m for m in ms if m.startswith("/etc/"))  # noqa: E731
            assert "/etc" in mounts  # the overlay, and nothing the holder mounted below it
            assert below_etc(mounts) == below_etc(outer.out(["findmnt", "-rn", "-o", "TARGET"]).split())
            subprocess.run(inside + ["mkdir", "/etc/netns/inner-only"], check=True)
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
            if len(line) > 2:
                from pipenet.fsutil import remove_tree

                remove_tree(line[2])
        assert sorted(outer.out(["ls", "-A", "/etc/netns"]).split()) == sorted([FOREIGN_NETNS, "machine-only"])
    finally:
        outer.close()


def test_the_snapshot_sees_any_change_to_a_foreign_object(netns):
    """The "exactly as before" checks can fail on the lived-in objects: a file's content (same size),
    a Docker rule, a foreign address, each noticed."""
    before = snapshot.take(netns.runner)
    hosts = f"/etc/netns/{FOREIGN_NETNS}/hosts"
    netns.run(["tee", hosts], input=FOREIGN_ETC["hosts"].replace("192.168.77.10", "192.168.77.11"))
    netns.run(["iptables", "-D", "DOCKER-USER", "-j", "RETURN"])
    netns.run(["ip", "addr", "flush", "dev", "br-foreign"])
    changed = {line.split(":")[0] for line in snapshot.diff(before, snapshot.take(netns.runner))}
    assert {"/etc/netns", "iptables", "nft", "addresses", "routes"} <= changed
