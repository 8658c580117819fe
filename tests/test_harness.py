"""The harness itself: kernel tests really run in private namespaces, and the host guard notices changes."""

from __future__ import annotations

from tests import snapshot


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
