"""Looking at a topology across machines from the coordinator: ls, status without a name, and port
probes whose target is on another machine (tests/machines.py)."""

from __future__ import annotations

import json

import jsonschema

from pipenet import schemas

from tests.multihost.test_across import P2P, SPAN, all_pass

PORTS = SPAN[:SPAN.index("expect")].replace("topology span", "topology ports") + """\
expect a can reach b:80/tcp
expect c can reach b:5353/udp
expect b can reach c:8080/tcp
"""


def test_ls_and_status_list_a_topology_with_no_node_here(three, tmp_path):
    path = tmp_path / "wire.pn"
    path.write_text(P2P)  # a on m1, b on m2: nothing of it on the coordinator's machine
    assert three.coordinator("up", str(path)).returncode == 0
    r = three.coordinator("ls", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["topologies"]
    assert [(x["topology"], x["nodes"], x["file"]) for x in rows] == [("wire", 2, "machines m1, m2")]
    r = three.coordinator("ls")
    assert r.stdout.split("\n")[0].split("\t") == ["wire", "2 nodes", "machines m1, m2"], r.stdout
    r = three.coordinator("status", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, schemas.load("pipenet/status-all/v2"))
    assert doc["schema"] == "pipenet/status-all/v2"
    [st] = doc["topologies"]
    assert sorted((n["node"], n["machine"]) for n in st["nodes"] if n["node"] != "host") == [("a", "m1"), ("b", "m2")]
    assert three.coordinator("down", "wire").returncode == 0
    assert json.loads(three.coordinator("ls", "--json").stdout)["topologies"] == []


def test_a_port_probe_across_machines_finds_a_listener_on_the_targets_machine(three, tmp_path):
    got = all_pass(three, tmp_path, PORTS)
    assert [(x["expectation"], x["passed"]) for x in got["results"]] == [
        ("a can reach b:80/tcp", True), ("c can reach b:5353/udp", True), ("b can reach c:8080/tcp", True)], got
    for n, node in ((2, "b"), (0, "c")):  # the listeners were temporary
        assert ":80 " not in three.worlds[n].out(["ip", "netns", "exec", f"ports@{node}", "ss", "-Hlntu"])
        assert ":8080 " not in three.worlds[n].out(["ip", "netns", "exec", f"ports@{node}", "ss", "-Hlntu"])
    assert three.coordinator("down", "ports").returncode == 0
