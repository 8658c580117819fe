"""The harness itself: kernel tests really run in private namespaces, and the host guard notices changes."""

from __future__ import annotations

import subprocess
import time

from tests import snapshot
from tests.conftest import pipenet_processes
from tests.harness import Netns


def test_netns_is_private(netns):
    host_before = snapshot.take()
    inside_before = snapshot.take(netns.runner)
    netns.run(["ip", "link", "add", "pnA", "type", "veth", "peer", "name", "pnB"])
    netns.run(["ip", "netns", "add", "probe"])
    netns.run(["mkdir", "-p", "/etc/netns/probe"])
    inside_after = snapshot.take(netns.runner)
    changed = {line.split(":")[0] for line in snapshot.diff(inside_before, inside_after)}
    # the snapshot sees every kind of change the guard is for
    assert {"links", "/run/netns", "/etc/netns"} <= changed
    # ... and none of it reached the machine's own namespace
    assert snapshot.diff(host_before, snapshot.take()) == []
    assert "pnA" not in snapshot.host_runner(["ip", "-o", "link"])


def test_netns_has_its_own_hostname(netns):
    assert netns.out(["hostname"]).strip() == "pipenet-sandbox"



def test_closing_a_netns_ends_every_process_in_it_and_only_those():
    outside = subprocess.Popen(["sleep", "30"])  # in the machine's namespace: must survive
    ns = Netns()
    try:
        inside = subprocess.Popen(ns.argv(["env", "PIPENET_PROCESS=test-marker", "sleep", "30"]))
        deadline = time.monotonic() + 5
        marked: list[int] = []
        while not marked and time.monotonic() < deadline:  # until env has exec'd sleep with the mark
            marked = [p for p in ns.pids("sleep 30") if p in pipenet_processes()]
            time.sleep(0.05)
        [pid] = marked  # in the namespace, and the session's stray check would see it
    finally:
        ns.close()
    assert inside.wait(timeout=10) != 0  # killed
    assert pid not in pipenet_processes()
    assert outside.poll() is None  # a process outside the namespace is untouched
    outside.kill()
    outside.wait()
