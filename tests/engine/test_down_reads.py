"""What `down` reads of the live system before it removes anything, on the recording kernel.

A namespace pipenet deletes takes its addresses, routes and rules with it, so `down` checks the
namespace's own mark (its loopback alone, not a dump of its interfaces) and the marks of the host's
interfaces, and does not read the inside of each namespace (three dumps each: about 1 s at 4,000
containers). The
ownership rule is the same as before: a namespace whose mark is not pipenet's stays, with what is in
it.
"""

from __future__ import annotations

import pytest

TOPOLOGY = """topology dr
bridge br0 { address 10.61.0.1/24 }
container a { net br0; route 10.62.0.0/24 via 10.61.0.1 }
container b { net br0 }
container c { net none }
p2p b:eth1 10.63.0.1/30 -- c:eth0 10.63.0.2/30
"""


@pytest.fixture
def up(tmp_path, monkeypatch):
    """A recording kernel with the topology applied, and its record saved where `down` finds it."""
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal
    from pipenet.engine.state import StateDir
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    monkeypatch.setenv("PIPENET_STATE_DIR", str(tmp_path / "state"))
    ops, ns = compile_topology(load_text(TOPOLOGY, "dr.pn"))
    k = RecordingKernel()
    plan = diff(ops, [])
    execute(plan, k, Journal(str(tmp_path / "journal")))
    StateDir("dr").save({"topology": "dr", "ops": [op.to_json() for op in plan.final], "ns": ns, "generation": 1})
    k.reads.clear()
    return k


def _down(k):
    from pipenet.engine.session import down

    plan, existed = down("dr", k)
    assert existed
    return plan


def test_down_reads_each_namespace_s_links_and_never_its_addresses_and_routes(up):
    k = up
    containers = {"dr@a", "dr@b", "dr@c"}
    assert containers <= set(k.state["ns"])
    plan = _down(k)
    assert not containers & set(k.state["ns"])  # all deleted
    assert sorted(k.reads) == [("links", ""), ("mark", "dr@a"), ("mark", "dr@b"), ("mark", "dr@c")]
    # what goes with each namespace is still named, from the record (a rollback makes it again): by the
    # removal that takes it first (a's address and route go with the pair they are on, removed before
    # a's namespace), once
    implied = [(s.op.key, o.key) for s in plan.steps for o in s.implied]
    named = [key for _, key in implied]
    assert len(named) == len(set(named)), implied
    assert ("link:a:eth0", "route:a:10.62.0.0/24:0") in implied and ("link:a:eth0", "addr:a:eth0:10.61.0.2/24") in implied
    assert ("netns:c", "link:b:eth1") in implied


def test_down_leaves_a_namespace_whose_loopback_does_not_carry_its_mark(up):
    k = up
    k.state["ns"]["dr@c"]["links"]["lo"]["alias"] = "someone else's"
    _down(k)
    assert "dr@c" in k.state["ns"] and not {"dr@a", "dr@b"} & set(k.state["ns"])
    assert [r for r in k.reads if r[0] not in ("links", "mark")] == []
