"""Faults at every step of the playground's plan, and seeded SIGKILLs during up and down."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

from tests import snapshot

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
FOPNP = os.path.abspath(os.path.join(EXAMPLES, "foundations.pn"))
SEED = 20261128


def full_snapshot(netns) -> dict:
    """The sandbox's namespace, plus what lives beside it: namespaces, /etc/netns files, processes, state."""
    snap = snapshot.take(netns.runner)
    snap["etc-netns-files"] = netns.run(["find", "/etc/netns", "-type", "f"], check=False).stdout.split()
    snap["state"] = netns.run(["find", "/run/pipenet"], check=False).stdout.split()
    snap["services"] = netns.pids("pipenet.services")
    return snap


def pipenet_env(netns, *args, **faults):
    """pipenet with a fault installed (tests/faultrun.py): fail_step=N, fail_undo=N, kill_step=N, ..."""
    return netns.faultrun(*args, **faults)


def steps_of(netns, path) -> int:
    return len(json.loads(netns.pipenet("plan", path, "--format", "json").stdout)["steps"])


def test_a_fault_at_every_step_of_the_playground(netns):
    netns.run(["sysctl", "-w", "net.ipv4.ip_forward=0"])
    total = steps_of(netns, FOPNP)
    kinds = {s["kind"] for s in json.loads(netns.pipenet("plan", FOPNP, "--format", "json").stdout)["steps"]}
    assert total >= 90 and {"firewall", "etc", "process", "netns", "veth", "route", "sysctl"} <= kinds
    before = full_snapshot(netns)
    for n in range(1, total + 1):
        r = pipenet_env(netns, "up", FOPNP, fail_step=n)
        assert r.returncode == 2 and f"step {n} of {total} failed" in r.stderr, (n, r.stderr)
        after = full_snapshot(netns)
        assert after == before, (n, snapshot.diff(before, after))


def test_a_failed_undo_during_the_playground_is_listed_then_cleaned(netns):
    before = full_snapshot(netns)
    r = pipenet_env(netns, "up", FOPNP, fail_step=60, fail_undo=13)
    assert r.returncode == 3
    left = [l for l in r.stderr.splitlines() if l.strip().startswith("left:")]
    assert len(left) == 1
    assert netns.pipenet("down", "fopnp").returncode == 0
    assert full_snapshot(netns) == before


def test_sigkill_during_up_then_down_or_up(netns):
    rng = random.Random(SEED)
    total = steps_of(netns, FOPNP)
    before = full_snapshot(netns)
    trials = 0
    for trial in range(12):
        k = rng.randint(1, total)
        r = pipenet_env(netns, "up", FOPNP, kill_step=k)
        assert r.returncode == -signal.SIGKILL, (k, r.stderr)
        if trial % 2 == 0:
            d = netns.pipenet("down", "fopnp")
            assert d.returncode == 0, (k, d.stderr)
        else:
            u = netns.pipenet("up", FOPNP)
            assert u.returncode == 0 and "interrupted run" in u.stderr, (k, u.stderr)
            plan = json.loads(netns.pipenet("plan", FOPNP, "--format", "json").stdout)
            assert plan["empty"], k
            assert json.loads(netns.pipenet("status", "fopnp", "--json").stdout)["drift"] == []
            assert netns.pipenet("down", "fopnp").returncode == 0
        after = full_snapshot(netns)
        assert after == before, (k, snapshot.diff(before, after))
        trials += 1
    # and at moments no step chose: a kill after a random delay
    for trial in range(4):
        p = subprocess.Popen(netns.argv([sys.executable, "-m", "pipenet", "up", FOPNP]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.2))
        for pid in netns.pids(f"pipenet up {FOPNP}"):
            os.kill(pid, signal.SIGKILL)
        p.wait()
        assert netns.pipenet("down", "fopnp").returncode == 0
        after = full_snapshot(netns)
        assert after == before, snapshot.diff(before, after)
        trials += 1
    assert trials >= 16


def test_sigkill_during_down_then_down_or_up(netns):
    rng = random.Random(SEED + 1)
    before = full_snapshot(netns)
    for trial in range(6):
        assert netns.pipenet("up", FOPNP).returncode == 0
        total = len(json.loads(netns.run(["cat", "/run/pipenet/fopnp/record.json"]).stdout)["ops"])
        k = rng.randint(1, 40)
        r = pipenet_env(netns, "down", "fopnp", kill_step=k)
        assert r.returncode == -signal.SIGKILL, (k, r.stderr)
        if trial % 2 == 0:
            assert netns.pipenet("down", "fopnp").returncode == 0
        else:
            u = netns.pipenet("up", FOPNP)
            assert u.returncode == 0, u.stderr
            assert json.loads(netns.pipenet("plan", FOPNP, "--format", "json").stdout)["empty"]
            assert netns.pipenet("down", "fopnp").returncode == 0
        after = full_snapshot(netns)
        assert after == before, (k, total, snapshot.diff(before, after))
