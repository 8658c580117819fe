"""Planner and executor against the recording kernel: fast, exhaustive, no root needed."""

from __future__ import annotations

import re

import pytest

from pipenet.backends.recording import RecordingKernel
from pipenet.engine.executor import execute, rollback
from pipenet.engine.journal import Journal, read as read_journal
from pipenet.engine.live import LiveView
from pipenet.errors import ApplyFailed, Leftovers
from pipenet.lang import load_text
from pipenet.plan.compile import compile_topology
from pipenet.plan.diff import diff

BASE = """
topology unit
bridge br0 { address 10.0.0.1/24 }
container a { net br0; forwarding on }
container b { net br0; address 10.0.0.50 }
container r { net none }
p2p a:eth1 10.1.1.1 -- r:eth1 10.1.1.2
p2p host:pnh 10.9.0.1/30 -- r:eth2 10.9.0.2/30
host { route 10.77.0.0/16 via 10.9.0.2 }
"""


def ops_for(src):
    ops, _ns = compile_topology(load_text(src, "unit.pn"))
    return ops


def apply_plan(k, plan, tmp_path):
    execute(plan, k, Journal(str(tmp_path / "journal")))


def test_first_plan_applies_everything_in_dependency_order():
    ops = ops_for(BASE)
    plan = diff(ops, [])
    assert [s.action for s in plan.steps] == ["apply"] * len(ops)
    kinds = [s.op.kind for s in plan.steps]
    last = {k: max(i for i, x in enumerate(kinds) if x == k) for k in kinds}
    first = {k: kinds.index(k) for k in kinds}
    assert last["netns"] < first["bridge"] < first["veth"] and last["veth"] < first["route"]
    assert len(plan.steps) >= 20


def test_same_file_plans_nothing():
    ops = ops_for(BASE)
    assert diff(ops_for(BASE), ops).empty


def test_changed_address_changes_only_that(tmp_path):
    before = ops_for(BASE)
    after = ops_for(BASE.replace("address 10.0.0.50", "address 10.0.0.60"))
    plan = diff(after, before)
    touched = [(s.action, s.op.kind) for s in plan.steps]
    # b's eth0 MAC is derived from its address, so its port is re-made (with address and route)
    assert ("remove", "veth") in touched and ("apply", "addr") in touched
    assert not any(s.op.kind == "netns" for s in plan.steps)  # no namespace is recreated
    assert all("b" in s.op.key for s in plan.steps)


def test_removed_container_takes_its_children_implicitly():
    before = ops_for(BASE)
    after = ops_for(BASE.replace("container b { net br0; address 10.0.0.50 }", ""))
    plan = diff(after, before)
    removed = [s.op.key for s in plan.steps if s.action == "remove"]
    # its files, its port (explicitly: the kernel's cascade is asynchronous), then its namespace
    assert removed == ["etc:b", "link:b:eth0", "netns:b"]
    assert not [s for s in plan.steps if s.action == "apply"]


def test_down_removes_only_top_level_objects():
    before = ops_for(BASE)
    plan = diff([], before)
    kinds = {s.op.kind for s in plan.steps}
    assert "addr" not in {s.op.kind for s in plan.steps if getattr(s.op, "node", "host") != "host"}
    assert {"netns", "bridge", "veth"} <= kinds


def test_verdicts_known_before_the_diff_are_taken_as_they_are(tmp_path):
    """`down` checks the /etc files while a forked child reads the namespaces' marks, and hands those
    verdicts to the diff (`known`): each is used as it is (not checked again), a foreign one keeps its
    object, and the others are checked live."""
    from pipenet.plan.ops import OK
    from pipenet.plan.ops.base import foreign

    k = RecordingKernel()
    ops = ops_for(BASE)
    apply_plan(k, diff(ops, []), tmp_path)
    etc = [op for op in ops if op.kind == "etc"]
    assert len(etc) >= 2
    view = LiveView(k)
    known = {etc[0].key: foreign("replaced for the test"), etc[1].key: OK}
    checked = []
    real = type(etc[1]).check
    type(etc[1]).check = lambda self, v: checked.append(self.key) or real(self, v)
    try:
        plan = diff([], ops, view, read_children=False, known=known)
    finally:
        type(etc[1]).check = real
    removed = {s.op.key for s in plan.steps}
    assert etc[0].key not in removed and etc[1].key in removed
    assert plan.verdicts[etc[0].key].state == "foreign"
    assert etc[0].key not in checked and etc[1].key not in checked
    assert {op.key for op in etc[2:]} <= set(checked)
    assert "netns:a" in removed


def test_apply_then_down_restores_the_recorded_kernel(tmp_path):
    k = RecordingKernel()
    before = k.snapshot()
    ops = ops_for(BASE)
    plan = diff(ops, [])
    apply_plan(k, plan, tmp_path)
    assert "unit@a" in k.state["ns"] and k.state["ns"]["unit@a"]["sysctls"]["net.ipv4.ip_forward"] == "1"
    down = diff([], plan.final)
    apply_plan(k, down, tmp_path)
    assert k.snapshot() == before


@pytest.mark.parametrize("converge", [False, True], ids=["first-up", "converging-up"])
def test_failure_at_every_step_rolls_back_exactly(tmp_path, converge, inject):
    k = RecordingKernel()
    recorded = []
    if converge:
        first = diff(ops_for(BASE), [])
        apply_plan(k, first, tmp_path)
        recorded = first.final
        target = ops_for(BASE.replace("address 10.0.0.50", "address 10.0.0.60")
                         .replace("container r { net none }", "container r { net none; forwarding on }")
                         .replace("host { route 10.77.0.0/16 via 10.9.0.2 }", "") + "\ncontainer c { net br0 }\n")
    else:
        target = ops_for(BASE)
    plan = diff(target, recorded)
    assert len(plan.steps) >= 8
    before = k.snapshot()
    for n in range(1, len(plan.steps) + 1):
        inject(fail_step=n)
        plan = diff(target, [type(o).from_json(o.to_json()) for o in recorded], LiveView(k))
        with pytest.raises(ApplyFailed, match=f"step {n} of"):
            apply_plan(k, plan, tmp_path)
        assert k.snapshot() == before, f"state differs after a failure at step {n}"
        assert read_journal(str(tmp_path / "journal")) is None  # a finished rollback removes its journal


def test_a_failed_undo_is_listed_and_nothing_else(tmp_path, inject):
    k = RecordingKernel()
    plan = diff(ops_for(BASE), [])
    inject(fail_step=6, fail_undo=2)
    with pytest.raises(Leftovers) as e:
        apply_plan(k, plan, tmp_path)
    assert len(e.value.remaining) == 1
    assert plan.steps[1].op.describe_undo()[0] in e.value.remaining[0]
    # the journal is kept, so a later run knows something was left
    assert read_journal(str(tmp_path / "journal")) is not None


def test_journal_of_a_killed_run_is_taken_over_then_removed_by_down(tmp_path):
    """A run killed after seven steps: its started steps go into the record (nothing is undone
    blindly), and `down` of that record against the live system removes exactly what was made."""
    k = RecordingKernel()
    before = k.snapshot()
    plan = diff(ops_for(BASE), [])
    j = Journal(str(tmp_path / "journal"))
    j.begin(plan.steps, 0)
    for i, step in enumerate(plan.steps[:7]):  # a run that was killed after seven steps
        step.op.prepare(k)
        j.start(i, step)
        if i < 6:  # the seventh was journaled, then the process died before touching the kernel
            step.op.apply(k)
            j.done(i, step)
    j.f.close()
    started = read_journal(str(tmp_path / "journal")).started
    assert [s.op.key for s in started] == [s.op.key for s in plan.steps[:7]]
    record = [s.op for s in started]
    down = diff([], [type(o).from_json(o.to_json()) for o in record], LiveView(k))
    # the seventh never reached the kernel: it is not removed, nor anything of what it would have made
    assert plan.steps[6].op.key not in {s.op.key for s in down.steps}
    apply_plan(k, down, tmp_path)
    assert k.snapshot() == before


def test_sysctl_saved_value_survives_in_the_record(tmp_path):
    k = RecordingKernel()
    k.state["ns"][""]["sysctls"]["net.ipv4.ip_forward"] = "0"
    src = BASE.replace("host { route", "host { forwarding on; route")
    plan = diff(ops_for(src), [])
    apply_plan(k, plan, tmp_path)
    assert k.state["ns"][""]["sysctls"]["net.ipv4.ip_forward"] == "1"
    again = diff(ops_for(src), [type(o).from_json(o.to_json()) for o in plan.final])
    assert again.empty
    down = diff([], again.final)
    apply_plan(k, down, tmp_path)
    assert k.state["ns"][""]["sysctls"]["net.ipv4.ip_forward"] == "0"


def test_describe_gives_commands_a_person_would_type():
    ops = ops_for(BASE)
    text = "\n".join(line for op in ops for line in op.describe())
    assert "ip netns add unit@a" in text
    assert re.search(r"ip link add name br0 address (..:){5}.. type bridge", text)
    assert "ip link set dev br0 alias pipenet:unit:link:host:br0" in text  # the mark pipenet reads back
    assert "ip -n unit@a addr add 10.0.0.2/24 dev eth0" in text
    assert "ip -n unit@r route add 10.1.1.1/32 dev eth1 proto 112" in text
    assert "ip route add 10.77.0.0/16 via 10.9.0.2 proto 112" in text
    assert "ip netns exec unit@a sysctl -q -w net.ipv4.ip_forward=1" in text
