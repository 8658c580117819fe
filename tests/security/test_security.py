"""No shell, validated names, private state, atomic writes that never follow a symlink."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import stat

import pytest

from pipenet.backends import files
from pipenet.engine.state import StateDir
from pipenet.errors import CorruptState, UsageError
from pipenet.fsutil import write_atomic
from pipenet.lang import analyse
from tests.harness import Netns

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "pipenet"


def test_no_shell_anywhere():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in ("system", "popen") and isinstance(f, ast.Attribute) and getattr(f.value, "id", "") == "os":
                    offenders.append(f"{path}:{node.lineno} os.{name}")
                for kw in node.keywords:
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        offenders.append(f"{path}:{node.lineno} shell=")
    assert offenders == []


@pytest.mark.parametrize("src", [
    "topology ../../etc\n",
    "container ../x\n",
    "container a/b\n",
    'topology "x"\n',
    "bridge br/0\n",
    "container a { interface ../eth0 dummy }\n",
    "container a { attach netns relative/path }\n",
    "container a { sysctl kernel.core_pattern x }\n",
    "container a { sysctl net/../../kernel/x 1 }\n",
])
def test_names_that_could_escape_are_rejected(src):
    topo, diags, _ = analyse(src, "t.pn")
    assert diags, src


def test_state_and_file_paths_refuse_traversal(tmp_path):
    for bad in ("../x", "a/b", ".hidden", "", "..", "x" * 65):
        with pytest.raises(UsageError, match="is not a topology name"):
            StateDir(bad, str(tmp_path))
    with pytest.raises(ValueError):
        files.read("/etc/netns/../shadow", ["hosts"])
    with pytest.raises(ValueError):
        files.read("/etc/netns/x", ["../passwd"])


def test_atomic_write_replaces_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "hosts"
    link.symlink_to(victim)
    write_atomic(str(link), b"new", 0o644)
    assert victim.read_text() == "precious"
    assert not link.is_symlink() and link.read_text() == "new"


def test_state_dir_is_private_and_refuses_a_symlink(tmp_path):
    root = tmp_path / "state"
    sd = StateDir("topo", str(root))
    sd.save({"ops": []})
    assert stat.S_IMODE(os.stat(sd.path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(sd.record_path).st_mode) == 0o600
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "evil").symlink_to(elsewhere)
    with pytest.raises(CorruptState, match="is not a directory .a symlink or a file.; pipenet will not use it"):
        StateDir("evil", str(root)).ensure()
    assert list(elsewhere.iterdir()) == []


def test_real_state_dir_and_symlinked_etc_file(netns, tmp_path):
    path = tmp_path / "s.pn"
    path.write_text("topology sec\ncontainer a\n")
    netns.run(["mkdir", "-p", "/etc/netns/sec@a"])
    netns.run(["sh", "-c", "echo precious > /tmp/pipenet-victim-file"])
    netns.run(["ln", "-s", "/tmp/pipenet-victim-file", "/etc/netns/sec@a/hosts"])
    try:
        # a symlink planted where pipenet's file goes is someone else's: refused, never followed or replaced
        r = netns.pipenet("up", str(path))
        assert r.returncode == 1 and "/etc/netns/sec@a/hosts is a symlink" in r.stderr, r.stderr
        assert netns.out(["cat", "/tmp/pipenet-victim-file"]) == "precious\n"
        assert netns.out(["stat", "-c", "%F", "/etc/netns/sec@a/hosts"]).strip() == "symbolic link"
        assert "sec@a" not in netns.out(["ip", "netns", "list"])
        netns.run(["rm", "/etc/netns/sec@a/hosts"])
        assert netns.pipenet("up", str(path)).returncode == 0
        assert netns.out(["stat", "-c", "%F", "/etc/netns/sec@a/hosts"]).strip() == "regular file"
        assert netns.out(["stat", "-c", "%a", "/run/pipenet/sec"]).strip() == "700"
        assert netns.out(["stat", "-c", "%a", "/run/pipenet/sec/record.json"]).strip() == "600"
        netns.pipenet("down", "sec")
    finally:
        netns.run(["rm", "-f", "/tmp/pipenet-victim-file"])


def _twins(netns, other, tmp_path) -> tuple[int, int]:
    """The same topology (one `run` process) up in this world and in `other`: (the pid of this world's
    process, the pid of the other's)."""
    path = tmp_path / "twin.pn"
    path.write_text('topology twin\ncontainer a { run "python3 -m pipenet.services listen 7100" }\n')
    assert netns.pipenet("up", str(path)).returncode == 0
    assert other.pipenet("up", str(path)).returncode == 0
    [theirs] = other.pids("pipenet.services listen 7100")
    [mine] = netns.pids("pipenet.services listen 7100")
    return mine, theirs


def test_down_never_stops_the_same_named_process_of_another_pipenet(netns, tmp_path):
    """A `run` process is found again by a mark in its environment (the log's path), and another
    pipenet's topology of the same name (another mount namespace here; a sandbox, whose processes the
    host can see) carries the same mark: `down` must stop its own only."""
    other = Netns()
    try:
        mine, theirs = _twins(netns, other, tmp_path)
        assert netns.pipenet("down", "twin").returncode == 0
        assert netns.pids("pipenet.services listen 7100") == []  # mine is stopped
        assert other.pids("pipenet.services listen 7100") == [theirs]  # theirs is untouched
        assert mine != theirs
        assert other.pipenet("down", "twin").returncode == 0
        assert other.pids("pipenet.services listen 7100") == []
    finally:
        other.close()


@pytest.mark.parametrize("how", ["down --force without a record", "down with the node's namespace gone"])
def test_a_pipenet_that_cannot_tell_its_processes_by_namespace_still_never_stops_another_worlds(
        netns, tmp_path, how):
    """When the node's namespace is gone (deleted by hand, or never made by a killed run) or the record
    is lost (`down --force`), the only clue to a `run` process is the mark in its environment, and a
    topology of the same name in another pipenet's world carries the same mark. The process must also
    see pipenet's state directory as this pipenet does (the same files: the same world) to be ours."""
    other = Netns()
    try:
        mine, theirs = _twins(netns, other, tmp_path)
        if how.startswith("down --force"):
            netns.run(["rm", "/run/pipenet/twin/record.json"])
            r = netns.pipenet("down", "--force", "twin")
        else:
            netns.run(["ip", "netns", "delete", "twin@a"])
            r = netns.pipenet("down", "twin")
        assert r.returncode in (0, 3), r.stderr
        assert other.pids("pipenet.services listen 7100") == [theirs]  # theirs is untouched
        assert mine not in netns.pids("pipenet.services listen 7100")  # and mine is stopped all the same
        assert other.pipenet("down", "twin").returncode == 0
    finally:
        other.close()
