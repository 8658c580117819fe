"""The no-op's read of the host's links (`backends.hostlinks`, `Kernel.read_host_links`): the bridges in
full, the bridge ports from the bridges' own dump (AF_BRIDGE), and of each port what that dump does not
send (alias, group) from the last full read, for the port with the same name and index only.

On the real kernel, in a world that holds a foreign bridge with an address and a foreign port: every port
reads exactly as the full link dump reads it; anything else asked for (the loopback, the foreign
bridge's port, an interface by the index of an address) is read from the kernel as it is asked; a walk
over every link reads them all; and an interface that took a port's name (the port renamed away) is not
taken for the port. Through the CLI: with the ports kept in verified.json, drift on a port's host end
(off its bridge, down, another MTU, another interface under its name) is still seen, planned and
repaired, or refused. And a namespace read just after `open_many` opened it is not looked up again.
"""

from __future__ import annotations

import json
import sys
import textwrap

LAB = textwrap.dedent("""
    topology hl
    bridge br0 { address 10.72.0.1/24 }
    bridge br1 { address 10.73.0.1/24; mtu 1400 }
    for i in 1..3 { container a${i} { net br0 } }
    for i in 1..2 { container b${i} { net br1 } }
""")

DRIVER = textwrap.dedent("""
    import json, subprocess, sys
    from pipenet.backends.hostlinks import HostLinks, identities
    from pipenet.backends.kernel import Kernel

    def ip(*argv):
        return subprocess.run(["ip", *argv], check=True, capture_output=True, text=True).stdout

    # a foreign bridge with an address and a port of its own, beside the lab's
    ip("link", "add", "name", "fbr0", "type", "bridge")
    ip("addr", "add", "10.74.0.1/24", "dev", "fbr0")
    ip("link", "add", "name", "fport0", "type", "veth", "peer", "name", "fport1")
    ip("link", "set", "dev", "fport0", "master", "fbr0", "up")
    ip("link", "set", "dev", "fbr0", "up")
    k = Kernel()
    full = k.read_links("").links
    known = identities(full)
    out = {"known": sorted(known), "ports": sorted(n for n, l in full.items() if l.master),
           "bridges": sorted(n for n, l in full.items() if l.kind == "bridge")}
    view = k.read_host_links(known)
    quick = view.links
    held = quick.held()
    out["held"] = sorted(held)
    out["same"] = sorted(n for n in held if held[n] == full[n])
    out["lo"] = quick.get("lo") == full["lo"] and "lo" in quick
    out["absent"] = quick.get("nosuch0") is None and "nosuch0" not in quick
    out["fetched"] = sorted(n for n in quick.held() if n not in held)
    with_addrs = k.read_namespace("", view)
    every = k.read_namespace("")
    out["addresses"] = sorted(map(tuple, with_addrs.addresses)) == sorted(map(tuple, every.addresses))
    out["routes"] = sorted(map(tuple, with_addrs.routes)) == sorted(map(tuple, every.routes))
    out["walk"] = dict(quick.items()) == dict(full) and quick.whole

    # another interface under a port's name (the port renamed away): not taken for the port
    port = sorted(n for n in known if full[n].master == "br0")[0]
    ip("link", "set", "dev", port, "down")
    ip("link", "set", "dev", port, "name", "moved0")
    ip("link", "add", "name", port, "type", "veth", "peer", "name", "other1")
    ip("link", "set", "dev", port, "master", "br0", "up")
    again = Kernel().read_host_links(known).links
    taken = again.get(port)
    out["taken"] = [taken.index != known[port][0], taken.alias, taken.kind, taken.master]
    out["moved"] = again.get("moved0").alias == known[port][1]
    print(json.dumps(out))
""")


def test_the_ports_read_from_the_bridges_dump_are_the_ports_of_the_full_read(netns, tmp_path):
    path = tmp_path / "hl.pn"
    path.write_text(LAB)
    assert netns.pipenet("up", str(path)).returncode == 0
    r = netns.run([sys.executable, "-c", DRIVER], check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.splitlines()[-1])
    # every veth port is known (the foreign one too: its mark is what it is), and read from the bridges'
    # dump exactly as the full read has it, with the bridges
    assert len(got["known"]) == 6 and "fport0" in got["known"] and set(got["known"]) <= set(got["ports"])
    assert {"br0", "br1", "fbr0", "br-foreign"} <= set(got["bridges"])  # (the world's own bridges among them)
    assert set(got["held"]) == set(got["known"]) | set(got["bridges"])
    assert got["same"] == got["held"]
    assert got["lo"] and got["absent"]
    assert got["addresses"] and got["routes"] and got["walk"]
    assert got["taken"] == [True, None, "veth", "br0"]  # (read in full: no mark, not the port's)
    assert got["moved"]
    assert netns.pipenet("down", "hl").returncode == 0


def _host_end(netns, node: str) -> str:
    peer = netns.out(["ip", "-n", f"hl@{node}", "-o", "link", "show", "eth0"]).split(":")[1].split("@if")[1]
    line = [x for x in netns.out(["ip", "-o", "link", "show"]).splitlines() if x.startswith(f"{peer}:")][0]
    return line.split(":")[1].strip().split("@")[0]


USED = textwrap.dedent("""
    import json
    from pipenet.backends.hostlinks import HostLinks
    from pipenet.backends.kernel import Kernel
    from pipenet.engine import verified
    from pipenet.engine.live import LiveView, all_live
    from pipenet.engine.state import StateDir

    state = StateDir("hl")
    record = state.load()
    memo, ports = verified.load_both(state, record)
    view = LiveView(Kernel(), memo, ports)
    ok = all_live(record["ops"], view, state)
    links = view.links("").links
    print(json.dumps({"ports": len(ports), "ok": ok, "in part": isinstance(links, HostLinks) and not links.whole}))
""")


def test_drift_on_a_host_end_is_seen_with_the_ports_kept(netns, tmp_path):
    path = tmp_path / "hl.pn"
    path.write_text(LAB)
    assert netns.pipenet("up", str(path)).returncode == 0
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr  # (the full check: keeps the ports)
    r = netns.run([sys.executable, "-c", USED], check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    # the ports come back from verified.json, and the check reads the host in part with them
    assert json.loads(r.stdout.splitlines()[-1]) == {"ports": 5, "ok": True, "in part": True}
    kept = json.loads(netns.out(["cat", "/run/pipenet/hl/verified.json"]))
    assert len(kept["ports"]) == 5
    assert all(len(p) == 9 and p[1].startswith("pipenet") and p[6] in ("br0", "br1") for p in kept["ports"].values())
    for node, action, repair in (
            ("a1", ["nomaster"], "master br0"),
            ("a2", ["down"], "up"),
            ("b1", ["mtu", "1500"], "mtu 1400")):
        assert "nothing to change" in netns.pipenet("up", str(path)).stderr  # (the ports read from the memo)
        end = _host_end(netns, node)
        netns.run(["ip", "link", "set", "dev", end, *action])
        plan = netns.pipenet("plan", str(path))
        assert plan.returncode == 0 and f"ip link set dev {end}" in plan.stdout and repair in plan.stdout, plan.stdout
        up = netns.pipenet("up", str(path))
        assert up.returncode == 0 and "nothing to change" not in up.stderr, up.stderr
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    # another interface under a port's host end's name: not the port (its mark is not there)
    end = _host_end(netns, "a3")
    netns.run(["ip", "link", "set", "dev", end, "down"])
    netns.run(["ip", "link", "set", "dev", end, "name", "moved0"])
    netns.run(["ip", "link", "add", "name", end, "type", "veth", "peer", "name", "other1"])
    netns.run(["ip", "link", "set", "dev", end, "master", "br0", "up"])
    again = netns.pipenet("up", str(path))
    assert "nothing to change" not in again.stderr, again.stderr
    assert f"an interface named {end} already exists in the host and pipenet did not make it" in again.stderr
    netns.run(["ip", "link", "del", "dev", end])
    netns.run(["ip", "link", "set", "dev", "moved0", "name", end])
    netns.run(["ip", "link", "set", "dev", end, "up"])
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    assert netns.pipenet("down", "hl").returncode == 0


JUST_OPENED = textwrap.dedent("""
    import json, os, subprocess
    from pipenet.backends import netns as N
    from pipenet.backends.kernel import Kernel

    for n in ("jo1", "jo2"):
        subprocess.run(["ip", "netns", "add", n], check=True)
    looks = []
    real_stat = os.stat

    def counted(path, *a, **kw):
        if str(path).startswith("/run/netns/jo"):
            looks.append(str(path))
        return real_stat(path, *a, **kw)

    N.os.stat = counted
    k = Kernel()
    k.open_namespaces(["jo1", "jo2"])
    first = k.read_raw("jo1")
    out = {"first": len(looks)}
    again = k.read_raw("jo1")
    out["again"] = len(looks)
    out["same"] = first.digest == again.digest and first.inode == again.inode
    old = k.ns.handles["jo2"].inode
    subprocess.run(["ip", "netns", "delete", "jo2"], check=True)
    subprocess.run(["ip", "netns", "add", "jo2"], check=True)
    out["opened"] = k.read_raw("jo2").inode == old  # (the one at the path when it was opened)
    out["now"] = k.read_raw("jo2").inode != old  # (the next read looks at the path: the new one)
    k.close()
    for n in ("jo1", "jo2"):
        subprocess.run(["ip", "netns", "delete", n], check=True)
    print(json.dumps(out))
""")


def test_a_namespace_read_just_after_it_is_opened_is_not_looked_up_again(netns):
    """`Namespaces.just_opened`: the no-op's read of a namespace that `open_many` opened a moment before
    takes the namespace it opened (one stat of its path fewer, 4,000 at 4,000 containers); any later read
    looks at the path again, and sees a namespace made anew there."""
    r = netns.run([sys.executable, "-c", JUST_OPENED], check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.splitlines()[-1])
    assert got == {"first": 0, "again": 1, "same": True, "opened": True, "now": True}


def test_host_links_answer_as_the_dict_of_a_full_read():
    """`HostLinks` (no kernel: its readers are counted): what is held answers at once; another name is
    read once, by name (a name no interface can have is not asked at all, nor is one the kernel finds
    by an alternative name taken for it); a walk, a comparison or a copy reads everything first."""
    import pickle

    from pipenet.backends.hostlinks import HostLinks, compose, identities
    from pipenet.backends.objects import Link

    every = {"lo": Link("lo", 1, None, up=True), "br0": Link("br0", 2, "bridge", up=True),
             "p1": Link("p1", 3, "veth", "0a:00:00:00:00:03", 1500, True, "br0", "mark-1", 0, 2, False),
             "p2": Link("p2", 4, "veth", "0a:00:00:00:00:04", 1500, True, "br0", "mark-2", 0, 2, False),
             "eth0": Link("eth0", 5, None, up=True)}
    asked: list = []

    def by_name(name):
        asked.append(name)
        return every.get("p2") if name == "alt-p2" else every.get(name)

    def by_index(i):
        asked.append(i)
        return next((link for link in every.values() if link.index == i), None)

    known = identities(every)
    assert set(known) == {"p1", "p2"}
    rows = [("p1", 3, "0a:00:00:00:00:03", 1500, True, 2, 2, False), ("p2", 9, "0a:00:00:00:00:04", 1500, True, 2, 2,
                                                                       False)]
    held = compose([every["br0"]], rows, known)
    assert held == {"br0": every["br0"], "p1": every["p1"]}  # (p2's index is not the one kept: not taken)
    links = HostLinks(held, by_name, by_index, lambda: dict(every))
    assert links.get("p1") == every["p1"] and asked == []
    assert links.get("p2") == every["p2"] and "p2" in links and asked == ["p2"]
    assert links.get("nosuch") is None and "nosuch" not in links and asked == ["p2", "nosuch"]
    for never in (None, 7, "", "x" * 16):
        assert links.get(never) is None and never not in links
    assert links.get("alt-p2") is None and asked[-1] == "alt-p2"  # (found by another name: not it)
    assert links.names_of([2, 5, 0, None]) == {2: "br0", 3: "p1", 4: "p2", 5: "eth0"} and asked[-1] == 5
    assert not links.whole and links.held_link("lo") is None
    assert pickle.loads(pickle.dumps(links)) == every and links.whole  # (sent whole)
    fresh = HostLinks(held, by_name, by_index, lambda: dict(every))
    assert fresh == every and fresh.whole and fresh.copy() == every and len(fresh) == len(every)
    assert sorted(HostLinks(held, by_name, by_index, lambda: dict(every))) == sorted(every)
