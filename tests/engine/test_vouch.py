"""`up` leaves the memo of what it made (`engine.vouch`): the first no-op after a big `up` is as quick as the
next ones.

What must hold: the memo `up` leaves is exactly the one the first no-op's own check would have left
(the same digests, the same bridge ports), it is kept only when that check found every entry live as
made (drift between the change and the check leaves none), a run that fails or is interrupted leaves
no memo and no process behind, a small topology forks nothing, and on the real kernel the memo is there
right after `up`, the next `up` vouches with it, and drift is still seen, planned and repaired.
"""

from __future__ import annotations

import json
import os

import pytest

from pipenet.engine import vouch
from pipenet.engine.live import SPLIT_AT
from tests.engine.test_verified import DRIFTS, _kept, topology

N = SPLIT_AT // 4 + 25  # (four entries a container are vouched for: the check is shared by two processes)


def _up(tmp_path, monkeypatch, n: int = N, drift=None, at: int = 1):
    """`up`'s run on the recording kernel, with the check of `engine.vouch` (from `at` namespaces on) and
    `drift` done to the live system once the steps that change namespaces are made: (kernel, record's
    JSON, state, the record as written, whether a memo was kept)."""
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal
    from pipenet.engine.state import StateDir
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    monkeypatch.setenv("PIPENET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(vouch, "AT", at)
    ops, _ns = compile_topology(load_text(topology(n), "memo.pn"))
    k = RecordingKernel()
    plan = diff(ops, [])
    vouching = vouch.Vouching(plan, k)

    def start():
        if drift is not None:
            drift(k)
        vouching.start()

    execute(plan, k, Journal(str(tmp_path / "journal")), after=(vouch.last_changing(plan.steps), start, vouching.drop))
    state = StateDir("memo")
    docs = [op.to_json() for op in plan.final]
    saved = state.save({"topology": "memo", "ops": docs, "ns": {}, "generation": 1})
    return k, docs, state, saved, vouching.finish(state, saved)


def test_up_leaves_the_memo_the_first_check_would_have_left(tmp_path, monkeypatch):
    from pipenet.engine import verified

    k, docs, state, saved, kept = _up(tmp_path, monkeypatch)
    assert kept
    memo, ports = verified.load_both(state, state.load())
    assert len(memo) == N and len(ports) == N
    assert (memo, ports) == _kept(k, docs)  # (what the first no-op's check, without a memo, keeps)


@pytest.mark.parametrize("case", sorted(DRIFTS))
def test_drift_between_the_change_and_the_check_leaves_no_memo(tmp_path, monkeypatch, case):
    _k, _docs, state, _saved, kept = _up(tmp_path, monkeypatch, drift=DRIFTS[case])
    assert not kept
    assert not os.path.exists(os.path.join(state.path, "verified.json"))


def _forks(monkeypatch) -> list:
    """The checks the recording kernel is asked to start from now on (none is started)."""
    from pipenet.backends.recording import Done, RecordingKernel

    calls: list = []

    def forks(self, in_child, aside=False):
        calls.append(aside)
        return Done(None)

    monkeypatch.setattr(RecordingKernel, "fork_work", forks)
    return calls


def test_a_run_that_makes_fewer_namespaces_than_the_threshold_forks_no_check(tmp_path, monkeypatch):
    calls = _forks(monkeypatch)
    *_, kept = _up(tmp_path, monkeypatch, n=3, at=4)
    assert not kept and calls == []
    *_, kept = _up(tmp_path, monkeypatch, n=4, at=4)
    assert calls == [True]  # (at the threshold: started, set aside)


def test_an_edit_of_a_big_topology_forks_no_check(monkeypatch):
    """What counts is the namespaces this run makes, not the topology's: two containers added to ten make
    two, whatever the ten."""
    from pipenet.backends.recording import RecordingKernel
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    calls = _forks(monkeypatch)
    before, _ns = compile_topology(load_text(topology(10), "memo.pn"))
    after, _ns = compile_topology(load_text(topology(12), "memo.pn"))
    plan = diff(after, before)
    assert sum(s.action == "apply" and s.op.kind == "netns" for s in plan.steps) == 2
    monkeypatch.setattr(vouch, "AT", 3)
    vouch.Vouching(plan, RecordingKernel()).start()
    assert calls == []
    monkeypatch.setattr(vouch, "AT", 2)
    vouch.Vouching(plan, RecordingKernel()).start()
    assert calls == [True]


def test_the_check_starts_after_a_last_batch_run_in_the_background(tmp_path):
    """A plan whose last steps are one long removal (`executor.in_background`) ends without a step after
    it: what was to start after them starts then."""
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute, in_background
    from pipenet.engine.journal import Journal
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    ops, _ns = compile_topology(load_text(topology(3), "memo.pn"))
    k = RecordingKernel()
    execute(diff(ops, []), k, Journal(str(tmp_path / "up")))
    plan = diff([], ops)  # (everything removed: the bridge ports in one background request)
    assert in_background(plan.steps[-1:]) or any(in_background([s]) for s in plan.steps)
    started: list = []
    execute(plan, k, Journal(str(tmp_path / "down")), after=(len(plan.steps), lambda: started.append(1), lambda: None))
    assert started == [1]


def test_the_check_starts_once_the_last_step_that_changes_a_namespace_is_made():
    """Files, firewall rules and host settings come after the steps whose objects the check reads; the
    check starts after the last of those, whatever comes later."""
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    ops, _ns = compile_topology(load_text(topology(3), "memo.pn"))
    steps = diff(ops, []).steps
    n = vouch.last_changing(steps)
    assert {s.op.kind for s in steps[n:]} == {"etc", "firewall", "host-setting"}
    assert steps[n - 1].op.kind == "route"
    assert vouch.last_changing([s for s in steps if s.op.anywhere]) == 0


def test_a_child_set_aside_is_stopped_with_every_process_it_forked():
    """`Kernel.fork_work(aside=True)`: the child runs in a process group of its own, at the lowest priority
    where this process may give it back its own (`can_renice`); `stop` kills the group (a grandchild
    too), and leaves no zombie."""
    import time

    from pipenet.backends.kernel import Kernel, can_renice

    k = Kernel()
    r, w = os.pipe()
    forked = None
    try:
        def child():
            if os.fork() == 0:  # (the grandchild: says who it is, then waits)
                os.write(w, f"{os.getpid()} {os.getpriority(os.PRIO_PROCESS, 0)}\n".encode())
                time.sleep(60)
                os._exit(0)
            time.sleep(60)
            return "never"

        forked = k.fork_work(child, aside=True)
        os.close(w)  # (the children's copies only: a child that dies ends the read)
        w = -1
        grandchild, nice = (int(x) for x in os.read(r, 100).split())
        assert nice == (19 if can_renice() else os.getpriority(os.PRIO_PROCESS, 0))
        assert os.getpgid(grandchild) == forked.pid != os.getpgid(0)
        forked.stop()
        assert not os.path.exists(f"/proc/{forked.pid}")  # (killed and reaped)
        for _ in range(200):  # (killed: gone, or a zombie until the machine's init reaps it)
            if _state(grandchild) in ("", "Z"):
                break
            time.sleep(0.01)
        assert _state(grandchild) in ("", "Z")
    finally:
        if forked is not None:
            forked.stop()
        os.close(r)
        if w >= 0:
            os.close(w)
        k.close()


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def test_a_child_set_aside_works_at_the_lowest_priority_until_its_answer_is_waited_for():
    """`Forked.hurry`: the child set aside has this process's priority back once its answer is waited for
    (where this process may give it back: otherwise it never had another)."""
    from pipenet.backends.kernel import Kernel, can_renice

    own = os.getpriority(os.PRIO_PROCESS, 0)
    k = Kernel()
    r, w = os.pipe()
    try:
        def child():
            os.read(r, 1)  # (until the parent has hurried it)
            return os.getpriority(os.PRIO_PROCESS, 0)

        forked = k.fork_work(child, aside=True)
        assert os.getpriority(os.PRIO_PROCESS, forked.pid) == (19 if can_renice() else own)
        forked.hurry()
        os.write(w, b"x")
        assert forked.answer() == (True, own)
    finally:
        os.close(r)
        os.close(w)
        k.close()


def test_a_ctrl_c_while_a_child_is_forked_stops_it():
    """SIGINT is held back while the child is forked and its group set; one that came meanwhile is raised
    once the child is known, and the child is stopped then, not lost."""
    import signal

    from pipenet.backends.kernel import Kernel

    k = Kernel()
    real_fork, pids = os.fork, []

    def fork():
        pid = real_fork()
        if pid:
            pids.append(pid)
            os.kill(os.getpid(), signal.SIGINT)  # (Ctrl-C, now: held back until the mask is restored)
        return pid

    try:
        os.fork = fork
        with pytest.raises(KeyboardInterrupt):
            k.fork_work(lambda: __import__("time").sleep(60), aside=True)
    finally:
        os.fork = real_fork
        k.close()
    assert len(pids) == 1 and _state(pids[0]) == ""  # (killed and reaped)


def test_a_forked_child_dies_with_its_parent():
    """The child holds copies of every descriptor (a topology's lock among them): it must not outlive the
    process that forked it, whatever kills that."""
    import signal
    import subprocess
    import sys
    import time

    code = ("import os, sys, time\n"
            "from pipenet.backends.kernel import Kernel\n"
            "forked = Kernel().fork_work(lambda: time.sleep(60), aside=True)\n"
            "print(forked.pid, flush=True)\n"
            "time.sleep(60)\n")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        child = int(p.stdout.readline())
        assert _state(child) not in ("", "Z")
        p.send_signal(signal.SIGKILL)
        p.wait()
        for _ in range(300):
            if _state(child) in ("", "Z"):
                break
            time.sleep(0.01)
        assert _state(child) in ("", "Z")
    finally:
        p.kill()
        p.wait()


# ---- the real kernel ---------------------------------------------------------------------------------------
BIG = vouch.AT  # (containers: the least that makes `up` leave the memo)


def _big(n: int) -> str:
    """N containers on two bridges (a bridge holds at most 1,023 ports)."""
    half = n // 2
    return ("topology vouch\nbridge br0 { address 10.62.0.1/16 }\nbridge br1 { address 10.63.0.1/16 }\n"
            f"for i in 1..{half} {{\n    container a${{i}} {{ net br0 }}\n}}\n"
            f"for i in 1..{n - half} {{\n    container b${{i}} {{ net br1 }}\n}}\n")


def _gone(netns, path) -> bool:
    """No process runs with this topology file on its command line (the `up`, its check's child and
    grandchild), within a few seconds."""
    import time

    for _ in range(100):
        if netns.run(["pgrep", "-f", str(path)], check=False).stdout.strip() == "":
            return True
        time.sleep(0.05)
    return False


def test_a_big_up_leaves_the_memo_and_drift_is_still_seen(netns, tmp_path):
    path = tmp_path / "vouch.pn"
    path.write_text(_big(BIG))
    assert netns.pipenet("up", str(path)).returncode == 0
    kept = json.loads(netns.out(["cat", "/run/pipenet/vouch/verified.json"]))
    record = json.loads(netns.out(["cat", "/run/pipenet/vouch/record.json"]))
    assert len(kept["namespaces"]) == BIG and len(kept["ports"]) == BIG
    assert kept["key"][:2] == [record["generation"], record["written"]]  # (keyed by the record `up` wrote)
    assert _gone(netns, path)

    # the first no-op vouches with it: nothing decoded again, so nothing new to keep (the file unchanged)
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    assert json.loads(netns.out(["cat", "/run/pipenet/vouch/verified.json"])) == kept

    netns.run(["ip", "-n", "vouch@b7", "route", "del", "default"])
    plan = netns.pipenet("plan", str(path))
    assert "ip -n vouch@b7 route add default via 10.63.0.1" in plan.stdout, (plan.stdout, plan.stderr)
    assert netns.pipenet("up", str(path)).returncode == 0
    assert "default via 10.63.0.1" in netns.out(["ip", "-n", "vouch@b7", "route"])
    assert netns.pipenet("down", "vouch").returncode == 0


def test_a_big_up_that_fails_after_the_check_started_stops_it_first_and_leaves_nothing(netns, tmp_path):
    """The check starts once the routes are made; the last step (a container's /etc files) fails after
    it: the child is stopped before the rollback undoes anything, and nothing of the run is left."""
    import re

    path = tmp_path / "vouch.pn"
    path.write_text(_big(BIG))
    plan = netns.pipenet("plan", str(path))
    steps = int(re.search(r"vouch: ([0-9,]+) steps", plan.stdout + plan.stderr).group(1).replace(",", ""))
    count = tmp_path / "points.json"
    up = netns.faultrun("up", str(path), fail_step=steps, count=str(count))
    assert up.returncode != 0 and "rolled back" in up.stderr, up.stderr
    points = [f"{name} {detail}" for name, detail in json.loads(count.read_text())]
    started, stopped = points.index("vouch start"), points.index("vouch stop")
    first_undo = next(i for i, p in enumerate(points) if p.startswith("undo "))
    assert points.index("step 1") < started < points.index(f"step {steps}") < stopped < first_undo
    assert _gone(netns, path)
    assert netns.run(["test", "-e", "/run/pipenet/vouch"], check=False).returncode != 0
    assert "vouch@" not in netns.out(["ip", "netns", "list"])


def test_a_run_process_that_dies_at_once_stops_the_check_before_the_rollback(tmp_path, monkeypatch):
    """`verify_processes` rolls the run back itself when a `run` process exited straight away: the check
    under way is stopped first."""
    from types import SimpleNamespace

    from pipenet.backends import processes
    from pipenet.engine import session
    from pipenet.errors import ApplyFailed

    order: list[str] = []
    monkeypatch.setattr(session, "SETTLE_SECONDS", 0)
    monkeypatch.setattr(processes, "alive", lambda saved: False)
    monkeypatch.setattr(session, "rollback", lambda steps, k: order.append("rollback") or [])
    log = tmp_path / "p.log"
    log.write_text("it died\n")
    op = SimpleNamespace(kind="process", saved={"pid": 1}, log=str(log), argv=["false"], node="c1")
    p = SimpleNamespace(plan=SimpleNamespace(steps=[SimpleNamespace(action="apply", op=op)]),
                        state=SimpleNamespace(root=str(tmp_path), topology="memo"),
                        vouching=SimpleNamespace(drop=lambda: order.append("drop")))
    journal = SimpleNamespace(rollback=lambda: order.append("journal"), finish=lambda: None)
    with pytest.raises(ApplyFailed):
        session.verify_processes(p, None, journal)
    assert order == ["drop", "journal", "rollback"]
