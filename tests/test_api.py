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
    """README.md's "From Python" block, as written (from the repository's root, so its path works)."""
    import re

    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")) as f:
        readme = f.read()
    code = re.search(r"## From Python\n\n```python\n(.*?)```", readme, re.S).group(1)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = netns.run(["sh", "-c", 'cd "$1" && exec "$2" -c "$3"', "-", repo, sys.executable, code], check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("hello from www.example.com; you are "), r.stdout  # through h1's NAT modem
