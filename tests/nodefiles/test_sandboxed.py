"""`file` and `private` in a sandbox (`--sandbox`: the lab in private namespaces, for root and for an
unprivileged user): the node sees its own, the world outside the sandbox keeps its own."""

from __future__ import annotations

import json
import os

from tests.sandbox.test_sandbox import as_nobody, shared_dir, write_topology  # noqa: F401

LAB = """topology boxfiles
container a {
    file /etc/motd "boxed\\n" mode 0640
    private /var/tmp
    file /var/tmp/note "kept\\n"
    run "sh -c 'cat /etc/motd > /var/tmp/seen; exec sleep 1000'"
}
expect a can reach 127.0.0.1
"""


def _check(pn, netns, path):
    motd = netns.out(["cat", "/etc/motd"])
    r = pn("test", "--sandbox", path, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["passed"] == 1, (r.stdout, r.stderr)
    seen = pn("exec", "a", "--", "sh", "-c", "sleep 0.2; cat /etc/motd /var/tmp/note /var/tmp/seen; "
                                           "stat -c %a /etc/motd")
    assert seen.stdout.splitlines() == ["boxed", "kept", "boxed", "640"], (seen.stdout, seen.stderr)
    assert netns.out(["cat", "/etc/motd"]) == motd
    assert "seen" not in netns.out(["ls", "-A", "/var/tmp"])
    assert pn("down", "boxfiles").returncode == 0


def test_node_files_in_a_root_sandbox(netns, shared_dir):
    _check(netns.pipenet, netns, write_topology(shared_dir, "boxfiles", LAB))


def test_node_files_in_an_unprivileged_sandbox(netns, shared_dir):
    pn, _tmp = as_nobody(netns, shared_dir)
    _check(pn, netns, write_topology(shared_dir, "boxfiles", LAB))


def test_an_owner_an_unprivileged_sandbox_cannot_map_is_refused_and_rolled_back(netns, shared_dir):
    pn, tmp = as_nobody(netns, shared_dir)
    path = write_topology(shared_dir, "owned", 'container a { file /etc/motd "x" owner nobody }\n')
    r = pn("up", "--sandbox", path)
    assert r.returncode == 2 and "owner 65534:65534 does not exist here" in r.stderr, r.stderr
    assert "rolled back" in r.stderr
    assert pn("ls").stderr.splitlines()[-1] == "no sandbox is up"  # and nothing of it is left
    assert os.listdir(tmp) == []
