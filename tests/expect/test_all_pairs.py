"""`expect all of GLOB can reach all of GLOB` on a real network (issue 18): every ordered pair probed, the
statement summed up as a matrix; with one node's link cut, exactly its row and its column fail (the
matrix shows it, `test` exits 4), in the human table, `--json` (pipenet/test/v2) and `--junit` alike.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET

import jsonschema

from pipenet import schemas

NODES = [f"n{i}" for i in range(1, 6)]
CUT = "n3"

LAB = """
topology pairs
bridge p1 { address 10.74.0.1/24 }
bridge p2 { address 10.75.0.1/24; icc off }
for i in 1..5 { container n${i} { net p1 } }
for i in 1..3 { container iso${i} { net p2 } }
expect all of n* can reach all of n*
expect all of n[1-3] can reach all of n[1-3]:80/tcp
expect all of iso* cannot reach all of iso*
expect n1 can reach host
"""


def run(netns, path, *args) -> tuple[int, dict]:
    r = netns.pipenet("test", path, "--json", *args, timeout=120)
    assert r.returncode in (0, 4), r.stderr
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, schemas.load("pipenet/test/v2"), cls=jsonschema.Draft202012Validator)
    return r.returncode, doc


def shown(netns, path) -> tuple[int, str]:
    """`pipenet test`'s table and matrices, as on a wide terminal."""
    r = netns.run([sys.executable, "-m", "pipenet", "test", path], check=False, env={**os.environ, "COLUMNS": "200"})
    return r.returncode, r.stdout


def failed(doc) -> set[tuple[int, str, str]]:
    return {(x["statement"], x["source"], x["target"]) for x in doc["results"] if not x["passed"]}


def test_every_pair_passes_then_a_cut_node_fails_exactly_its_row_and_column(netns, tmp_path):
    path = str(tmp_path / "pairs.pn")
    with open(path, "w") as f:
        f.write(LAB)
    assert netns.pipenet("up", path).returncode == 0
    ping_pairs = [(s, t) for s in NODES for t in NODES if s != t]
    for _ in range(2):  # the same answers, run after run
        code, doc = run(netns, path)
        assert code == 0 and (doc["passed"], doc["failed"]) == (20 + 6 + 6 + 1, 0)
        assert doc["schema"] == "pipenet/test/v2"
        assert [(x["source"], x["target"]) for x in doc["results"] if x.get("statement") == 0] == ping_pairs
        assert [(m["expectation"], m["pairs"], m["passed"], m["failures"]) for m in doc["all_pairs"]] == [
            ("all of n* can reach all of n*", 20, 20, []),
            ("all of n[1-3] can reach all of n[1-3]:80/tcp", 6, 6, []),
            ("all of iso* cannot reach all of iso*", 6, 6, [])]
        assert doc["all_pairs"][0]["sources"] == doc["all_pairs"][0]["targets"] == NODES
        assert "statement" not in doc["results"][-1]  # the single `expect`: a result as in version 1
    code, text = shown(netns, path)
    assert code == 0
    assert "all of n* can reach all of n* " in text and "20 pairs (5 x 5 nodes): all passed" in text
    assert "line 7: expect all of n* can reach all of n*\n" in text
    assert "n1  - . . . ." in text and "n5  . . . . -" in text

    assert netns.pipenet("exec", CUT, "--", "ip", "link", "set", "eth0", "down").returncode == 0
    row_and_column = ({(0, CUT, t) for t in NODES if t != CUT} | {(0, s, CUT) for s in NODES if s != CUT}
                      | {(1, CUT, t) for t in ("n1", "n2")} | {(1, s, CUT) for s in ("n1", "n2")})
    junit = tmp_path / "pairs.xml"
    for _ in range(2):
        code, doc = run(netns, path, "--junit", str(junit))
        assert code == 4
        assert failed(doc) == row_and_column
        m = doc["all_pairs"][0]
        assert (m["passed"], m["failed"]) == (12, 8)
        assert m["failures"][2] == {"source": CUT, "targets": ["n1", "n2", "n4", "n5"]}
        assert m["failures"][0] == {"source": "n1", "targets": [CUT]}
        assert (doc["all_pairs"][2]["failed"], doc["failed"]) == (0, len(row_and_column))

    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 33 and suite.get("failures") == str(len(row_and_column))
    assert {c.get("classname") for c in cases} == {
        f"{path}: expect all of n* can reach all of n*", f"{path}: expect all of n[1-3] can reach all of n[1-3]:80/tcp",
        f"{path}: expect all of iso* cannot reach all of iso*", path}
    failing = {c.get("name") for c in cases if c.find("failure") is not None}
    assert f"{CUT} can reach n1 (line 7)" in failing and f"n1 can reach {CUT}:80/tcp (line 8)" in failing

    code, text = shown(netns, path)
    assert code == 4
    assert "20 pairs (5 x 5 nodes): 8 failed, 12 passed" in text
    rows = [line for line in text.splitlines() if line.startswith("n") and line[2:4] == "  "]
    assert rows[:5] == ["n1  - . X . .", "n2  . - X . .", "n3  X X - X X", "n4  . . X - .", "n5  . . X . -"]
    assert netns.pipenet("down", "pairs").returncode == 0
