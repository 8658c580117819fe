"""Issue 20: a hundred nodes, a thousand expectations, the same answers every time.

The lab of the issue (100 containers on one bridge, each probing ten others)
used to fail 5 to 15 % of its pings at random: every probe left two entries
in the kernel's machine-wide neighbour table, which overflowed. Here it is
tested several times in a row (every probe must pass, and the lab's neighbour
tables must be left as they were found), then with one container's link cut
(exactly its own expectations, as source and as target, must fail, every
time), then mended.
"""

from __future__ import annotations

import json
import re

N = 100
PEERS = 10
CUT = "c53"

LAB = f"""
topology e1k
bridge e1 {{ address 10.63.0.1/16 }}
for i in 2..{N + 1} {{ container c${{i}} {{ net e1 }} }}
for i in 2..{N + 1} {{ for j in 0..{PEERS - 1} {{ expect c${{i}} can reach c${{(i + j) % {N} + 2}} }} }}
"""


def pairs() -> list[tuple[str, str]]:
    """(source, target) of each expectation, in file order, as the loops above make them."""
    return [(f"c{i}", f"c{(i + j) % N + 2}") for i in range(2, N + 2) for j in range(PEERS)]


def run_test(netns, path) -> dict:
    r = netns.pipenet("test", path, "--json", timeout=120)
    assert r.returncode in (0, 4), r.stderr
    return json.loads(r.stdout)


def failed(doc) -> set[tuple[str, str]]:
    out = set()
    for x in doc["results"]:
        if not x["passed"]:
            m = re.fullmatch(r"(\S+) can reach (\S+)", x["expectation"])
            out.add((m.group(1), m.group(2)))
    return out


def neighbour_entries(netns) -> int:
    """IPv4 neighbour entries, in any state, over every namespace of the lab."""
    out = netns.run(["ip", "-all", "netns", "exec", "ip", "-4", "neigh", "show"]).stdout
    return sum(1 for line in out.splitlines() if line.strip() and not line.startswith("netns:"))


def test_a_thousand_probes_pass_every_time_and_a_cut_link_fails_exactly_its_own(netns, tmp_path):
    path = tmp_path / "e1k.pn"
    path.write_text(LAB)
    assert netns.pipenet("up", str(path)).returncode == 0
    expected_pairs = pairs()
    assert len(expected_pairs) == N * PEERS
    before = neighbour_entries(netns)
    for _ in range(3):
        doc = run_test(netns, str(path))
        assert (doc["passed"], doc["failed"]) == (N * PEERS, 0), sorted(failed(doc))[:10]
        assert [tuple(re.fullmatch(r"(\S+) can reach (\S+)", x["expectation"]).groups())
                for x in doc["results"]] == expected_pairs  # file order
        assert all(re.fullmatch(r"ping 10\.63\.\d+\.\d+: answered in [\d.]+ ms", x["detail"])
                   for x in doc["results"])
        # what the probes made in the neighbour tables they gave back (it used to be 2,000 entries)
        assert neighbour_entries(netns) == before

    assert netns.pipenet("exec", CUT, "--", "ip", "link", "set", "eth0", "down").returncode == 0
    cut = {(s, t) for s, t in expected_pairs if CUT in (s, t)}
    assert len(cut) == 2 * PEERS
    for _ in range(2):
        doc = run_test(netns, str(path))
        assert failed(doc) == cut
        assert doc["passed"] == N * PEERS - len(cut)
        details = {x["detail"] for x in doc["results"] if not x["passed"]}
        assert all("no echo reply within 3 s" in d for d in details), details
        assert any("Network is unreachable" in d for d in details), details  # c53's own: no route at all

    assert netns.pipenet("exec", CUT, "--", "ip", "link", "set", "eth0", "up").returncode == 0
    doc = run_test(netns, str(path))
    assert (doc["passed"], doc["failed"]) == (N * PEERS, 0), sorted(failed(doc))[:10]
    assert netns.pipenet("down", "e1k").returncode == 0
