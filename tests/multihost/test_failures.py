"""What goes wrong between machines: an underlay that drops VXLAN, a machine whose sshd goes away in the
middle of `up` (tests/machines.py: namespaces stand in for machines, each with a real sshd)."""

from __future__ import annotations

import subprocess
import time

from tests.multihost.test_across import SPAN
from tests.snapshot import diff, world


def test_an_underlay_that_drops_the_vxlan_port_is_refused_before_any_change(three, tmp_path):
    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    w2 = three.worlds[2]  # m2's firewall drops VXLAN: its tunnels could never carry a frame
    w2.run(["iptables", "-I", "INPUT", "-p", "udp", "--dport", "4789", "-j", "DROP"])
    before = [world(w) for w in three.worlds]
    r = three.coordinator("up", str(path))
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("pipenet: ")]
    assert lines == [
        "pipenet: machine m2 (root@10.50.0.12) does not hear machine local on the underlay, UDP port 4789 "
        "(10.50.0.10 to 10.50.0.12): a firewall or route between them drops VXLAN",
        "pipenet: machine m2 (root@10.50.0.12) does not hear machine m1 on the underlay, UDP port 4789 "
        "(10.50.0.11 to 10.50.0.12): a firewall or route between them drops VXLAN"], r.stderr
    assert [diff(b, world(w)) for b, w in zip(before, three.worlds)] == [[], [], []]
    assert three.worlds[0].run(["test", "-e", "/run/pipenet/.machines/span.json"], check=False).returncode == 1
    w2.run(["iptables", "-D", "INPUT", "-p", "udp", "--dport", "4789", "-j", "DROP"])
    assert three.coordinator("up", str(path)).returncode == 0  # the same file, the port open: it goes up
    assert three.coordinator("down", "span").returncode == 0


# m2 has more to do than the others, so that its sshd can be killed while it applies
BUSY = SPAN.replace("container b { machine m2; net lan }",
                    "container b { machine m2; net lan }\nfor i in 1..40 { container x${i} { machine m2; net lan } }")


def applying(three, tmp_path, out=subprocess.DEVNULL) -> tuple[subprocess.Popen, list]:
    """`up` of BUSY started on the coordinator, returned once m2 is applying its slice; with every machine's
    snapshot from before."""
    path = tmp_path / "busy.pn"
    path.write_text(BUSY)
    before = [world(w) for w in three.worlds]
    p = three.started("up", str(path), out=out)
    w2, deadline = three.worlds[2], time.monotonic() + 120
    while "span@x" not in w2.out(["ip", "netns", "list"]):
        assert time.monotonic() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.02)
    return p, before


def settled(three, before: list) -> None:
    """Every machine comes back to its snapshot from before (a slice that lost the coordinator takes itself
    down once it has finished applying)."""
    deadline = time.monotonic() + 60
    while [diff(b, world(w)) for b, w in zip(before, three.worlds)] != [[], [], []]:
        assert time.monotonic() < deadline, [diff(b, world(w)) for b, w in zip(before, three.worlds)]
        time.sleep(0.5)


def test_an_sshd_killed_mid_up_is_one_line_and_leaves_nothing(three, tmp_path):
    p, before = applying(three, tmp_path, out=subprocess.PIPE)
    three.kill_sshd(2)  # the machine goes away: its sshd and the connection pipenet's slice runs through
    out, err = p.communicate(timeout=120)
    assert p.returncode == 3, out + err  # (m2 cannot be asked whether its slice is gone: docs/cli.md)
    said = err.strip().splitlines()
    assert said[0] == ("pipenet: machine m2 (root@10.50.0.12): ssh: the connection was lost (ssh exited 255); "
                       "rolling back left something on some machines (pipenet down span finishes it)"), err
    assert said[1:] == ["  left: machine m2 (root@10.50.0.12): ssh: connect to host 10.50.0.12 port 22: "
                        "Connection refused"], err
    settled(three, before)  # m1 and local took their slices down when told, m2 its own on losing the coordinator
    assert "applying" in three.worlds[0].out(["cat", "/run/pipenet/.machines/span.json"])
    r = three.coordinator("down", "span")  # m2 still unreachable: said, the journal kept
    assert r.returncode == 3 and "machine m2 (root@10.50.0.12)" in r.stderr, r.stderr
    three.start_sshd(2)
    three.wait_sshd(2)
    r = three.coordinator("down", "span")  # m2 back: finished off
    assert r.returncode == 0, r.stdout + r.stderr
    assert three.worlds[0].out(["ls", "-A", "/run/pipenet/.machines"]).strip() == ""
    assert [diff(b, world(w)) for b, w in zip(before, three.worlds)] == [[], [], []]


def test_a_killed_coordinator_leaves_nothing_even_before_down(three, tmp_path):
    """Each machine's slice, losing the coordinator, takes itself down; `down` then only forgets."""
    p, before = applying(three, tmp_path)
    p.kill()
    p.wait()
    settled(three, before)
    assert three.coordinator("down", "span").returncode == 0
    assert three.worlds[0].out(["ls", "-A", "/run/pipenet/.machines"]).strip() == ""
