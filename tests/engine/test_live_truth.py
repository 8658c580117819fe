"""Live truth: `status`, `plan` and `up` compare with the live system, and `up` heals drift.

For each kind of object pipenet makes, the test changes or removes it on the
live system by hand, the way a person would (`ip`, `iptables`, `tc`, `kill`,
an editor), then checks that `status` names it (exit 1), `plan` shows the
repair, marked, `up` repairs it, `status` is clean again, and nothing else
changed: a snapshot of every namespace, file and process equals the one
taken before the change (untouched namespaces keep their inode).
"""

from __future__ import annotations

import json
import signal
import textwrap
import time

import pytest

from tests import snapshot

DRIFT = textwrap.dedent("""
    topology drift
    bridge br0 { address 10.44.0.1/24 }
    container web {
        net br0
        expose 80
        publish 8044:80
        run "python3 -m pipenet.services http 80"
        sysctl net.ipv4.conf.all.rp_filter 0
    }
    container r { net none; forwarding on; masquerade out eth1 }
    container v6 { net none; route default via fd00:45::1 }
    p2p web:eth1 10.45.0.1/24 -- r:eth1 10.45.0.2/24 { rate 8mbit }
    p2p r:eth2 fd00:45::1/64 -- v6:eth0 fd00:45::2/64
    host { sysctl net.ipv4.conf.all.rp_filter 2 }
""")


def port_of(netns, node: str) -> str:
    """The host end of a container's bridge port (found by pipenet's mark on it)."""
    for line in netns.out(["ip", "-o", "link", "show", "master", "br0"]).splitlines():
        if f"alias pipenet:drift:link:host:" in line and f"drift@{node}" in line:
            return line.split(":")[1].strip().split("@")[0]
    raise AssertionError(f"no port of {node}")


def http_pid(netns) -> str:
    return str(netns.pids("pipenet.services http 80")[0])


# (what is done by hand, the drift state, a word the detail must contain, the plan's mark, what may differ)
CASES = {
    "route deleted": (["ip", "-n", "drift@web", "route", "del", "default"], "missing", "route default", "+", ()),
    "route changed": (["ip", "-n", "drift@v6", "route", "replace", "default", "via", "fd00:45::3", "proto", "112"],
                      "changed", "route default", "~", ()),
    "address deleted": (["ip", "-n", "drift@web", "addr", "del", "10.44.0.2/24", "dev", "eth0"], "missing",
                        "10.44.0.2/24", "+", ()),
    "mtu changed": (["ip", "-n", "drift@web", "link", "set", "eth0", "mtu", "1400"], "changed", "mtu 1400", "~", ()),
    "link set down": (["ip", "-n", "drift@r", "link", "set", "eth1", "down"], "changed", "down", "~", ()),
    "mac changed": (["ip", "-n", "drift@r", "link", "set", "eth2", "address", "02:00:00:00:00:99"], "changed",
                    "mac 02:00:00:00:00:99", "~", ()),
    "veth deleted": ("PORT web", "missing", "veth", "+", ()),
    "bridge deleted": (["ip", "link", "del", "br0"], "missing", "bridge br0", "+", ()),
    "host nat chain flushed": (["iptables", "-t", "nat", "-F", "PN-drift-POST"], "changed", "PN-drift-POST", "~", ()),
    "host jump deleted": (["iptables", "-t", "filter", "-D", "FORWARD", "-m", "comment", "--comment", "pipenet:drift",
                           "-j", "PN-drift-FWD"], "changed", "jump from FORWARD", "~", ()),
    "container rule deleted": (["ip", "netns", "exec", "drift@r", "iptables", "-t", "nat", "-F", "PN-drift-POST"],
                               "changed", "PN-drift-POST", "~", ()),
    "process killed": ("KILL", "missing", "process", "+", ("processes",)),
    "etc file edited": (["sh", "-c", "echo '10.9.9.9 intruder' >> /etc/netns/drift@web/hosts"], "changed",
                        "hosts", "~", ("processes",)),
    "etc file deleted": (["rm", "/etc/netns/drift@web/resolv.conf"], "changed", "resolv.conf", "~", ("processes",)),
    "container sysctl changed": (["ip", "netns", "exec", "drift@r", "sysctl", "-w", "net.ipv4.ip_forward=0"],
                                 "changed", "ip_forward", "~", ()),
    "host setting changed": (["sysctl", "-w", "net.ipv4.conf.all.rp_filter=1"], "changed", "rp_filter", "~", ()),
    "shaping deleted": (["ip", "netns", "exec", "drift@web", "tc", "qdisc", "del", "dev", "eth1", "root"], "missing",
                        "shaping", "+", ()),
    "shaping changed": (["ip", "netns", "exec", "drift@web", "tc", "qdisc", "replace", "dev", "eth1", "root", "tbf",
                         "rate", "1mbit", "burst", "16k", "latency", "50ms"], "changed", "rate 1000000bit", "~", ()),
    "namespace deleted": (["ip", "netns", "del", "drift@r"], "missing", "namespace drift@r", "+", ("ns drift@r",)),
}


def _drift(netns, action) -> None:
    if action == "KILL":
        netns.run(["kill", "-KILL", http_pid(netns)])
        time.sleep(0.2)
    elif isinstance(action, str) and action.startswith("PORT "):
        netns.run(["ip", "link", "del", port_of(netns, action.split()[1])])
    else:
        netns.run(action)


def _settle(netns, world: dict, allowed: tuple) -> dict:
    """A world snapshot without what the case may legitimately change (a restarted process's pid, a
    namespace made again has a new inode)."""
    out = dict(world)
    if "processes" in allowed:
        out["processes"] = sorted(out["processes"].values())
    else:
        out["processes"] = sorted(out["processes"].items())
    for key in allowed:
        if key.startswith("ns ") and key in out:
            out[key] = {k: v for k, v in out[key].items() if k != "inode"}
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_drift_is_reported_planned_repaired_and_nothing_else_changes(netns, tmp_path, case):
    action, state, word, sign, allowed = CASES[case]
    path = tmp_path / "drift.pn"
    path.write_text(DRIFT)
    netns.run(["sysctl", "-w", "net.ipv4.conf.all.rp_filter=1"])
    r = netns.pipenet("up", str(path))
    assert r.returncode == 0, r.stderr
    assert netns.pipenet("status", "drift").returncode == 0  # clean right after up (IPv6 routes included)
    for _ in range(50):  # the http server is listening before the snapshot
        if netns.pipenet("exec", "web", "--", "python3", "-c", "import socket; socket.create_connection(("
                         "'127.0.0.1', 80), 1)").returncode == 0:
            break
        time.sleep(0.1)
    before = snapshot.world(netns)

    _drift(netns, action)
    r = netns.pipenet("status", "drift", "--json")
    assert r.returncode == 1, r.stdout
    items = json.loads(r.stdout)["drift"]
    assert any(i["state"] == state and word in i["detail"] for i in items), items
    assert all(set(i) >= {"kind", "node", "object", "expected", "actual"} for i in items)
    plan = netns.pipenet("plan", str(path))
    assert plan.returncode == 0, plan.stderr
    marked = [l for l in plan.stdout.splitlines() if f" {sign} " in l and (
        "(missing" in l or "(changed" in l or "made again" in l)]
    assert marked, plan.stdout
    up = netns.pipenet("up", str(path))
    assert up.returncode == 0, up.stderr
    assert netns.pipenet("status", "drift").returncode == 0
    assert json.loads(netns.pipenet("plan", str(path), "--format", "json").stdout)["empty"]
    for _ in range(50):
        if netns.pids("pipenet.services http 80"):
            break
        time.sleep(0.1)
    after = snapshot.world(netns)
    assert _settle(netns, after, allowed) == _settle(netns, before, allowed), \
        snapshot.diff(_settle(netns, before, allowed), _settle(netns, after, allowed))
    assert netns.pipenet("down", "drift").returncode == 0


def test_the_unchanged_file_fast_path_sees_drift_too(netns, tmp_path):
    """`up` of an unchanged file is answered from a digest only when the live system is as recorded."""
    path = tmp_path / "drift.pn"
    path.write_text(DRIFT)
    assert netns.pipenet("up", str(path)).returncode == 0
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    netns.run(["ip", "-n", "drift@web", "route", "del", "default"])
    plan = netns.pipenet("plan", str(path))
    assert "+ ip -n drift@web route add default via 10.44.0.1" in plan.stdout and "(missing" in plan.stdout
    r = netns.pipenet("up", str(path))
    assert r.returncode == 0 and "nothing to change" not in r.stderr
    assert "default via 10.44.0.1" in netns.pipenet("exec", "web", "--", "ip", "route").stdout
    assert netns.pipenet("down", "drift").returncode == 0


def test_what_pipenet_does_not_own_is_never_drift_nor_touched(netns, tmp_path):
    path = tmp_path / "drift.pn"
    path.write_text(DRIFT)
    assert netns.pipenet("up", str(path)).returncode == 0
    # a foreign rule in the host's FORWARD chain, a foreign interface inside a container, a foreign route
    netns.run(["iptables", "-I", "FORWARD", "1", "-s", "198.51.100.7", "-j", "DROP"])
    netns.run(["ip", "-n", "drift@web", "link", "add", "name", "extra0", "type", "veth", "peer", "name", "extra1"])
    netns.run(["ip", "-n", "drift@web", "route", "add", "198.51.100.0/24", "dev", "eth1"])
    assert netns.pipenet("status", "drift").returncode == 0
    assert json.loads(netns.pipenet("plan", str(path), "--format", "json").stdout)["empty"]
    assert netns.pipenet("up", str(path)).returncode == 0
    assert "extra0" in netns.pipenet("exec", "web", "--", "ip", "-o", "link").stdout
    assert "198.51.100.0/24" in netns.pipenet("exec", "web", "--", "ip", "route").stdout
    assert netns.pipenet("down", "drift").returncode == 0
    assert "-A FORWARD -s 198.51.100.7/32 -j DROP" in netns.out(["iptables-save", "-t", "filter"])
    netns.run(["iptables", "-D", "FORWARD", "-s", "198.51.100.7", "-j", "DROP"])


def test_a_foreign_object_holding_a_needed_name_is_one_line_and_nothing_changes(netns, tmp_path):
    path = tmp_path / "drift.pn"
    path.write_text(DRIFT)
    assert netns.pipenet("up", str(path)).returncode == 0
    port = port_of(netns, "web")
    netns.run(["ip", "link", "del", port])
    netns.run(["ip", "link", "add", "name", port, "type", "veth", "peer", "name", "imposter"])
    before = snapshot.settled_world(netns)
    for command in ("plan", "up"):
        r = netns.pipenet(command, str(path))
        assert r.returncode == 1, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"an interface named {port} already exists in the host and pipenet did not " \
                                   f"make it" in lines[0], r.stderr
        assert snapshot.world(netns) == before
    r = netns.pipenet("status", "drift", "--json")
    assert r.returncode == 1 and any(i["state"] == "foreign" for i in json.loads(r.stdout)["drift"])
    # down leaves the imposter alone, and removes the rest
    assert netns.pipenet("down", "drift").returncode == 0
    assert port in netns.out(["ip", "-o", "link"])
    netns.run(["ip", "link", "del", port])


def test_down_deletes_only_the_namespaces_that_still_carry_its_mark(netns, tmp_path):
    """`down` reads a namespace's loopback mark, not its inside, before deleting it: a namespace made
    again by someone else under pipenet's name, and one of pipenet's whose mark was changed, stay (with
    what is in them); the rest of the topology goes."""
    path = tmp_path / "drift.pn"
    path.write_text(DRIFT)
    assert netns.pipenet("up", str(path)).returncode == 0
    netns.run(["ip", "netns", "del", "drift@v6"])
    netns.run(["ip", "netns", "add", "drift@v6"])  # an admin's, under the same name
    netns.run(["ip", "-n", "drift@v6", "addr", "add", "10.45.0.9/32", "dev", "lo"])
    netns.run(["ip", "-n", "drift@r", "link", "set", "lo", "alias", "someone else's"])
    inodes = {n: netns.out(["stat", "-L", "-c", "%i", f"/run/netns/drift@{n}"]) for n in ("r", "v6")}
    assert netns.pipenet("down", "drift").returncode == 0
    assert {n: netns.out(["stat", "-L", "-c", "%i", f"/run/netns/drift@{n}"]) for n in ("r", "v6")} == inodes
    assert "10.45.0.9/32" in netns.out(["ip", "-n", "drift@v6", "-o", "addr", "show", "dev", "lo"])
    assert "PN-drift-POST" in netns.out(["ip", "netns", "exec", "drift@r", "iptables", "-t", "nat", "-S"])
    assert "drift@web" not in netns.out(["ip", "netns", "list"])
    assert "br0" not in netns.out(["ip", "-o", "link"])
    for n in ("r", "v6"):
        netns.run(["ip", "netns", "del", f"drift@{n}"])


@pytest.mark.parametrize("form,line", [
    ("container x { attach pid 999999 }", "x attaches to /proc/999999/ns/net, which does not exist"),
    ("container x { interface mv0 macvlan of host:eth77 }", "x:mv0 is a macvlan of host:eth77, which does not exist"),
    ("bridge gone { external }\ncontainer x { net gone }", "bridge gone is declared external but does not exist"),
])
def test_preconditions_refuse_plan_and_up_alike(netns, tmp_path, form, line):
    path = tmp_path / "pre.pn"
    path.write_text(f"topology pre\n{form}\n")
    before = snapshot.world(netns)
    for command in ("plan", "up"):
        r = netns.pipenet(command, str(path))
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1 and line in lines[0], (command, r.stderr)
        assert snapshot.world(netns) == before
    assert netns.run(["ls", "/run/pipenet/pre"], check=False).returncode != 0


def test_a_fault_at_every_step_of_a_repair_plan_leaves_the_drifted_system(netns, tmp_path):
    path = tmp_path / "drift.pn"
    path.write_text(DRIFT)
    assert netns.pipenet("up", str(path)).returncode == 0
    for action in (CASES["route deleted"][0], CASES["mtu changed"][0], CASES["host nat chain flushed"][0],
                   CASES["etc file edited"][0], CASES["container sysctl changed"][0], CASES["shaping changed"][0],
                   CASES["route changed"][0], CASES["bridge deleted"][0]):
        _drift(netns, action)
    plan = json.loads(netns.pipenet("plan", str(path), "--format", "json").stdout)
    total = len(plan["steps"])
    assert total >= 8 and {s["action"] for s in plan["steps"]} >= {"apply", "repair", "remove"}
    drifted = snapshot.settled_world(netns)
    for n in range(1, total + 1):
        r = netns.faultrun("up", str(path), fail_step=n)
        assert r.returncode == 2 and f"step {n} of {total} failed" in r.stderr, (n, r.stderr)
        now = snapshot.world(netns)
        # a process the rollback started again has a new pid; everything else is exactly as it was
        assert _settle(netns, now, ("processes",)) == _settle(netns, drifted, ("processes",)), \
            (n, snapshot.diff(drifted, now))
    assert netns.pipenet("up", str(path)).returncode == 0
    assert netns.pipenet("status", "drift").returncode == 0
    assert netns.pipenet("down", "drift").returncode == 0
