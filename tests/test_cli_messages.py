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
    name = argv[argv.index("-t") + 1] if "-t" in argv else argv[-1]
    # every command quotes the name the same way (`down ..` once said '..', `status ..` said `..`)
    assert line.startswith(f"pipenet: `{name}` is not" if name else "pipenet: an empty name is not"), line


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


# ---- --var NAME=VALUE -----------------------------------------------------------------------------------------

VARFILE = "topology v${ID}\nlet ID = 1\ncontainer c${ID} { attach pid ${PID} }\n"


def test_var_gives_a_value_to_the_file(tmp_path):
    f = tmp_path / "v.pn"
    f.write_text(VARFILE)
    r = pipenet("check", str(f), "--var", "PID=1234", "--json")
    doc = __import__("json").loads(r.stdout)
    assert r.returncode == 0 and doc["topology"] == "v1", r.stderr
    # a command-line variable overrides the file's own `let` (the file's value is a default)
    r = pipenet("check", "--var", "ID=7", str(f), "--var=PID=1", "--json")
    assert r.returncode == 0 and __import__("json").loads(r.stdout)["topology"] == "v7", r.stderr


def test_an_unknown_variable_points_at_var(tmp_path):
    f = tmp_path / "v.pn"
    f.write_text(VARFILE)
    r = pipenet("check", str(f))
    assert r.returncode == 1
    assert f"{f}:3:33: error: unknown variable `PID`" in r.stderr
    assert "hint: did you mean `ID`? If not, define it with `let PID = VALUE`, or give it on the command line: " \
           "--var PID=VALUE" in r.stderr
    r = pipenet("check", str(f), "--var", "PDI=1")  # a typo on the command line
    assert r.returncode == 1 and "did you mean `PDI` (given with --var)?" in r.stderr


@pytest.mark.parametrize("arg,words", [
    ("PID", "--var PID: expected NAME=VALUE"), ("1X=2", "`1X` is not a variable name"),
    ("A-B=2", "`A-B` is not a variable name"), ("=3", "`` is not a variable name"),
    ("N=" + "9" * 5000, "a number of 5,000 digits"), ("T=a\tb", "printable text"),
])
def test_a_bad_var_is_one_line(arg, words, tmp_path):
    f = tmp_path / "v.pn"
    f.write_text(VARFILE)
    for cmd in ("check", "plan", "up", "test", "graph"):
        line = one_line(pipenet(cmd, str(f), "--var", arg, state=tmp_path / "state"))
        assert line.startswith("pipenet: --var") and words in line, (cmd, line)


def test_the_same_var_twice_is_one_line(tmp_path):
    f = tmp_path / "v.pn"
    f.write_text(VARFILE)
    assert one_line(pipenet("check", str(f), "--var", "A=1", "--var", "A=2")) == "pipenet: --var A is given twice"


def test_var_values_are_part_of_ups_inputs_digest(tmp_path, monkeypatch):
    from pipenet import variables
    from pipenet.engine import inputs

    monkeypatch.setenv("PIPENET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(variables, "CURRENT", {})
    plain = inputs.digest(VARFILE, "v1")
    variables.CURRENT.update({"PID": "1"})
    one = inputs.digest(VARFILE, "v1")
    variables.CURRENT["PID"] = "2"
    assert len({plain, one, inputs.digest(VARFILE, "v1")}) == 3


# ---- messages for what is not up ------------------------------------------------------------------------------

def test_down_of_what_is_not_up_says_so_and_is_safe(tmp_path):
    state = tmp_path / "state"
    for _ in range(2):  # twice: still safe
        r = pipenet("down", "fopnpp", state=state)
        assert r.returncode == 0 and "Traceback" not in r.stderr
        assert r.stderr.startswith("pipenet: fopnpp is not up; nothing to do (")  # and what is up: see the kernel test
    assert not state.exists() or not os.listdir(state)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def as_nobody(*args, env=None):
    e = dict(os.environ, NO_COLOR="1", XDG_RUNTIME_DIR="", **(env or {}))
    return subprocess.run(NOBODY + [sys.executable, "-m", "pipenet", *args], capture_output=True, text=True, env=e,
                          cwd="/", timeout=60)


def test_exec_without_root_says_no_node_is_up(tmp_path):
    gone = f"/tmp/pipenet-no-state-{os.getpid()}"  # no state directory: nothing is up
    for argv in (["exec", "h1", "--", "true"], ["shell", "h1"]):
        line = one_line(as_nobody(*argv, env={"PIPENET_STATE_DIR": gone}))
        assert line == "pipenet: no node h1 is up (no topology is up)"
    line = one_line(as_nobody("exec", "-t", "fopnp", "h1", "--", "true", env={"PIPENET_STATE_DIR": gone}))
    assert line == "pipenet: no node h1 is up in topology fopnp"


def test_exec_without_root_asks_for_root_when_only_root_can_tell(tmp_path):
    private = tmp_path / "state"
    private.mkdir(mode=0o700)  # root's, as /run/pipenet is
    line = one_line(as_nobody("exec", "h1", "--", "true", env={"PIPENET_STATE_DIR": str(private)}))
    assert "needs root" in line and "--sandbox" in line
    r = as_nobody("status", env={"PIPENET_STATE_DIR": str(private)})
    assert r.returncode == 0 and "Traceback" not in r.stderr and "only root can read" in r.stderr


def test_admin_directories_are_added_to_path_at_its_end():
    from pipenet.cli.dispatch import admin_path

    assert admin_path("/usr/bin:/bin") == "/usr/bin:/bin:/usr/sbin:/sbin"
    assert admin_path("/sbin:/usr/bin") == "/sbin:/usr/bin:/usr/sbin"  # the user's order is kept
    assert admin_path("") == "/usr/sbin:/sbin"
    r = pipenet("check", "--help", env={"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"})
    assert r.returncode == 0


@pytest.mark.parametrize("columns", ["0", "00", "\u00b2", "-3", "abc", ""])
def test_a_columns_that_is_no_width_still_prints_whole_tables(columns, monkeypatch):
    """COLUMNS=0 made rich take a width of 0, and print nothing at all: `pipenet test` exited 4 with no
    table and no failing pair. A COLUMNS that is not a width is not taken for one."""
    from rich.table import Table

    from pipenet.cli import output

    monkeypatch.setenv("COLUMNS", columns)
    output.console.cache_clear()
    try:
        c = output.console()
        assert c.width > 0  # (no limit: the suite's stdout is no terminal; a terminal's width otherwise)
        t = Table("node", "result")
        t.add_row("h1", "passed")
        with c.capture() as got:
            c.print(t)
        assert "h1" in got.get() and "passed" in got.get()
    finally:
        output.console.cache_clear()
    monkeypatch.setenv("COLUMNS", "100")
    assert output.console().width == 100
    output.console.cache_clear()
