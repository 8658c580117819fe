"""Which journal lines are forced to the disk, and when (`engine.journal`, `Op.persistent`).

Every line a later run reads back is written and flushed before its step runs, whatever the step (a
killed process has written it). Only the lines of steps that change what outlives a reboot (a node's
/etc files, its kept files, the host-settings ledger) are fsynced: with the state directory on a disk
(on this project's machine /run is a directory of the root filesystem), one fsync a step cost `up` of
1,000 containers about a second. On the recording kernel, with `os.fsync` counted.
"""

from __future__ import annotations

import errno
import os

import pytest

from pipenet.backends.recording import RecordingKernel
from pipenet.engine import journal as journals
from pipenet.engine.executor import execute
from pipenet.engine.journal import Journal
from pipenet.errors import ApplyFailed
from pipenet.lang import load_text
from pipenet.plan.compile import compile_topology
from pipenet.plan.diff import diff


def _topology(n: int) -> str:
    return ("topology d\nbridge br0 { address 10.0.0.1/24 }\n"
            + "".join(f"container c{i} {{ net br0; dns 10.0.0.1 }}\n" for i in range(1, n + 1)))


def _plan(n: int):
    ops, _ = compile_topology(load_text(_topology(n), "d.pn"))
    return diff(ops, [])


def _journal_lines(path: str) -> list[str]:
    with open(path) as f:
        return f.read().splitlines()


@pytest.fixture
def fsyncs(monkeypatch):
    """Each fsync of the journal: the journal's lines at that moment."""
    seen: list[list[str]] = []
    real = os.fsync

    def counted(fd):
        real(fd)
        seen.append(_journal_lines(os.readlink(f"/proc/self/fd/{fd}")))

    monkeypatch.setattr(journals.os, "fsync", counted)
    return seen


@pytest.mark.parametrize("n", [3, 40])
def test_only_the_lines_of_steps_that_outlive_a_reboot_are_fsynced(n, tmp_path, fsyncs):
    """The header (the plan has /etc files), the host-settings ledger's step (ip_forward), the /etc files'
    start lines (one batch) and their done lines (they learn their stamps): four fsyncs, at 3 containers
    as at 40. Before, every step's start line was fsynced: 20 and 137 here."""
    plan = _plan(n)
    kinds = [s.op.kind for s in plan.steps]
    assert kinds.count("etc") == n and kinds.count("netns") == n and kinds.count("veth") == n
    execute(plan, RecordingKernel(), Journal(str(tmp_path / "j")))
    assert len(fsyncs) == 4, [lines[-1][:60] for lines in fsyncs]
    etc = [i for i, k in enumerate(kinds) if k == "etc"]
    setting = kinds.index("host-setting")
    header, ledger, starts, dones = fsyncs
    assert len(header) == 1 and '"plan":' in header[0]
    assert ledger[-1] == f'{{"start":{setting},"saved":null}}'
    # the files' start lines, all of them, in one write (nothing between them), the last one last
    assert [line.split(",")[0] for line in starts[-n:]] == [f'{{"start":{i}' for i in etc]
    assert dones[-1].startswith(f'{{"done":{etc[-1]},"saved":')


def test_every_step_s_start_line_is_in_the_file_before_its_kernel_call(tmp_path, fsyncs, monkeypatch):
    """Flushed, not fsynced: a process killed in the middle of a step has written that step's line, and the
    /etc files' lines are on the disk before the first file is written."""
    plan = _plan(3)
    path = str(tmp_path / "j")
    k = RecordingKernel()
    index = {id(s.op): i for i, s in enumerate(plan.steps)}
    seen: list[tuple[str, bool, int]] = []

    def watch(name, op_of):
        real = getattr(k, name)

        def call(*a, **kw):
            i = op_of(a)
            lines = _journal_lines(path)
            seen.append((name, any(line.startswith(f'{{"start":{i},') for line in lines), len(fsyncs)))
            return real(*a, **kw)

        monkeypatch.setattr(k, name, call)

    by_peer = {s.op.peer_ns: index[id(s.op)] for s in plan.steps if s.op.kind == "veth"}
    by_dir = {s.op.directory: index[id(s.op)] for s in plan.steps if s.op.kind == "etc"}
    watch("veth_add", lambda a: by_peer[a[2]])
    watch("etc_write", lambda a: by_dir[a[0]])
    execute(plan, k, Journal(path))
    assert [n for n, _, _ in seen].count("veth_add") == 3 and [n for n, _, _ in seen].count("etc_write") == 3
    assert all(written for _, written, _ in seen), seen
    # the veths' lines were never fsynced (only the header was, before them); the files' were, before the first
    assert {at for n, _, at in seen if n == "veth_add"} == {1}
    assert [at for n, _, at in seen if n == "etc_write"] == [3, 3, 3]  # (the header, ip_forward's, theirs)


def test_a_file_that_cannot_be_written_rolls_back_the_files_written_before_it_in_the_batch(tmp_path, monkeypatch):
    """The /etc files are written as one batch: when the second node's cannot be (a full disk), the
    first node's are removed again with everything else, and the message names the step that failed."""
    plan = _plan(3)
    k = RecordingKernel()
    before = k.snapshot()
    real = k.etc_write
    written: list[str] = []

    def full(directory, content):
        if len(written) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(directory)
        return real(directory, content)

    monkeypatch.setattr(k, "etc_write", full)
    with pytest.raises(ApplyFailed) as e:
        execute(plan, k, Journal(str(tmp_path / "j")))
    second = [i for i, s in enumerate(plan.steps) if s.op.kind == "etc"][1]
    assert f"step {second + 1} of {len(plan.steps)} failed" in str(e.value)
    assert "No space left on device" in str(e.value) and "rolled back" in str(e.value)
    assert ("etc_restore", written[0]) in k.calls
    assert k.snapshot() == before


def test_a_removal_is_never_fsynced(tmp_path, fsyncs):
    """What a `down` removes is listed by the record until the run commits: none of its lines (the header
    of thousands of steps at scale included) need reach the disk before it runs."""
    plan = _plan(5)
    k = RecordingKernel()
    execute(plan, k, Journal(str(tmp_path / "j1")))
    made = len(fsyncs)
    removal = diff([], plan.final)
    assert {s.op.kind for s in removal.steps} >= {"etc", "host-setting", "netns", "veth"}
    execute(removal, k, Journal(str(tmp_path / "j2")))
    assert len(fsyncs) == made
    assert "etc" not in k.state


def test_a_rollback_removes_a_topologys_bridge_ports_namespaces_and_files_in_batches(tmp_path, monkeypatch):
    """What a failed `up` made is undone as `down` removes it: the bridge ports and their bridge in one
    request, the namespaces in one hand-over, the /etc files as one step; one by one, each port waited
    for the kernel (25 ms a port at a few hundred). The system is as it was before."""
    plan = _plan(30)
    k = RecordingKernel()
    before = k.snapshot()

    def refused(*a, **kw):  # (the step after the ports, the addresses and the routes)
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(k, "host_setting_acquire", refused)
    with pytest.raises(ApplyFailed):
        execute(plan, k, Journal(str(tmp_path / "j")))
    assert k.snapshot() == before
    undone = [c for c in k.calls if c[0] in ("link_del", "link_del_many")]
    assert undone == [("link_del_many", "", 31)], undone  # the 30 ports and the bridge, one request
    assert ("netns_delete_many", 30) in k.batches  # (which the recording kernel does one by one)


def test_a_pair_removed_on_its_own_step_is_not_also_taken_along_by_the_namespace(tmp_path):
    """c goes from the file; the pair a:p0 -- c:p0 is removed on a step of its own, with its addresses,
    and c's namespace step does not list them again (a rollback would make them twice, and `plan` said
    a's address went with c's namespace)."""
    first = load_text("topology re\ncontainer a\ncontainer c\np2p a:p0 10.76.0.1/30 -- c:p0 10.76.0.2/30\n", "re.pn")
    second = load_text("topology re\ncontainer a\n", "re.pn")
    made = diff(compile_topology(first)[0], [])
    plan = diff(compile_topology(second)[0], made.final)
    removals = {s.op.key: [o.key for o in s.implied] for s in plan.steps if s.action == "remove"}
    pair = next(k for k in removals if k.startswith("link:"))
    assert sorted(removals[pair]) == sorted(k for k in (o.key for o in made.final) if k.startswith("addr:")), removals
    assert not any(k.startswith(("addr:", "link:")) for k in removals["netns:c"]), removals["netns:c"]
    kinds = [s.op.kind for s in plan.steps]
    assert kinds.index("veth") < kinds.index("netns")  # (the pair first, while both its ends are there)
