"""Attacks on ownership and on the state: each one an attempt, as a stranger would make it, to have
pipenet touch what is not its own or lose track of what is; each checked with a full snapshot of the
test world (a lived-in machine: another tool's /etc/netns, Docker's chains, a foreign bridge).

docs/reliability.md lists them, with what each proves.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests import snapshot

SMALL = textwrap.dedent("""
    topology kb
    bridge kbr { address 10.66.0.1/24 }
    container a { net kbr; run "python3 -m pipenet.services listen 7001" }
    container b { net kbr; address 10.66.0.50 }
    p2p a:eth1 10.67.0.1/30 -- b:eth1 10.67.0.2/30
""")


def write(tmp_path, name, text) -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def one_line(r) -> str:
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def world(netns) -> dict:
    snap = snapshot.settled_world(netns)
    snap["state"] = sorted(netns.runner(["find", "/run/pipenet"]).split())
    return snap


def quick(netns) -> dict:
    """What a crash could leave behind, in a few commands (the sweeps below take it a hundred times and
    the full `world` at their start and end): interfaces, namespaces, /etc/netns, firewall, forwarding,
    processes, state."""
    return {"links": netns.runner(["ip", "-o", "link"]).count("\n"),
            "link names": sorted(l.split(":")[1].strip().split("@")[0]
                                 for l in netns.runner(["ip", "-o", "link"]).splitlines()),
            "/run/netns": sorted(netns.runner(["ls", "/run/netns"]).split()),
            "/etc/netns": sorted(netns.runner(["find", "/etc/netns"]).split()),
            "iptables": [l for l in netns.runner(["iptables-save"]).splitlines() if not l.startswith("#")
                         and not l.startswith(":")],
            "forwarding": netns.runner(["cat", "/proc/sys/net/ipv4/ip_forward"]),
            "processes": netns.pids("pipenet.services"),
            "state": sorted(netns.runner(["find", "/run/pipenet"]).split())}


def plan_steps(netns, path) -> list[dict]:
    return json.loads(netns.pipenet("plan", path, "--format", "json").stdout)["steps"]


def step_of(netns, path, key: str, action: str = "apply") -> int:
    return next(s["n"] for s in plan_steps(netns, path) if s["key"] == key and s["action"] == action)


# ---- what is not pipenet's is never taken ----------------------------------------------------------------
def test_a_foreign_chain_with_pipenets_name_is_refused_and_never_flushed(netns, tmp_path):
    netns.run(["iptables", "-N", "PN-own1-FWD"])
    netns.run(["iptables", "-A", "PN-own1-FWD", "-s", "203.0.113.9", "-j", "DROP"])
    path = write(tmp_path, "own1.pn", "topology own1\nbridge ob { address 10.68.0.1/24 }\ncontainer c { net ob }\n")
    before = world(netns)
    line = one_line(netns.pipenet("up", path))
    assert "a chain named PN-own1-FWD exists in the filter table of the host and pipenet did not make it" in line
    assert world(netns) == before
    assert netns.pipenet("down", "own1").returncode == 0
    assert "-A PN-own1-FWD -s 203.0.113.9/32 -j DROP" in netns.out(["iptables-save", "-t", "filter"])


def test_two_long_names_never_share_chains(netns, tmp_path):
    one = write(tmp_path, "one.pn", "topology longtopologyname_alpha_one\nbridge l1 { address 10.69.0.1/24 }\n"
                                    "container c { net l1 }\n")
    two = write(tmp_path, "two.pn", "topology longtopolo-7e16ec09\nbridge l2 { address 10.70.0.1/24 }\n"
                                    "container c { net l2 }\n")
    assert netns.pipenet("up", one).returncode == 0
    first = [l for l in netns.out(["iptables-save", "-t", "nat"]).splitlines() if "10.69.0.0/24" in l]
    assert first
    r = netns.pipenet("up", two)
    assert r.returncode == 0, r.stderr
    nat = netns.out(["iptables-save", "-t", "nat"])
    assert all(l in nat for l in first)  # the first one's MASQUERADE is untouched
    assert netns.pipenet("down", "longtopolo-7e16ec09").returncode == 0
    nat = netns.out(["iptables-save", "-t", "nat"])
    assert all(l in nat for l in first) and "10.70.0.0/24" not in nat
    assert netns.pipenet("down", "longtopologyname_alpha_one").returncode == 0


def test_a_bridge_an_admin_makes_after_a_crash_is_never_removed(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    n = step_of(netns, path, "link:host:kbr")
    assert netns.faultrun("up", path, kill_step=n).returncode == -9  # journaled, the kernel untouched
    netns.run(["ip", "link", "add", "name", "kbr", "type", "bridge"])  # the admin's
    assert netns.pipenet("down", "kb").returncode == 0
    assert "kbr" in netns.out(["ip", "-o", "link", "show", "kbr"])
    netns.run(["ip", "link", "del", "kbr"])
    assert world(netns) == before


def test_a_namespace_an_admin_makes_after_a_crash_is_never_replaced(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    n = step_of(netns, path, "netns:a")
    assert netns.faultrun("up", path, kill_step=n).returncode == -9
    netns.run(["ip", "netns", "add", "kb@a"])  # the admin's
    inode = netns.out(["stat", "-L", "-c", "%i", "/run/netns/kb@a"])
    r = netns.pipenet("up", path)
    assert r.returncode == 1 and "namespace kb@a exists and pipenet did not make it" in r.stderr, r.stderr
    assert netns.out(["stat", "-L", "-c", "%i", "/run/netns/kb@a"]) == inode
    assert netns.pipenet("down", "kb").returncode == 0
    assert netns.out(["stat", "-L", "-c", "%i", "/run/netns/kb@a"]) == inode
    netns.run(["ip", "netns", "del", "kb@a"])


def test_after_a_killed_down_an_admins_bridge_gains_no_address(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    assert netns.pipenet("up", path).returncode == 0
    record = json.loads(netns.out(["cat", "/run/pipenet/kb/record.json"]))
    down_plan = [o for o in reversed(record["ops"])]  # down removes newest first
    assert down_plan
    r = netns.faultrun("down", "kb", kill_point="stepped")  # killed right after the first removal
    assert r.returncode == -9
    # let whatever is left of kb's bridge go, and an admin makes one of that name
    if "kbr" in netns.runner(["ip", "-o", "link"]):
        netns.run(["ip", "link", "del", "kbr"])
    netns.run(["ip", "link", "add", "name", "kbr", "type", "bridge"])
    assert netns.pipenet("down", "kb").returncode == 0
    assert netns.out(["ip", "-o", "addr", "show", "dev", "kbr"]).strip() == ""
    netns.run(["ip", "link", "del", "kbr"])
    assert world(netns) == before


def test_host_settings_are_held_in_one_ledger_in_any_order(netns, tmp_path):
    key = "net.ipv4.conf.all.rp_filter"
    netns.run(["sysctl", "-w", f"{key}=0"])
    a = write(tmp_path, "a.pn", f"topology la\nhost {{ sysctl {key} 2 }}\n")
    b1 = write(tmp_path, "b1.pn", f"topology lb\nhost {{ sysctl {key} 1 }}\n")
    b2 = write(tmp_path, "b2.pn", f"topology lb\nhost {{ sysctl {key} 2 }}\n")
    value = lambda: netns.out(["sysctl", "-n", key]).strip()  # noqa: E731
    assert netns.pipenet("up", a).returncode == 0 and value() == "2"
    line = one_line(netns.pipenet("up", b1))
    assert f"host setting {key}: topology lb wants 1, but topology la holds it at 2" in line
    assert value() == "2"
    assert netns.pipenet("up", b2).returncode == 0
    assert netns.pipenet("down", "la").returncode == 0 and value() == "2"  # lb still holds it
    assert netns.pipenet("down", "lb").returncode == 0 and value() == "0"  # the original, last one out
    # and the other order
    assert netns.pipenet("up", a).returncode == 0 and netns.pipenet("up", b2).returncode == 0
    assert netns.pipenet("down", "lb").returncode == 0 and value() == "2"
    assert netns.pipenet("down", "la").returncode == 0 and value() == "0"


def test_forwarding_off_is_refused_while_a_gateway_needs_it(netns, tmp_path):
    netns.run(["sysctl", "-w", "net.ipv4.ip_forward=0"])
    gw = write(tmp_path, "gw.pn", "topology gw\nbridge g0 { address 10.71.0.1/24 }\n")
    off = write(tmp_path, "off.pn", "topology off\nhost { forwarding off }\n")
    forward = lambda: netns.out(["sysctl", "-n", "net.ipv4.ip_forward"]).strip()  # noqa: E731
    assert netns.pipenet("up", gw).returncode == 0 and forward() == "1"
    line = one_line(netns.pipenet("up", off))
    assert "net.ipv4.ip_forward: topology off wants 0, but topology gw holds it at 1" in line
    assert forward() == "1"
    assert netns.pipenet("down", "gw").returncode == 0 and forward() == "0"
    netns.run(["sysctl", "-w", "net.ipv4.ip_forward=1"])
    assert netns.pipenet("up", off).returncode == 0 and forward() == "0"  # honoured
    assert netns.pipenet("down", "off").returncode == 0 and forward() == "1"
    both = write(tmp_path, "both.pn", "topology both\nbridge g1 { address 10.72.0.1/24 }\nhost { forwarding off }\n")
    r = netns.pipenet("check", both)
    assert r.returncode == 1 and "host forwarding off contradicts bridge g1" in r.stderr


def test_bridge_netfilter_stays_on_while_an_icc_off_topology_is_up(netns, tmp_path):
    key = "net.bridge.bridge-nf-call-iptables"
    netns.run(["modprobe", "br_netfilter"], check=False)
    if netns.run(["sysctl", "-n", key], check=False).returncode != 0:
        pytest.skip("this kernel has no CONFIG_BRIDGE_NETFILTER (bridge-nf-call-iptables)")
    netns.run(["sysctl", "-w", f"{key}=0"])
    one = write(tmp_path, "i1.pn", "topology i1\nbridge ib1 { address 10.73.0.1/24; icc off }\n")
    two = write(tmp_path, "i2.pn", "topology i2\nbridge ib2 { address 10.74.0.1/24; icc off }\n")
    value = lambda: netns.out(["sysctl", "-n", key]).strip()  # noqa: E731
    assert netns.pipenet("up", one).returncode == 0 and netns.pipenet("up", two).returncode == 0
    assert value() == "1"
    assert netns.pipenet("down", "i1").returncode == 0 and value() == "1"  # i2's isolation holds
    assert netns.pipenet("down", "i2").returncode == 0 and value() == "0"


def test_a_relative_state_dir_is_refused(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    r = netns.run([sys.executable, "-m", "pipenet", "up", path], check=False,
                  env=dict(os.environ, PIPENET_STATE_DIR="relative/state"))
    assert r.returncode == 1 and "PIPENET_STATE_DIR must be an absolute path" in one_line(r)


def test_a_shared_state_dir_is_never_chmodded(netns, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    path = write(tmp_path, "kb.pn", SMALL)
    env = dict(os.environ, PIPENET_STATE_DIR=str(shared))
    run = lambda *a: netns.run([sys.executable, "-m", "pipenet", *a], check=False, env=env)  # noqa: E731
    assert run("up", path).returncode == 0
    assert oct(os.stat(shared).st_mode & 0o7777) == "0o1777"
    assert os.path.isfile(shared / "pipenet-0" / "kb" / "record.json")
    assert oct(os.stat(shared / "pipenet-0").st_mode & 0o777) == "0o700"
    assert run("down", "kb").returncode == 0
    assert oct(os.stat(shared).st_mode & 0o7777) == "0o1777"


@pytest.mark.parametrize("where", ["beside", "instead"])
def test_a_foreign_symlink_in_etc_netns_is_never_removed(netns, tmp_path, where):
    path = write(tmp_path, "kb.pn", SMALL)
    assert netns.pipenet("up", path).returncode == 0
    name = "evil" if where == "beside" else "hosts"
    netns.run(["rm", "-f", f"/etc/netns/kb@a/{name}"])
    netns.run(["ln", "-s", "/etc/passwd", f"/etc/netns/kb@a/{name}"])
    passwd = netns.out(["sha256sum", "/etc/passwd"])
    assert netns.pipenet("down", "kb").returncode == 0
    assert netns.out(["readlink", f"/etc/netns/kb@a/{name}"]).strip() == "/etc/passwd"
    assert netns.out(["sha256sum", "/etc/passwd"]) == passwd
    netns.run(["rm", "-r", "/etc/netns/kb@a"])


# ---- nothing is lost track of -----------------------------------------------------------------------------
def test_killed_after_the_record_and_before_the_journal_goes(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    r = netns.faultrun("up", path, kill_point="unlink /run/pipenet/kb/journal.jsonl")
    assert r.returncode == -9
    r = netns.pipenet("up", path)
    assert r.returncode == 0 and "nothing to change" in r.stderr, r.stderr  # committed: nothing undone
    assert netns.pipenet("status", "kb").returncode == 0
    assert netns.pipenet("down", "kb").returncode == 0
    assert world(netns) == before


def test_killed_down_after_the_journal_and_before_the_record_goes(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    assert netns.pipenet("up", path).returncode == 0
    r = netns.faultrun("down", "kb", kill_point="unlink /run/pipenet/kb/record.json")
    assert r.returncode == -9
    r = netns.pipenet("up", path)
    assert r.returncode == 0 and "nothing to change" not in r.stderr, r.stderr  # everything is made again
    assert netns.pipenet("status", "kb").returncode == 0
    assert netns.pipenet("exec", "a", "--", "ping", "-c1", "-W2", "10.66.0.50").returncode == 0
    assert netns.pipenet("down", "kb").returncode == 0
    assert world(netns) == before


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9])
def test_one_down_finishes_a_killed_down(netns, tmp_path, k):
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    assert netns.pipenet("up", path).returncode == 0
    assert netns.faultrun("down", "kb", kill_step=k).returncode == -9
    r = netns.pipenet("down", "kb")
    assert r.returncode == 0 and "left:" not in r.stderr, r.stderr
    assert world(netns) == before


def test_a_failed_converging_up_reports_nothing_false_and_keeps_a_live_pid(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    assert netns.pipenet("up", path).returncode == 0
    (tmp_path / "kb.pn").write_text(SMALL.replace("address 10.66.0.50", "address 10.66.0.60")
                                    + 'container c { net kbr; run "python3 -m pipenet.services listen 7002" }\n')
    total = len(plan_steps(netns, path))
    before = world(netns)
    for n in (1, total // 2, total):
        r = netns.faultrun("up", path, fail_step=n)
        assert r.returncode == 2 and "left:" not in r.stderr, (n, r.stderr)
        assert netns.pipenet("status", "kb").returncode == 0  # every recorded pid is a live process
        now = world(netns)
        assert sorted(now.pop("processes").values()) == sorted(before["processes"].values())
        assert {k: v for k, v in now.items()} == {k: v for k, v in before.items() if k != "processes"}


CORRUPT = {
    "truncated record": ("record.json", lambda text: text[: len(text) // 2]),
    "garbage record": ("record.json", lambda text: "\x00\x01 not json at all"),
    "empty record": ("record.json", lambda text: ""),
    "record of the wrong shape": ("record.json", lambda text: "[1, 2, 3]"),
    "unknown op kind": ("record.json", lambda text: text.replace('"kind": "netns"', '"kind": "wormhole"', 1)),
    "op with a wrong field": ("record.json", lambda text: text.replace('"ns": "kb@a"', '"ns": 42', 1)),
    "record from a newer pipenet": ("record.json", lambda text: text.replace('"version": 2', '"version": 99')),
    "journal of the wrong shape": ("journal.jsonl", lambda text: '{"plan": "nope", "base": "x"}\n{"start": 0}\n'),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_state_is_one_line_and_down_force_cleans(netns, tmp_path, case):
    name, spoil = CORRUPT[case]
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    assert netns.pipenet("up", path).returncode == 0
    where = f"/run/pipenet/kb/{name}"
    text = netns.runner(["cat", where]) if name == "record.json" else ""
    netns.run(["sh", "-c", 'cat > "$0"', where], input=spoil(text))
    for args in (["status", "kb"], ["up", path], ["down", "kb"]):
        r = netns.pipenet(*args)
        assert r.returncode == 1, (args, r.stderr)
        line = one_line(r)
        assert name in line, (args, line)
    assert netns.pipenet("down", "kb").stderr.count("--force") == 1
    r = netns.pipenet("ls")
    assert "Traceback" not in r.stderr and "kb" in r.stdout
    r = netns.pipenet("down", "--force", "kb")
    assert r.returncode == 0, r.stderr
    assert world(netns) == before


def test_a_lock_that_is_a_directory_and_a_broken_cache_and_ledger(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    assert netns.pipenet("up", path).returncode == 0
    netns.run(["sh", "-c", "echo '{not json' > /run/pipenet/kb/inputs.json"])
    r = netns.pipenet("up", path)  # the digest is a cache: a broken one only means a full plan
    assert r.returncode == 0, r.stderr
    netns.run(["rm", "/run/pipenet/kb/lock"])
    netns.run(["mkdir", "/run/pipenet/kb/lock"])
    line = one_line(netns.pipenet("up", path))
    assert "/run/pipenet/kb/lock is not a lock file pipenet can use" in line
    netns.run(["rmdir", "/run/pipenet/kb/lock"])
    netns.run(["sh", "-c", "echo 'garbage' > /run/pipenet/.host-settings.json"])
    procs = netns.pids("pipenet.services")
    for args in (["down", "kb"],):
        line = one_line(netns.pipenet(*args))
        assert ".host-settings.json" in line and "move it away" in line
    assert netns.pids("pipenet.services") == procs  # refused before any change
    netns.run(["rm", "/run/pipenet/.host-settings.json"])
    assert netns.pipenet("down", "kb").returncode == 0
    netns.run(["sysctl", "-w", "net.ipv4.ip_forward=" + before["sysctls"]["net/ipv4/ip_forward"]])
    assert world(netns) == before


def test_fault_hooks_are_not_read_from_the_environment(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    env = dict(os.environ, PIPENET_TEST_FAIL_STEP="1", PIPENET_TEST_KILL_STEP="1", PIPENET_TEST_FAIL_UNDO="1")
    r = netns.run([sys.executable, "-m", "pipenet", "up", path], check=False, env=env)
    assert r.returncode == 0, r.stderr
    assert netns.pipenet("down", "kb").returncode == 0


def _points(netns, tmp_path, *args) -> list:
    count = tmp_path / "points.json"
    r = netns.faultrun(*args, count=str(count))
    assert r.returncode == 0, r.stderr
    return json.loads(count.read_text())


def test_a_crash_at_every_internal_write_point_of_up_and_down(netns, tmp_path):
    """SIGKILL at every point where pipenet writes its state or changes the kernel (not only between
    operations): `down` cleans and `up` converges, every time."""
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    clean = quick(netns)
    ups = _points(netns, tmp_path, "up", path)
    downs = _points(netns, tmp_path, "down", "kb")
    assert len(ups) >= 40 and {p[0] for p in ups} >= {"write", "written", "step", "stepped", "unlink"}
    assert quick(netns) == clean
    for i in range(1, len(ups) + 1):
        assert netns.faultrun("up", path, kill_nth=i).returncode == -9, i
        if i % 2:
            r = netns.pipenet("down", "kb")
            assert r.returncode == 0, (i, ups[i - 1], r.stderr)
        else:
            r = netns.pipenet("up", path)
            assert r.returncode == 0, (i, ups[i - 1], r.stderr)
            assert netns.pipenet("status", "kb").returncode == 0, (i, ups[i - 1])
            assert json.loads(netns.pipenet("plan", path, "--format", "json").stdout)["empty"], i
            assert netns.pipenet("down", "kb").returncode == 0
        assert quick(netns) == clean, (i, ups[i - 1])
    for i in range(1, len(downs) + 1):
        assert netns.pipenet("up", path).returncode == 0
        assert netns.faultrun("down", "kb", kill_nth=i).returncode == -9, i
        r = netns.pipenet("down", "kb")
        assert r.returncode == 0, (i, downs[i - 1], r.stderr)
        assert quick(netns) == clean, (i, downs[i - 1])
    assert world(netns) == before


def test_a_full_disk_at_every_write_of_up(netns, tmp_path):
    """ENOSPC at each write `up` makes: one line, no traceback, and either an exact rollback or a state
    that `down` cleans."""
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    clean = quick(netns)
    writes = [p for p in _points(netns, tmp_path, "up", path) if p[0] == "write"]
    assert netns.pipenet("down", "kb").returncode == 0
    assert len(writes) >= 20
    for i in range(1, len(writes) + 1):
        r = netns.faultrun("up", path, enospc_nth=i)
        assert "Traceback" not in r.stderr, (i, writes[i - 1], r.stderr)
        assert r.returncode in (0, 1, 2), (i, r.returncode, r.stderr)
        if r.returncode in (1, 2):
            assert "No space left" in r.stderr or "no room" in r.stderr or "space" in r.stderr, (i, r.stderr)
            assert quick(netns) == clean, (i, writes[i - 1])
        assert netns.pipenet("down", "kb").returncode == 0
        assert quick(netns) == clean, (i, writes[i - 1])
    assert world(netns) == before


@pytest.mark.parametrize("free", [0, 2048, 16384, 65536])
def test_a_really_full_state_directory(netns, tmp_path, free):
    """/run/pipenet on a small file system that is nearly full: one line, and nothing left behind."""
    path = write(tmp_path, "kb.pn", SMALL)
    before = world(netns)
    netns.run(["mkdir", "-p", "/run/pipenet"])
    netns.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", "/run/pipenet"])
    try:
        netns.run(["sh", "-c", f"head -c $(( $(stat -f -c '%a*%S' /run/pipenet) - {free} )) /dev/zero "
                               f"> /run/pipenet/.filler 2>/dev/null; true"])
        r = netns.pipenet("up", path)
        assert "Traceback" not in r.stderr and r.returncode in (0, 1, 2), r.stderr
        if r.returncode:
            one_line_or_located = [l for l in r.stderr.splitlines() if l.startswith("pipenet:")]
            assert one_line_or_located, r.stderr
        netns.run(["rm", "-f", "/run/pipenet/.filler"])
        assert netns.pipenet("down", "kb").returncode == 0
        after = world(netns)
        assert {k: v for k, v in after.items() if k != "state"} == {k: v for k, v in before.items() if k != "state"}
        assert netns.runner(["ls", "-A", "/run/pipenet"]).split() in ([], [".failed"])
    finally:
        netns.run(["umount", "/run/pipenet"], check=False)


# ---- bad input without tracebacks -------------------------------------------------------------------------
def test_a_foreign_jump_into_a_pipenet_chain_blocks_down_with_one_line(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    assert netns.pipenet("up", path).returncode == 0
    netns.run(["iptables", "-A", "INPUT", "-j", "PN-kb-FWD"])
    before = world(netns)
    line = one_line(netns.pipenet("down", "kb"))
    assert "jumps to pipenet's chain PN-kb-FWD and pipenet did not write it" in line
    assert world(netns) == before
    netns.run(["iptables", "-D", "INPUT", "-j", "PN-kb-FWD"])
    assert netns.pipenet("down", "kb").returncode == 0


def test_a_placeholder_file_in_run_netns_is_one_line(netns, tmp_path):
    path = write(tmp_path, "kb.pn", SMALL)
    netns.run(["touch", "/run/netns/kb@a"])
    before = world(netns)
    r = netns.pipenet("up", path)
    assert r.returncode == 1 and "/run/netns/kb@a is a file that is not a namespace" in one_line(r)
    assert world(netns) == before
    netns.run(["rm", "/run/netns/kb@a"])


def test_a_foreign_nft_filter_table_gains_nothing_that_stays(netns, tmp_path):
    netns.run(["nft", "delete", "table", "ip", "filter"], check=False)
    netns.run(["nft", "add", "table", "ip", "filter"])
    netns.run(["nft", "add", "chain", "ip", "filter", "INPUT", "{ type filter hook input priority 0; }"])
    netns.run(["nft", "add", "rule", "ip", "filter", "INPUT", "counter"])
    path = write(tmp_path, "kb.pn", SMALL)
    before = netns.out(["nft", "list", "table", "ip", "filter"])
    assert netns.pipenet("up", path).returncode == 0
    assert "FORWARD" in netns.out(["nft", "list", "table", "ip", "filter"])
    assert netns.pipenet("down", "kb").returncode == 0
    after = netns.out(["nft", "list", "table", "ip", "filter"])
    strip = lambda t: [l for l in t.splitlines() if "counter packets" not in l]  # noqa: E731
    assert strip(after) == strip(before)


INTERRUPTED = textwrap.dedent("""
    import signal, sys, time
    import pipenet
    from pipenet.backends import netns as N

    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the suite itself was started as a
    # background job (a shell without job control starts those with SIGINT ignored, and Python then
    # installs no handler of its own)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    slow = N.Namespaces._create
    said = []
    def _create(self, *a, **kw):  # a slow kernel: Ctrl-C lands while a namespace is being made
        if not said:  # (the worker thread says when the first one starts: the interruption is timed from it)
            said.append(1)
            print("making", flush=True)
        time.sleep(0.01)
        return slow(self, *a, **kw)
    N.Namespaces._create = _create
    print("ready", flush=True)
    try:
        pipenet.load(sys.argv[1]).up()
    except KeyboardInterrupt:  # a program that takes a moment to report the interruption
        time.sleep(0.5)
        sys.exit(130)
""")


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.4, 0.9])
def test_ctrl_c_while_the_kernel_works_leaves_nothing_unowned(netns, tmp_path, delay):
    """Ctrl-C in a program using the library, while a namespace is being made (the worker thread is
    inside the kernel): the work under way finishes before the interruption goes on, and a namespace
    has its name only once it carries pipenet's mark, so the next `up` takes the run over (no
    "pipenet did not make it"), `status` finds no drift and `down` leaves the world as it was."""
    lab = "\n".join(["topology ki", "bridge kibr { address 10.68.0.1/22 }"] +
                    [f"container c{i} {{ net kibr }}" for i in range(150)]) + "\n"
    path = write(tmp_path, "ki.pn", lab)
    before = quick(netns)
    p = subprocess.Popen(netns.argv([sys.executable, "-c", INTERRUPTED, path]), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    assert p.stdout.readline().strip() == b"ready"
    # timed from the moment the first namespace is being made (150 of them take 1.5 s at least), not from
    # the program's start: a loaded machine once took the whole `up` past a fixed delay's signal
    assert p.stdout.readline().strip() == b"making"
    time.sleep(delay)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err.decode()[-3000:]  # it was interrupted during `up`
    r = netns.pipenet("up", path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = netns.pipenet("status", "ki", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["drift"] == [], r.stdout[-2000:]
    assert netns.pipenet("down", "ki").returncode == 0
    assert quick(netns) == before
