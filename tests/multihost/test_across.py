"""A topology across machines, end to end: private namespaces stand in for machines, each with a real
OpenSSH server (tests/machines.py); the coordinator runs on machine 0."""

from __future__ import annotations

import json
import time

import jsonschema

from pipenet import schemas

from tests.machines import Machines, machine_lines
from tests.snapshot import diff, world


SPAN = machine_lines(3) + """\
topology span
bridge lan { address 10.70.0.1/24 }
container a { machine m1; net lan }
container b { machine m2; net lan }
container c { net lan }
expect a can reach b
expect b can reach c
expect c can reach a
"""
# a port published on the bridge's machine (local), reached from every machine's containers
PUBLISHED = SPAN.replace("container c { net lan }", 'container c { net lan; publish 8080:80; run "python3 -m '
                                                    'http.server -b 0.0.0.0 80" }')


def test_a_bridge_across_three_machines(three, tmp_path):
    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    r = three.coordinator("up", str(path))
    assert r.returncode == 0, r.stderr
    w0, w1, w2 = three.worlds
    assert w1.run(["ip", "netns", "exec", "span@a", "ping", "-c1", "-W2", "10.70.0.3"], check=False).returncode == 0
    # on each machine, a tunnel on its copy of the bridge, learning off, one forwarding entry per other machine
    assert "nolearning" in w1.out(["ip", "-d", "link", "show", "master", "lan", "type", "vxlan"])
    tunnel = w1.out(["ip", "-o", "link", "show", "master", "lan", "type", "vxlan"]).split()[1].split("@")[0]
    fdb = [x.split() for x in w1.out(["bridge", "fdb", "show", "dev", tunnel.rstrip(":")]).splitlines()]
    assert sorted(x[x.index("dst") + 1] for x in fdb if x[0] == "00:00:00:00:00:00") == ["10.50.0.10", "10.50.0.12"]
    # up again: every slice is as the file says, nothing changes anywhere
    after = [world(w) for w in three.worlds]
    r = three.coordinator("up", str(path))
    assert r.returncode == 0, r.stderr
    assert [diff(b, world(w)) for b, w in zip(after, three.worlds)] == [[], [], []]


def test_a_port_published_on_the_gateway_machine_is_reached_from_every_machine(three, tmp_path):
    path = tmp_path / "pub.pn"
    path.write_text(PUBLISHED)
    r = three.coordinator("up", str(path))
    assert r.returncode == 0, r.stderr
    for n, node in ((0, "c"), (1, "a"), (2, "b")):
        r = three.worlds[n].run(["ip", "netns", "exec", f"span@{node}", "curl", "-s", "-o", "/dev/null", "-w",
                                 "%{http_code}", "--retry", "20", "--retry-connrefused", "--retry-delay", "0",
                                 "--max-time", "5", "http://10.70.0.1:8080/"], check=False)
        assert r.stdout == "200", (node, r.stdout, r.stderr)
    assert three.coordinator("down", "span").returncode == 0


def test_status_exec_test_and_down_across_machines(three, tmp_path):
    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    assert three.coordinator("up", str(path)).returncode == 0
    r = three.coordinator("test", str(path), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout)
    assert got["passed"] == 3 and got["failed"] == 0, got
    assert [x["expectation"] for x in got["results"]] == ["a can reach b", "b can reach c", "c can reach a"]
    r = three.coordinator("exec", "b", "--", "hostname")  # b is on machine m2: through ssh
    assert (r.returncode, r.stdout.strip()) == (0, "b"), r.stderr
    r = three.coordinator("status", "span", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(r.stdout)
    jsonschema.validate(st, schemas.load("pipenet/status/v3"))  # (its items name their machines: version 3)
    assert st["schema"] == "pipenet/status/v3"
    assert sorted((n["node"], n["machine"]) for n in st["nodes"] if n["node"] != "host") == [
        ("a", "m1"), ("b", "m2"), ("c", "local")]
    assert st["file"] == "machines local, m1, m2"
    r = three.coordinator("down", "span")
    assert r.returncode == 0, r.stderr
    assert "span is down" in r.stdout + r.stderr and all(f"machine {m}: 6 steps" in r.stderr for m in ("m1", "m2")), r.stderr
    for w in three.worlds:
        assert w.out(["ip", "netns", "list"]).split() == ["othertool"]
        assert "pnx" not in w.out(["ip", "-o", "link"])


P2P = machine_lines(3) + """\
topology wire
container a { machine m1 }
container b { machine m2 }
p2p a:eth1 10.1.1.1 -- b:eth1 10.1.1.2
expect a can reach b
expect b can reach 10.1.1.1
"""


def all_pass(three, tmp_path, text: str) -> dict:
    """`pipenet test FILE --json` of `text` on the coordinator, every expectation passed: its report."""
    path = tmp_path / "lab.pn"
    path.write_text(text)
    r = three.coordinator("test", str(path), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_a_p2p_link_between_machines(three, tmp_path):
    got = all_pass(three, tmp_path, P2P)
    assert (got["passed"], got["failed"]) == (2, 0), got
    w1 = three.worlds[1]
    assert "10.1.1.2 dev eth1" in w1.out(["ip", "netns", "exec", "wire@a", "ip", "route"])
    assert three.coordinator("down", "wire").returncode == 0
    assert three.worlds[0].out(["ls", "-A", "/run/pipenet/.machines"]).strip() == ""


def test_one_failing_slice_rolls_back_every_machine(three, tmp_path):
    path = tmp_path / "span.pn"
    # b's program is not on m2: m2's slice fails half-way, when b's process cannot start, after its
    # namespace, bridge and tunnel are made
    path.write_text(SPAN.replace("container b { machine m2; net lan }",
                                 'container b { machine m2; net lan; run "/nonexistent/server" }'))
    before = [world(w) for w in three.worlds]
    r = three.coordinator("up", str(path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "machine m2 (root@10.50.0.12)" in r.stderr and "rolled back" in r.stderr
    assert [diff(b, world(w)) for b, w in zip(before, three.worlds)] == [[], [], []]
    assert three.worlds[0].out(["ls", "-A", "/run/pipenet/.machines"]).strip() == ""


def test_a_vni_another_tool_holds_on_one_machine_is_refused_before_any_change(three, tmp_path):
    from pipenet.plan.slice import vni

    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    # another tool's tunnel on m2 holds the VNI the bridge gets (the kernel would refuse pipenet's tunnel
    # half-way through m2's slice): every machine's plan is checked first, so nothing is made anywhere
    taken = vni("span", "lan", set())
    three.worlds[2].run(["ip", "link", "add", "othervx", "type", "vxlan", "id", str(taken), "dstport", "4789",
                         "local", "10.50.0.12"])
    before = [world(w) for w in three.worlds]
    refused_by_m2(three, path, before, f"VXLAN id {taken} on UDP port 4789 is taken in the host by an interface "
                                       f"pipenet did not make, othervx")


def refused_by_m2(three, path, before: list, word: str) -> None:
    """`up` is refused in one line naming m2 (and `word`), exit status 1, and no machine changed."""
    r = three.coordinator("up", str(path))
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipenet: machine m2 (root@10.50.0.12): "), r.stderr
    assert word in lines[0]
    assert [diff(b, world(w)) for b, w in zip(before, three.worlds)] == [[], [], []]


def test_an_unreachable_machine_is_one_line_and_nothing_changes(three, tmp_path):
    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    three.stop_sshd(2)
    before = [world(w) for w in three.worlds]
    refused_by_m2(three, path, before, "refused")


def test_a_killed_coordinator_is_finished_off_by_down(three, tmp_path):
    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    before = [world(w) for w in three.worlds]
    p = three.started("up", str(path))
    deadline = time.monotonic() + 60
    while three.worlds[0].run(["test", "-e", "/run/pipenet/.machines/span.json"], check=False).returncode != 0:
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.01)
    p.kill()  # while the slices are being applied
    p.wait()
    time.sleep(3)  # (its ssh children finish what they were doing)
    assert "applying" in three.worlds[0].out(["cat", "/run/pipenet/.machines/span.json"])
    r = three.coordinator("down", "span")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [diff(b, world(w)) for b, w in zip(before, three.worlds)] == [[], [], []]


def test_a_tunnel_mtu_that_does_not_fit_the_underlay_is_located(tmp_path):
    ms = Machines(tmp_path, 3, mtu={2: 1400})
    try:
        path = tmp_path / "span.pn"
        path.write_text(SPAN.replace("bridge lan { address 10.70.0.1/24 }",
                                     "bridge lan { address 10.70.0.1/24; mtu 1500 }"))
        before = [world(w) for w in ms.worlds]
        r = ms.coordinator("up", str(path))
        assert r.returncode == 1, r.stdout + r.stderr
        line = SPAN.splitlines().index("bridge lan { address 10.70.0.1/24 }") + 1
        assert f"span.pn:{line}:40: error: MTU 1500 does not fit in the tunnel between local, m1, m2" in r.stderr
        assert "the underlay of m2 has MTU 1400" in r.stderr and "give mtu 1350 or less" in r.stderr
        assert [diff(b, world(w)) for b, w in zip(before, ms.worlds)] == [[], [], []]
        path.write_text(SPAN)  # without a declared MTU: the tunnel's, on every machine
        assert ms.coordinator("up", str(path)).returncode == 0
        for w in ms.worlds:
            assert "mtu 1350" in w.out(["ip", "-o", "link", "show", "dev", "lan"])
        assert ms.coordinator("down", "span").returncode == 0
    finally:
        ms.close()


def test_plan_across_machines_changes_nothing_and_names_each_machine(three, tmp_path):
    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    before = [world(w) for w in three.worlds]
    r = three.coordinator("plan", str(path), "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    keys = [s["key"] for s in json.loads(r.stdout)["steps"]]
    assert "m1/netns:a" in keys and "m2/netns:b" in keys and "local/netns:c" in keys
    assert [k for k in keys if k.startswith("m1/") and "pnx" in k]  # m1's tunnel
    assert [diff(b, world(w)) for b, w in zip(before, three.worlds)] == [[], [], []]


def test_a_name_taken_on_one_machine_is_refused_before_any_change(three, tmp_path):
    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    three.worlds[2].run(["ip", "link", "add", "lan", "type", "bridge"])  # another tool's bridge `lan` on m2
    three.worlds[2].run(["ip", "link", "set", "lan", "addrgenmode", "none"])
    before = [world(w) for w in three.worlds]
    refused_by_m2(three, path, before, "lan")
    assert three.worlds[0].run(["test", "-e", "/run/pipenet/.machines/span.json"], check=False).returncode == 1
