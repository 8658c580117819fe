"""A plan's namespaces are made in one go (one hand-over to the namespace thread, about 90 us saved
each), and a batch that fails partway is rolled back like any failed step: the namespaces made before
the failure are removed, the message names the step that failed. On the recording kernel."""

from __future__ import annotations

import pytest

from pipenet.errors import ApplyFailed

TOPOLOGY = """topology bn
bridge br0 { address 10.64.0.1/24 }
container a { net br0 }
container b { net br0 }
container c { net br0 }
"""


def _plan():
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    ops, _ns = compile_topology(load_text(TOPOLOGY, "bn.pn"))
    return diff(ops, [])


def _execute(k, tmp_path):
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal

    plan = _plan()
    execute(plan, k, Journal(str(tmp_path / "journal")))
    return plan


def test_the_namespaces_of_a_plan_are_made_in_one_batch_and_each_keeps_its_inode(tmp_path):
    from pipenet.backends.recording import RecordingKernel

    k = RecordingKernel()
    plan = _execute(k, tmp_path)
    assert k.batches == [("netns_create_many", 3)]
    made = {s.op.ns: s.op.saved["inode"] for s in plan.steps if s.op.kind == "netns"}
    assert made == {ref: k.state["ns"][ref]["inode"] for ref in ("bn@a", "bn@b", "bn@c")}


def test_a_batch_that_fails_partway_is_rolled_back_and_names_its_step(tmp_path):
    from pipenet.backends.recording import RecordingKernel

    clean = RecordingKernel()
    _execute(clean, tmp_path)
    second = [n for n, call in enumerate(clean.calls, 1) if call[0] == "netns_create"][1]
    k = RecordingKernel(fail_on=second)
    with pytest.raises(ApplyFailed) as e:
        _execute(k, tmp_path)
    step = next(n for n, s in enumerate(_plan().steps, 1) if s.op.kind == "netns" and s.op.ns == "bn@b")
    assert f"step {step} of" in str(e.value) and "rolled back" in str(e.value)
    assert set(k.state["ns"]) == {""}  # bn@a, made before the failure, is gone again
