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


def test_a_run_that_makes_fewer_namespaces_than_the_threshold_forks_no_check(tmp_path, monkeypatch):
    from pipenet.backends.recording import RecordingKernel

    def forks(*_a, **_k):
        raise AssertionError("a check was started")

    monkeypatch.setattr(RecordingKernel, "fork_work", forks)
    *_, kept = _up(tmp_path, monkeypatch, n=3, at=4)
    assert not kept


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


def test_an_answer_waited_for_is_worked_on_at_this_process_priority():
    """`Forked.hurry`: once its answer is waited for, the child set aside has this process's priority."""
    import time

    from pipenet.backends.kernel import Kernel

    k = Kernel()
    try:
        def child():
            time.sleep(0.2)
            return os.getpriority(os.PRIO_PROCESS, 0)

        forked = k.fork_work(child, aside=True)
        forked.hurry()
        assert forked.answer() == (True, os.getpriority(os.PRIO_PROCESS, 0))
    finally:
        k.close()


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
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
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
