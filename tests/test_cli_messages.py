"""The command line's messages for bad arguments and refusals: one clear line, exit 1, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")


def pipenet(*args, state=None, env=None, timeout=120, **kw):
    e = dict(os.environ, NO_COLOR="1", **(env or {}))
    if state is not None:
        e["PIPENET_STATE_DIR"] = str(state)
    return subprocess.run([sys.executable, "-m", "pipenet", *args], capture_output=True, text=True, env=e,
                          timeout=timeout, **kw)


def one_line(r) -> str:
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, (r.returncode, r.stderr)
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["down", ".."], ["down", ".hidden"], ["down", ""], ["status", ".x"], ["logs", "-t", "../x", "a"],
    ["exec", "-t", ".x", "a", "--", "true"], ["shell", "-t", "a/b", "a"], ["status", "--json", ".."],
], ids=repr)
def test_a_bad_topology_name_is_one_line(argv, tmp_path):
    line = one_line(pipenet(*argv, state=tmp_path / "state"))
    assert line.startswith("pipenet: ") and "is not a topology name" in line


def test_a_directory_is_not_a_topology_file(tmp_path):
    for cmd in ("check", "up", "plan", "test", "fmt", "graph"):
        r = pipenet(cmd, str(tmp_path), state=tmp_path / "state")
        assert r.returncode == 1 and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert f"{tmp_path}: error: cannot read {tmp_path}: it is a directory" in r.stderr, (cmd, r.stderr)


def test_input_limit_holds_for_a_device(tmp_path):
    r = pipenet("check", "/dev/zero", timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "at most 33,554,432 bytes" in r.stderr
    r = pipenet("up", "/dev/zero", state=tmp_path / "state", timeout=60)
    assert r.returncode == 1 and "at most 33,554,432 bytes" in r.stderr and "Traceback" not in r.stderr


def test_graph_into_a_missing_directory_is_one_line(tmp_path):
    line = one_line(pipenet("graph", os.path.join(EXAMPLES, "docker0.pn"), "-o", "/nonexistent/dir/x.dot"))
    assert line == "pipenet: cannot write /nonexistent/dir/x.dot: No such file or directory"
    assert not os.path.exists("/nonexistent")


def test_fmt_writes_through_a_symlink(tmp_path):
    real = tmp_path / "real" / "t.pn"
    real.parent.mkdir()
    real.write_text("container a {\nnet none\n}\n")
    os.chmod(real, 0o640)
    link = tmp_path / "link.pn"
    link.symlink_to(real)
    r = pipenet("fmt", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "container a {\n    net none\n}\n"
    assert os.stat(real).st_mode & 0o777 == 0o640
    assert f"through the link, in {real}" in r.stderr
    assert os.listdir(tmp_path / "real") == ["t.pn"]  # no temporary file left
