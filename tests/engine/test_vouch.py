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
from tests.engine.test_verified import DRIFTS, N, _kept, topology


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
    vouching = vouch.Vouching(plan.final, k)

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


def test_a_small_topology_forks_no_check(tmp_path, monkeypatch):
    from pipenet.backends.kernel import Kernel

    def forks(*_a, **_k):
        raise AssertionError("a check was started")

    monkeypatch.setattr(Kernel, "fork_work", forks)
    *_, kept = _up(tmp_path, monkeypatch, n=3, at=vouch.AT)
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
    """`Kernel.fork_work(aside=True)`: the child runs at the lowest priority in a process group of its own;
    `stop` kills the group (a grandchild too), and leaves no zombie."""
    import time

    from pipenet.backends.kernel import Kernel

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
        grandchild, nice = (int(x) for x in os.read(r, 100).split())
        assert nice == 19 and os.getpgid(grandchild) == forked.pid
        forked.stop()
        for _ in range(200):
            if not os.path.exists(f"/proc/{grandchild}") or _state(grandchild) == "Z":
                break
            time.sleep(0.01)
        assert not os.path.exists(f"/proc/{forked.pid}")  # (killed and reaped)
        assert not os.path.exists(f"/proc/{grandchild}") or _state(grandchild) == "Z"  # (killed)
    finally:
        os.close(r)
        os.close(w)
        k.close()


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def test_an_answer_waited_for_is_taken_at_normal_priority_where_it_may_be():
    """`Forked.hurry`: root gives the child back its priority once its answer is waited for."""
    import time

    from pipenet.backends.kernel import Kernel

    k = Kernel()
    try:
        def child():
            time.sleep(0.3)
            return os.getpriority(os.PRIO_PROCESS, 0)

        forked = k.fork_work(child, aside=True)
        for _ in range(100):  # (the child lowers its own priority first thing)
            if os.getpriority(os.PRIO_PROCESS, forked.pid) == 19:
                break
            time.sleep(0.005)
        assert os.getpriority(os.PRIO_PROCESS, forked.pid) == 19
        forked.hurry()
        assert forked.answer() == (True, 0 if os.geteuid() == 0 else 19)
    finally:
        k.close()


# ---- the real kernel ---------------------------------------------------------------------------------------
BIG = vouch.AT  # (containers: the least that makes `up` leave the memo)


def _big(n: int) -> str:
    """N containers on two bridges (a bridge holds at most 1,023 ports)."""
    half = n // 2
    return ("topology vouch\nbridge br0 { address 10.62.0.1/16 }\nbridge br1 { address 10.63.0.1/16 }\n"
            f"for i in 1..{half} {{\n    container a${{i}} {{ net br0 }}\n}}\n"
            f"for i in 1..{n - half} {{\n    container b${{i}} {{ net br1 }}\n}}\n")


def test_a_big_up_leaves_the_memo_and_drift_is_still_seen(netns, tmp_path):
    path = tmp_path / "vouch.pn"
    path.write_text(_big(BIG))
    assert netns.pipenet("up", str(path)).returncode == 0
    kept = json.loads(netns.out(["cat", "/run/pipenet/vouch/verified.json"]))
    record = json.loads(netns.out(["cat", "/run/pipenet/vouch/record.json"]))
    assert len(kept["namespaces"]) == BIG and len(kept["ports"]) == BIG
    assert kept["key"][:2] == [record["generation"], record["written"]]  # (keyed by the record `up` wrote)
    assert netns.run(["pgrep", "-f", str(path)], check=False).stdout.strip() == ""  # (no checker left)

    # the first no-op vouches with it: nothing decoded again, so nothing new to keep (the file unchanged)
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    assert json.loads(netns.out(["cat", "/run/pipenet/vouch/verified.json"])) == kept

    netns.run(["ip", "-n", "vouch@b7", "route", "del", "default"])
    plan = netns.pipenet("plan", str(path))
    assert "ip -n vouch@b7 route add default via 10.63.0.1" in plan.stdout, (plan.stdout, plan.stderr)
    assert netns.pipenet("up", str(path)).returncode == 0
    assert "default via 10.63.0.1" in netns.out(["ip", "-n", "vouch@b7", "route"])
    assert netns.pipenet("down", "vouch").returncode == 0


def test_a_big_up_that_fails_after_the_check_started_leaves_no_memo_and_no_process(netns, tmp_path):
    """The check starts once the routes are made; the last step (a container's /etc files) fails after
    it: the run rolls back, the child is stopped, and nothing of the run is left."""
    import re

    path = tmp_path / "vouch.pn"
    path.write_text(_big(BIG))
    plan = netns.pipenet("plan", str(path))
    steps = int(re.search(r"vouch: ([0-9,]+) steps", plan.stdout + plan.stderr).group(1).replace(",", ""))
    assert plan.stdout.strip().splitlines()[steps - 1].split()[-1] == f"/etc/netns/vouch@b{BIG - BIG // 2}"
    up = netns.faultrun("up", str(path), fail_step=steps)
    assert up.returncode != 0 and "rolled back" in up.stderr, up.stderr
    assert netns.run(["pgrep", "-f", str(path)], check=False).stdout.strip() == ""
    assert netns.run(["test", "-e", "/run/pipenet/vouch"], check=False).returncode != 0
    assert "vouch@" not in netns.out(["ip", "netns", "list"])
