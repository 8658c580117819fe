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


CREATE_MANY = """
from pipenet.backends.kernel import Kernel
from pipenet.errors import PartlyDone
k = Kernel()
try:
    k.netns_create_many([("bx@a", "pipenet:bx:netns:a", True), ("bx@b", "pipenet:bx:netns:b", True),
                         ("bx@c", "pipenet:bx:netns:c", True)])
except PartlyDone as e:
    print(len(e.done), type(e.cause).__name__, k.netns_mark("bx@a"), k.netns_inode("bx@a") == e.done[0])
"""


def test_on_the_kernel_a_batch_stops_at_a_name_that_is_taken_and_keeps_what_it_made(netns):
    import sys

    netns.run(["ip", "netns", "add", "bx@b"])  # someone's, under the second name
    inode = netns.out(["stat", "-L", "-c", "%i", "/run/netns/bx@b"])
    assert netns.out([sys.executable, "-c", CREATE_MANY]).split() == ["1", "FileExistsError", "pipenet:bx:netns:a",
                                                                     "True"]
    assert netns.out(["stat", "-L", "-c", "%i", "/run/netns/bx@b"]) == inode
    names = {line.split()[0] for line in netns.out(["ip", "netns", "list"]).splitlines()}
    assert {"bx@a", "bx@b"} <= names and "bx@c" not in names  # the third never tried
    for name in ("bx@a", "bx@b"):
        netns.run(["ip", "netns", "del", name])


def test_room_for_many_namespaces_never_touches_a_descriptor_in_use(tmp_path):
    """`_room` grows the descriptor table with one descriptor placed high up: one already open at or
    above that number (a namespace's, opened earlier in the run) is left as it was."""
    import fcntl
    import os

    from pipenet.backends.netns import _room

    probe = os.open("/dev/null", os.O_RDONLY)
    os.close(probe)
    target = probe + 300 + 64  # (where `_room(300)` puts its descriptor: the lowest free is `probe`)
    f = tmp_path / "held"
    f.write_text("mine")
    first = os.open(f, os.O_RDONLY)
    held = fcntl.fcntl(first, fcntl.F_DUPFD, target)
    os.close(first)
    assert held == target
    try:
        before = set(os.listdir("/proc/self/fd"))
        _room(300)
        assert os.fstat(held).st_ino == f.stat().st_ino and os.pread(held, 4, 0) == b"mine"
        assert set(os.listdir("/proc/self/fd")) == before  # (its own descriptor closed again)
    finally:
        os.close(held)
