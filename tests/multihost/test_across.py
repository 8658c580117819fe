"""A topology across machines, end to end: private namespaces stand in for machines, each with a real
OpenSSH server (tests/machines.py); the coordinator runs on machine 0."""

from __future__ import annotations

import json

import pytest

from tests.machines import Machines, machine_lines


@pytest.fixture
def three(tmp_path):
    ms = Machines(tmp_path, 3)
    try:
        yield ms
    finally:
        ms.close()


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


def test_a_bridge_across_three_machines(three, tmp_path):
    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    r = three.coordinator("up", str(path))
    assert r.returncode == 0, r.stderr
    w0, w1, w2 = three.worlds
    assert w1.run(["ip", "netns", "exec", "span@a", "ping", "-c1", "-W2", "10.70.0.3"], check=False).returncode == 0


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
    assert sorted((n["node"], n["machine"]) for n in st["nodes"] if n["node"] != "host") == [
        ("a", "m1"), ("b", "m2"), ("c", "local")]
    r = three.coordinator("down", "span")
    assert r.returncode == 0, r.stderr
    for w in three.worlds:
        assert w.out(["ip", "netns", "list"]).split() == ["othertool"]
        assert "pnx" not in w.out(["ip", "-o", "link"])
