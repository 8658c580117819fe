"""The Python API (docs/api.md), end to end: load, plan, up, exec, test, status, down, and the context
manager on an exception; as root in the test world, and as an unprivileged user through the sandbox.

The driver below runs in a fresh Python inside the test world (as root) or as `nobody` (who has no root
anywhere, so only the sandbox can work); it prints one JSON document of what it saw, which the tests
check. The kernel is then inspected from outside the driver, so a lab that says it is down must really
be gone."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import time

import pytest

import pipenet
from pipenet import results
from tests.sandbox.test_sandbox import NOBODY, _holders, nobody_env, no_stray_holders, shared_dir  # noqa: F401

LAB = textwrap.dedent("""
    topology apilab
    bridge br0 { address 10.9.0.1/24 }
    container a { net br0 }
    container b { net br0 }
    expect a can reach b
    expect b can reach 10.9.0.1
""")

DRIVER = textwrap.dedent("""
    import json, subprocess, sys
    import pipenet

    path, sandbox = sys.argv[1], sys.argv[2] == "1"
    seen = {}
    lab = pipenet.load(path)
    seen["name"] = lab.name
    seen["nodes"] = lab.nodes
    if not sandbox:  # (a plan is of the namespace pipenet runs in: without root, there is none to plan in)
        seen["plan_before"] = [s.kind for s in lab.plan().steps]
    change = lab.up(sandbox=sandbox)
    seen["up_changed"] = change.changed
    seen["up_counts"] = {f"{a} {w}": n for (a, w), n in change.counts.items()}
    seen["plan_after"] = len(lab.plan().steps)
    seen["again"] = lab.up(sandbox=sandbox).changed
    r = lab.exec("a", ["ping", "-c1", "-W2", "10.9.0.3"])
    seen["ping"] = r.returncode
    seen["hostname"] = lab.exec("b", ["hostname"]).stdout.strip()
    try:
        lab.exec("a", ["sh", "-c", "exit 3"], check=True)
        seen["check"] = None
    except subprocess.CalledProcessError as e:
        seen["check"] = e.returncode
    report = lab.test()
    seen["test"] = [report.ok, report.passed, report.failed]
    st = lab.status()
    seen["status"] = [st.up, st.drift, sorted(n["node"] for n in st.nodes if n["node"] != "host")]
    seen["names_up"] = pipenet.names_up()
    down = lab.down()
    seen["down"] = [down.existed, down.changed]
    seen["names_after_down"] = pipenet.names_up()
    try:
        with pipenet.up(path, sandbox=sandbox) as inner:
            seen["inner_up"] = pipenet.names_up()
            raise KeyError("boom")
    except KeyError:
        seen["raised"] = True
    seen["names_after_with"] = pipenet.names_up()
    try:
        pipenet.load("topology bad\\ncontainer a { net nowhere }\\n")
    except pipenet.InvalidTopology as e:
        seen["invalid"] = [(d.span.line, d.span.column, d.message) for d in e.diagnostics]
    print(json.dumps(seen))
""")


def _check(seen: dict, sandbox: bool) -> None:
    assert seen["name"] == "apilab" and seen["nodes"] == ["a", "b"]
    if not sandbox:
        assert "netns" in seen["plan_before"] and "bridge" in seen["plan_before"]
    assert seen["up_changed"] and seen["up_counts"]["apply namespaces"] == 2
    assert seen["plan_after"] == 0 and seen["again"] is False
    assert seen["ping"] == 0 and seen["hostname"] == "b"
    assert seen["check"] == 3
    assert seen["test"] == [True, 2, 0]
    assert seen["status"] == [True, [], ["a", "b"]]
    assert seen["names_up"] == ["apilab"]
    assert seen["down"] == [True, True] and seen["names_after_down"] == []
    assert seen["inner_up"] == ["apilab"] and seen["raised"] and seen["names_after_with"] == []
    assert any(line == 2 and "nowhere" in msg for line, col, msg in seen["invalid"])


def test_load_reports_every_diagnostic_without_touching_anything(tmp_path):
    path = tmp_path / "bad.pn"
    path.write_text("topology bad\ncontainer a { net nowhere }\ncontainer a { }\n")
    with pytest.raises(pipenet.InvalidTopology) as e:
        pipenet.load(str(path))
    diags = e.value.diagnostics
    assert len(diags) >= 2
    assert all(d.span.file == str(path) and d.span.line >= 2 and d.span.column >= 1 for d in diags)
    # the same text, given as text
    with pytest.raises(pipenet.InvalidTopology):
        pipenet.load(path.read_text())


def test_a_lab_reads_its_file_without_root(tmp_path):
    path = tmp_path / "lab.pn"
    path.write_text(LAB)
    lab = pipenet.load(str(path))
    assert lab.name == "apilab" and lab.nodes == ["a", "b"]
    assert [c.name for c in lab.topology.containers] == ["a", "b"]


def test_check_format_and_draw_need_no_root(tmp_path):
    bad = tmp_path / "bad.pn"
    bad.write_text("topology bad\ncontainer a { net nowhere }\n")
    report = pipenet.check(str(bad))
    assert not report.ok and report.diagnostics[0].span.line == 2 and report.to_json()["ok"] is False
    good = tmp_path / "lab.pn"
    good.write_text("topology apilab\nbridge br0 {   address 10.9.0.1/24 }\ncontainer a { net br0 }\n")
    report = pipenet.check(str(good))
    assert report.ok and report.topology == "apilab" and report.counts["containers"] == 1
    changed, target = pipenet.format_file(str(good), write=False)
    assert changed and target == str(good) and "{   address" in good.read_text()  # not written
    assert pipenet.format_file(str(good)) == (True, str(good))
    assert pipenet.format_file(str(good)) == (False, str(good))  # already in layout
    lab = pipenet.load(str(good))
    assert lab.draw(str(tmp_path / "lab.dot")) == str(tmp_path / "lab.dot")
    assert "br0" in (tmp_path / "lab.dot").read_text()


def test_each_lab_has_its_own_variables(tmp_path):
    """`variables` are one lab's: loading another lab afterwards does not see them."""
    path = tmp_path / "v.pn"
    path.write_text("topology v\nlet n = 2\nfor i in 1..${n} { container c${i} { } }\n")
    assert pipenet.load(str(path), variables={"n": 3}).nodes == ["c1", "c2", "c3"]
    assert pipenet.load(str(path)).nodes == ["c1", "c2"]
    assert pipenet.check(str(path), variables={"n": 4}).counts["containers"] == 4
    assert pipenet.check(str(path)).counts["containers"] == 2


def test_results_are_plain_data_that_pickle():
    """What a call returns crosses from a sandbox pickled, and `--json` prints its to_json()."""
    report = results.TestReport("t", [results.Check(3, "a can reach b", True, "ok", 0.01),
                                      results.Check(4, "b can reach a", False, "timeout", 1.0)], 1.0)
    assert (report.ok, report.passed, report.failed) == (False, 1, 1)
    again = pickle.loads(pickle.dumps(report))
    assert again == report and json.loads(json.dumps(again.to_json()))["failed"] == 1
    change = results.Change("t", {("apply", "namespaces"): 2}, 2, 0.5)
    assert change.changed and change.to_json()["counts"] == [{"action": "apply", "what": "namespaces", "n": 2}]
    err = pickle.loads(pickle.dumps(pipenet.Conflict(["x is in use", "y is in use"])))
    assert isinstance(err, pipenet.PipenetError) and err.problems == ["x is in use", "y is in use"]


def test_importing_pipenet_stays_light():
    """`import pipenet` (which the command line does first) loads no part of the library until used."""
    out = subprocess.run([sys.executable, "-c", "import pipenet, sys; print(sorted(m for m in sys.modules "
                          "if m.startswith('pipenet')))"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pipenet']"


def test_the_api_end_to_end_as_root(netns, tmp_path):
    path = tmp_path / "apilab.pn"
    path.write_text(LAB)
    r = netns.run([sys.executable, "-c", DRIVER, str(path), "0"], check=False)
    assert r.returncode == 0, r.stderr
    _check(json.loads(r.stdout.splitlines()[-1]), sandbox=False)
    # what the lab said is down is gone from the kernel: no namespace, no bridge, no record
    assert netns.run(["ip", "-o", "link", "show", "dev", "br0"], check=False).stdout.strip() == ""
    assert not [n for n in netns.out(["ip", "netns", "list"]).split() if n.startswith("apilab")]


def test_the_api_end_to_end_unprivileged_in_a_sandbox(netns, shared_dir):  # noqa: F811
    path = os.path.join(shared_dir, "apilab.pn")
    with open(path, "w") as f:
        f.write(LAB)
    os.chmod(path, 0o644)
    py, env = nobody_env(shared_dir)
    holders = _holders()
    r = netns.run(NOBODY + ["env", *[f"{k}={v}" for k, v in env.items()], py, "-c", DRIVER, path, "1"], check=False)
    assert r.returncode == 0, r.stderr
    _check(json.loads(r.stdout.splitlines()[-1]), sandbox=True)
    assert _holders() == holders  # every sandbox the driver made has ended
    assert os.listdir(env["TMPDIR"]) in ([], ["pipenet-65534"])
    if os.listdir(env["TMPDIR"]):
        assert os.listdir(os.path.join(env["TMPDIR"], "pipenet-65534")) == []


def test_without_root_and_without_a_sandbox_the_answer_is_one_line(netns, shared_dir):  # noqa: F811
    path = os.path.join(shared_dir, "apilab.pn")
    with open(path, "w") as f:
        f.write(LAB)
    os.chmod(path, 0o644)
    py, env = nobody_env(shared_dir)
    code = ("import sys, pipenet\ntry:\n    pipenet.load(sys.argv[1]).up()\nexcept pipenet.UsageError as e:\n"
            "    print(e)\n")
    r = netns.run(NOBODY + ["env", *[f"{k}={v}" for k, v in env.items()], py, "-c", code, path], check=False)
    assert r.returncode == 0, r.stderr
    assert "needs root" in r.stdout and "sandbox" in r.stdout and len(r.stdout.strip().splitlines()) == 1


def test_the_readmes_python_example_runs(netns):
    """README.md's "Use it from Python and pytest" Python block, as written (from the repository's root, so its
    path works)."""
    import re

    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")) as f:
        readme = f.read()
    code = re.search(r"## Use it from Python and pytest\n\n```python\n(.*?)```", readme, re.S).group(1)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = netns.run(["sh", "-c", 'cd "$1" && exec "$2" -c "$3"', "-", repo, sys.executable, code], check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("hello from www.example.com; you are "), r.stdout  # through h1's NAT modem


NOBODY_LIFECYCLE = textwrap.dedent("""
    import json, os, pathlib, subprocess, sys
    import pipenet

    path = pathlib.Path(sys.argv[1])  # (a pathlib.Path, as pytest's tmp_path gives)
    seen = {}
    with pipenet.load(path) as lab:       # a Lab is a context manager: down on the way out
        lab.up(sandbox=True)
        env = lab.exec("a", ["env"]).stdout
        seen["env_clean"] = "PIPENET_IN_SANDBOX" not in env and "PIPENET_CWD" not in env
        seen["down"] = lab.down().existed
        seen["down_again"] = lab.down().existed     # ... and once more by __exit__
    for call in (lambda: pipenet.lab_named("apilab").down(), lambda: pipenet.lab_named("apilab").status()):
        try:  # another object, which cannot know: root's records are out of reach
            call()
        except pipenet.UsageError as e:
            seen.setdefault("named", []).append(str(e)[:48])
    try:
        with pipenet.load(path) as lab:
            raise ValueError("the body's own error")
    except ValueError as e:
        seen["body_error"] = str(e)
    try:
        with pipenet.up(path, sandbox=True) as lab:
            raise LookupError("inside")
    except LookupError as e:
        seen["up_body_error"] = str(e)
    seen["names_after"] = pipenet.names_up()
    print(json.dumps(seen))
""")


def test_a_lab_without_root_goes_down_once_and_then_is_simply_not_up(netns, shared_dir):  # noqa: F811
    """As `nobody`: the sandbox's lab taken down, a second down (and the `with`'s own) say it was not up
    rather than asking for root; a block's exception is the one that arrives; nothing of the sandbox
    is left."""
    path = os.path.join(shared_dir, "apilab.pn")
    with open(path, "w") as f:
        f.write(LAB)
    os.chmod(path, 0o644)
    py, env = nobody_env(shared_dir)
    holders = _holders()
    r = netns.run(NOBODY + ["env", *[f"{k}={v}" for k, v in env.items()], py, "-c", NOBODY_LIFECYCLE, path],
                  check=False)
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.splitlines()[-1])
    assert seen == {"env_clean": True, "down": True, "down_again": False,
                    "named": ["apilab is not up in a sandbox of yours; a topolo",
                              "apilab is not up in a sandbox of yours; only roo"],
                    "body_error": "the body's own error",
                    "up_body_error": "inside", "names_after": []}, seen
    assert _holders() == holders


RACE = textwrap.dedent("""
    import sys, time, pipenet
    try:
        with pipenet.up(sys.argv[1], sandbox=True) as lab:
            time.sleep(0.2)
    except pipenet.PipenetError as e:  # another worker took the shared lab down under this one
        print(type(e).__name__, e)
""")


def test_processes_that_bring_one_lab_up_at_once_leave_no_sandbox_behind(netns, shared_dir):  # noqa: F811
    """Three processes (pytest-xdist workers, say) bring the same lab up in a sandbox at the same moment
    and take it down again: the sandbox is looked for and made under a lock, so there is never a second
    holder that no record names (which nothing could end), and every holder is gone at the end. (The
    lab is one, shared by its name: docs/api.md says to give each worker its own.)"""
    path = os.path.join(shared_dir, "apilab.pn")
    with open(path, "w") as f:
        f.write(LAB)
    os.chmod(path, 0o644)
    py, env = nobody_env(shared_dir)
    before = _holders()
    argv = netns.argv(NOBODY + ["env", *[f"{k}={v}" for k, v in env.items()], py, "-c", RACE, path])
    for _ in range(3):
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        assert not any(b"Traceback" in err for _, err in outs), outs
        time.sleep(0.3)
        assert _holders() == before, outs


ROOT_EDGES = textwrap.dedent("""
    import glob, json, os, pathlib, sys, tempfile
    import pipenet

    seen = {}
    temp_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "pipenet-*.pn")))
    lab = pipenet.load(sys.argv[1])                      # given as text
    lab.up()
    seen["file"] = lab.status().file
    os.environ["SHELL"] = "/bin/true"
    seen["shell"] = lab.shell("a")                      # returns: this process goes on
    os.environ["SHELL"] = "/bin/false"
    seen["shell_false"] = lab.shell("a")
    for call in (lambda: lab.shell("zzz"), lambda: lab.logs("zzz"), lambda: lab.exec("zzz", ["true"])):
        try:
            call()
        except pipenet.UsageError as e:
            seen.setdefault("no_node", []).append(str(e))
    try:
        lab.exec("a", "hostname")
    except TypeError as e:
        seen["argv_str"] = str(e)
    named = pipenet.lab_named("apilab")
    for call in (named.up, named.plan, named.test):
        try:
            call()
        except pipenet.UsageError as e:
            seen.setdefault("named", []).append(str(e)[:40])
    for bad in ("a b", "x;rm -rf", "-x", ""):
        try:
            pipenet.lab_named(bad)
        except pipenet.UsageError:
            seen["bad_names"] = seen.get("bad_names", 0) + 1
    try:
        pipenet.load(sys.argv[1], variables={"1bad": "x"})
    except pipenet.UsageError as e:
        seen["bad_variable"] = str(e)
    seen["names_up"] = pipenet.names_up()
    lab.down()
    seen["temp_left"] = sorted(set(glob.glob(os.path.join(tempfile.gettempdir(), "pipenet-*.pn"))) - temp_before)
    print(json.dumps(seen))
""")


def test_the_edges_of_the_api_as_root(netns):
    r = netns.run([sys.executable, "-c", ROOT_EDGES, LAB], check=False)
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.splitlines()[-1])
    assert seen["file"] is None  # a lab given as text has no file, and none is written for it
    assert seen["shell"] == 0 and seen["shell_false"] == 1
    assert seen["no_node"] == ["no node zzz is up in topology apilab"] * 3
    assert "list of words" in seen["argv_str"]
    assert seen["named"] == ["apilab was named, not loaded from its fi"] * 3
    assert seen["bad_names"] == 4
    assert "1bad" in seen["bad_variable"] and "not a variable name" in seen["bad_variable"]
    assert seen["names_up"] == ["apilab"] and seen["temp_left"] == []


def test_the_docs_pytest_example_runs(netns, tmp_path):
    """docs/api.md's "With pytest" block and its lab.pn, as written, run by pytest in the test world."""
    import re

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(repo, "docs", "api.md")) as f:
        doc = f.read()
    (tmp_path / "lab.pn").write_text(re.search(r"`lab.pn` for the examples on this page:\n\n```pipenet\n(.*?)```",
                                               doc, re.S).group(1))
    (tmp_path / "test_lab.py").write_text(re.search(r"## With pytest\n\n```python\n(.*?)```", doc, re.S).group(1))
    r = netns.run(["sh", "-c", 'cd "$1" && exec "$2" -m pytest -q -p no:cacheprovider test_lab.py', "-",
                   str(tmp_path), sys.executable], check=False, timeout=300)
    assert r.returncode == 0 and "2 passed" in r.stdout, r.stdout + r.stderr


NOOP_IN_SANDBOX = textwrap.dedent("""
    import json, sys
    import pipenet
    from pipenet.engine import session

    path = sys.argv[1]
    lab = pipenet.load(path)
    first = lab.up(sandbox=True)

    def planned(*args, **kwargs):
        raise AssertionError("the unchanged file was planned again")

    session.up = planned  # (the sandbox's work runs in a fork of this process: it sees this too)
    second = pipenet.load(path).up(sandbox=True)
    with open(path, "a") as f:
        f.write("# edited\\n")
    try:
        pipenet.load(path).up(sandbox=True)
        edited = "not planned"
    except AssertionError as e:
        edited = str(e)
    pipenet.load(path).down()
    print(json.dumps({"first": first.changed, "second": second.changed, "edited": edited}))
""")


def test_an_unchanged_file_up_in_its_sandbox_is_not_planned_again(netns, tmp_path):
    """`up --sandbox` of a file whose digest matches, and whose record is live as made, answers "nothing
    to change" without planning, in the sandbox as outside it; an edited file is planned."""
    path = tmp_path / "apilab.pn"
    path.write_text(LAB)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = netns.run([sys.executable, "-c", NOOP_IN_SANDBOX, str(path)], check=False, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == {
        "first": True, "second": False, "edited": "the unchanged file was planned again"}
