"""`expect ... within T`: the probe is tried again until it gives the expected verdict or T has passed.

The lab's own `run` processes change its routes a few seconds after `up` (as a routing daemon would once
it has converged): a gains a route to b's 10.0.1.2, c loses its route to b's 10.0.0.2 (a blackhole)."""

from __future__ import annotations

import json
import textwrap

LAB = textwrap.dedent("""
    topology within
    container a { run "sh -c 'sleep 5; ip route add 10.0.1.2/32 via 10.0.0.2; exec sleep 1000'" }
    container b
    container c {
        route 10.0.0.0/24 via 10.0.1.2
        run "sh -c 'sleep 5; ip route add blackhole 10.0.0.2/32; exec sleep 1000'"
    }
    p2p a:e0 10.0.0.1 -- b:e0 10.0.0.2
    p2p c:e0 10.0.1.1 -- b:e1 10.0.1.2
    expect a can reach 10.0.1.2 within 20s
    expect c cannot reach 10.0.0.2 within 20s
    expect a can reach 10.7.7.7 within 2s
    expect b cannot reach a within 2s
""")


def test_within_waits_for_convergence_and_fails_honestly_at_its_deadline(netns, tmp_path):
    path = tmp_path / "within.pn"
    path.write_text(LAB)
    r = netns.pipenet("test", str(path), "--json")
    doc = json.loads(r.stdout or "{}")
    assert r.returncode == 4, (r.stdout, r.stderr)
    res = doc["results"]
    assert [x["passed"] for x in res] == [True, True, False, False], res
    assert "attempt" in res[0]["detail"] and res[0]["seconds"] > 3.0, res[0]
    assert "attempt" in res[1]["detail"] and res[1]["seconds"] > 3.0, res[1]
    assert "still so after" in res[2]["detail"] and 1.5 <= res[2]["seconds"] <= 4.0, res[2]
    assert "answered" in res[3]["detail"] and res[3]["seconds"] <= 4.0, res[3]  # b reaches a: fails honestly
    assert res[0]["expectation"] == "a can reach 10.0.1.2 within 20s"
    # once converged, the same lines pass at the first attempt
    again = json.loads(netns.pipenet("test", str(path), "--json").stdout)["results"]
    assert again[0]["passed"] and "attempt" not in again[0]["detail"], again[0]
    assert netns.pipenet("down", "within").returncode == 0


def test_within_is_read_and_checked_by_the_front_end():
    from pipenet.lang.load import analyse

    topo, diags, _ = analyse("container a\nexpect a can reach a within 2m\nexpect a cannot reach 10.1.1.1 within 1.5s\n"
                             "expect a can reach a\n", "w.pn")
    assert diags == []
    assert [e.within for e in topo.expectations] == [120.0, 1.5, None]
    assert topo.expectations[1].describe() == "a cannot reach 10.1.1.1 within 1.5s"
    _topo, diags, _ = analyse("container a\nexpect a can reach a within 0s\nexpect a can reach a within 2h\n"
                              "expect a can reach a within 3601s\n", "w.pn")
    assert [(d.span.line, d.span.column) for d in diags] == [(2, 29), (3, 29), (4, 29)]
    assert "out of range" in diags[0].message and "expected a duration" in diags[1].message
