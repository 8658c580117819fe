"""The pytest plugin (pipenet/pytest_plugin.py, docs/pytest.md), through pytest's own `pytester`.

Which files are collected needs no kernel; it is still a pytest of its own (runpytest_subprocess): a run
in this process would import pipenet's modules afresh and leave this one with two of each. Every run that brings a lab up is a
fresh pytest started inside the test world (`nsenter` into the `netns` fixture's namespaces), on a
directory pytester made; the kernel is then looked at from outside that run, so a lab the plugin says
it took down must really be gone."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.sandbox.test_sandbox import NOBODY, _holders, nobody_env, no_stray_holders, shared_dir  # noqa: F401

pytest_plugins = ["pytester"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the .pn file run as a test file: two expectations that hold, two that do not
ITEMS = textwrap.dedent("""
    topology items
    bridge br0 { address 10.9.0.1/24 }
    container a { net br0 }
    container b { net br0 }
    expect a can reach b
    expect b can reach 10.9.0.1
    expect a can reach 10.9.0.77
    expect a cannot reach b
""")

#: the lab of the fixture's tests (another name, so that what is left says whose it is)
FIXTURE_LAB = textwrap.dedent("""
    topology fx
    bridge br1 { address 10.8.0.1/24 }
    container c { net br1 }
    container d { net br1 }
    expect c can reach d
""")

FIXTURE_TESTS = textwrap.dedent("""
    import pipenet

    def test_up_and_exec(pipenet_lab):
        lab = pipenet_lab("fx.pn")
        assert pipenet.names_up() == ["fx"]
        assert lab.exec("c", ["ping", "-c1", "-W2", "10.8.0.3"]).returncode == 0
        assert lab.test().ok and lab.status().up

    def test_fails_with_the_lab_up(pipenet_lab):
        lab = pipenet_lab("fx.pn")
        assert lab.exec("d", ["hostname"]).stdout.strip() == "d"
        assert False, "failing on purpose"

    def test_the_failed_tests_lab_is_down():
        assert pipenet.names_up() == []
""")

AFTER_ITEMS = textwrap.dedent("""
    import pipenet

    def test_the_files_lab_is_down_after_its_last_item():
        assert pipenet.names_up() == []
""")


def names_up(netns) -> list[str]:
    r = netns.run([sys.executable, "-c", "import json, pipenet; print(json.dumps(pipenet.names_up()))"])
    return json.loads(r.stdout)


def namespaces(netns) -> list[str]:
    """The test world's named namespaces but the lived-in world's own."""
    names = [line.split()[0] for line in netns.out(["ip", "netns", "list"]).splitlines() if line.strip()]
    return sorted(n for n in names if n != "othertool")


def run_inside(pytester, netns, *args: str, timeout: float = 300):
    """pytest on pytester's directory, started inside the test world (RunResult, with its outcomes)."""
    argv = netns.argv(["env", "-C", str(pytester.path), sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                       f"--basetemp={pytester.path / 'basetemp'}", *args])
    return pytester.run(*argv, timeout=timeout)


# ---- which files are collected (no kernel) ---------------------------------------------------------------
def test_a_directory_s_topologies_are_not_collected_unless_asked(pytester):
    """Installing pipenet must not make a project's suite start running the .pn files beside its tests."""
    pytester.makefile(".pn", lab=ITEMS)
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_plain.py::test_one", "1 test collected*"])
    assert "lab.pn" not in result.stdout.str()


def test_a_topology_named_on_the_command_line_is_one_item_per_expect(pytester):
    pytester.makefile(".pn", lab=ITEMS)
    result = pytester.runpytest_subprocess("--collect-only", "-q", "lab.pn")
    result.stdout.fnmatch_lines(["lab.pn::expect a can reach b", "lab.pn::expect b can reach 10.9.0.1",
                                 "lab.pn::expect a can reach 10.9.0.77", "lab.pn::expect a cannot reach b",
                                 "4 tests collected*"])


def test_pipenet_files_collects_matching_topologies_under_a_directory(pytester):
    pytester.makeini("[pytest]\npipenet_files = topologies/*.pn\n")
    (pytester.path / "topologies").mkdir()
    (pytester.path / "topologies" / "lab.pn").write_text(ITEMS)
    (pytester.path / "other.pn").write_text(FIXTURE_LAB)  # matches no pattern
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(["topologies/lab.pn::expect a can reach b", "4 tests collected*"])
    assert "other.pn" not in result.stdout.str()


def test_expectations_with_the_same_words_are_told_apart(pytester):
    pytester.makefile(".pn", loop="topology loop\ncontainer a { }\ncontainer b { }\n"
                                  "for i in 1..2 { expect a can reach b }\n")
    result = pytester.runpytest_subprocess("--collect-only", "-q", "loop.pn")
    result.stdout.fnmatch_lines(["loop.pn::expect a can reach b", "loop.pn::expect a can reach b (#2, line 4)",
                                 "2 tests collected*"])


#: an all-pairs statement is one item; the second fails, c having no network
PAIRS = textwrap.dedent("""
    topology pairs
    bridge br0 { address 10.9.0.1/24 }
    container a { net br0 }
    container b { net br0 }
    container c { net none }
    expect all of [ab] can reach all of [ab]
    expect all of * can reach all of *
""")


def test_an_all_pairs_statement_is_one_item(pytester):
    pytester.makefile(".pn", pairs=PAIRS)
    result = pytester.runpytest_subprocess("--collect-only", "-q", "pairs.pn")
    result.stdout.fnmatch_lines(["pairs.pn::expect all of [[]ab] can reach all of [[]ab]",
                                 "pairs.pn::expect all of * can reach all of *", "2 tests collected*"])


def test_a_wrong_topology_is_a_collection_error_with_located_diagnostics(pytester):
    pytester.makefile(".pn", bad="topology bad\ncontainer a { net nowhere }\n")
    result = pytester.runpytest_subprocess("-q", "bad.pn")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # (pytest's status for errors during collection)
    result.stdout.fnmatch_lines(["*ERROR collecting bad.pn*", "*bad.pn:2:*: error: *nowhere*",
                                 " 2 | container a { net nowhere }", "*^*"])
    assert "Traceback" not in result.stdout.str()


def test_only_names_positions_of_the_files_expectations():
    """Lab.test(only=...) refuses, before touching anything, a position the file does not have."""
    import pipenet

    lab = pipenet.load(ITEMS)
    for wrong in ([4], [-1], ["0"], [True]):
        with pytest.raises(pipenet.UsageError, match="no expectation at position"):
            lab.test(only=wrong)


# ---- labs brought up, as root in the test world ---------------------------------------------------------
def test_fixture_labs_and_a_topology_s_items_as_root(pytester, netns):
    """The fixture's lab is up in its test and down after it, passed or failed; a .pn file's expectations
    are one item each, passing and failing apart, with the probe's detail; its lab is down once its
    last item has run."""
    pytester.makefile(".pn", fx=FIXTURE_LAB, items=ITEMS)
    pytester.makepyfile(test_fx=FIXTURE_TESTS, test_z_after=AFTER_ITEMS)
    result = run_inside(pytester, netns, "-v", "-rf", "test_fx.py", "items.pn", "test_z_after.py")
    result.assert_outcomes(passed=5, failed=3)
    result.stdout.fnmatch_lines([
        "test_fx.py::test_up_and_exec PASSED*",
        "test_fx.py::test_fails_with_the_lab_up FAILED*",
        "test_fx.py::test_the_failed_tests_lab_is_down PASSED*",
        "items.pn::expect a can reach b PASSED*",
        "items.pn::expect b can reach 10.9.0.1 PASSED*",
        "items.pn::expect a can reach 10.9.0.77 FAILED*",
        "items.pn::expect a cannot reach b FAILED*",
        "test_z_after.py::test_the_files_lab_is_down_after_its_last_item PASSED*",
    ])
    out = result.stdout.str()
    assert "failing on purpose" in out
    result.stdout.fnmatch_lines(["*items.pn:7: expect a can reach 10.9.0.77*", "ping 10.9.0.77: no echo reply*"])
    result.stdout.fnmatch_lines(["*items.pn:8: expect a cannot reach b*", "ping 10.9.0.3: answered in*"])
    assert names_up(netns) == [] and namespaces(netns) == []
    assert netns.run(["ip", "-o", "link", "show", "type", "bridge"]).stdout.count("br0") == 0


def test_an_all_pairs_item_fails_with_its_matrix(pytester, netns):
    pytester.makefile(".pn", pairs=PAIRS)
    result = run_inside(pytester, netns, "-v", "pairs.pn")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*pairs.pn:7: expect all of * can reach all of *",
                                 "4 of 6 pairs failed (rows: sources, columns: targets; X failed):",
                                 "   a b c", "a  - . X", "b  . - X", "c  X X -"])
    assert names_up(netns) == []


def test_a_topology_that_cannot_come_up_is_each_item_s_setup_error(pytester, netns):
    """The lived-in world's own bridge is in the way: each item errors at setup with pipenet's words (no
    traceback through pipenet), and the foreign bridge is left as it was."""
    pytester.makefile(".pn", cf="topology cf\nbridge br-foreign { address 10.6.0.1/24 }\n"
                                "container a { net br-foreign }\nexpect a can reach 10.6.0.1\n"
                                "expect a can reach 10.6.0.2\n")
    result = run_inside(pytester, netns, "cf.pn")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*ERROR at setup of cf.pn:4: expect a can reach 10.6.0.1*",
                                 "pipenet could not bring cf up: Conflict: an interface named br-foreign *"])
    assert "Traceback" not in result.stdout.str() and "pipenet/engine" not in result.stdout.str()
    assert "192.168.77.1/24" in netns.out(["ip", "-o", "addr", "show", "dev", "br-foreign"])
    assert names_up(netns) == [] and namespaces(netns) == []


#: Ctrl-C raises KeyboardInterrupt in the runs below as in a terminal, even when this suite was started as a
#: background job (a shell without job control starts those with SIGINT ignored; Python then installs no
#: handler of its own, and the children inherit that)
CTRL_C = "signal.signal(signal.SIGINT, signal.default_int_handler)\n"

INTERRUPTED = "import os, signal\n" + CTRL_C + textwrap.dedent("""
    def test_interrupted(pipenet_lab):
        lab = pipenet_lab("fx.pn")
        assert lab.exec("c", ["true"]).returncode == 0
        os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C, with the lab up
""")

#: interrupts the run at a .pn file's second item, its lab up
INTERRUPT_AT_ITEM = "import os, signal\n" + CTRL_C + textwrap.dedent("""
    import pipenet

    def pytest_runtest_call(item):
        if item.name.startswith("expect b can reach"):
            assert pipenet.names_up() == ["items"]
            os.kill(os.getpid(), signal.SIGINT)
""")


def test_an_interrupted_run_takes_its_labs_down(pytester, netns):
    pytester.makefile(".pn", fx=FIXTURE_LAB, items=ITEMS)
    pytester.makepyfile(test_interrupted=INTERRUPTED)
    result = run_inside(pytester, netns, "test_interrupted.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])
    assert names_up(netns) == [] and namespaces(netns) == []

    pytester.makeconftest(INTERRUPT_AT_ITEM)
    result = run_inside(pytester, netns, "-v", "items.pn")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["items.pn::expect a can reach b PASSED*", "*KeyboardInterrupt*"])
    assert "expect a cannot reach b" not in result.stdout.str()  # (stopped there)
    assert names_up(netns) == [] and namespaces(netns) == []


def test_keep_leaves_the_labs_up_and_says_how_to_take_them_down(pytester, netns):
    pytester.makefile(".pn", fx=FIXTURE_LAB)
    pytester.makepyfile(test_fx="def test_up(pipenet_lab):\n    pipenet_lab('fx.pn')\n")
    (pytester.path / "kept.pn").write_text("topology kept\nbridge br2 { address 10.7.0.1/24 }\n"
                                           "container k { net br2 }\nexpect k can reach 10.7.0.1\n")
    result = run_inside(pytester, netns, "--pipenet-keep", "test_fx.py", "kept.pn")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*pipenet: labs left up (--pipenet-keep)*",
                                 "fx is up; take it down with: pipenet down fx",
                                 "kept is up; take it down with: pipenet down kept"])
    assert names_up(netns) == ["fx", "kept"]
    for name in ("fx", "kept"):
        assert netns.pipenet("down", name).returncode == 0
    assert names_up(netns) == [] and namespaces(netns) == []


# ---- without root: the sandbox -------------------------------------------------------------------------
def _nobody_with_pytest(shared_dir) -> tuple[str, dict]:  # noqa: F811
    """nobody_env, with pytest importable by `nobody` too (in a copy of the packages when the checkout's
    own are out of nobody's reach)."""
    py, env = nobody_env(shared_dir)
    lib = env.get("PYTHONPATH")
    if lib:
        import pytest as pt

        sp = os.path.dirname(os.path.dirname(pt.__file__))
        for pkg in ("pytest", "_pytest", "pluggy", "iniconfig", "packaging"):
            if os.path.isdir(os.path.join(sp, pkg)) and not os.path.exists(os.path.join(lib, pkg)):
                shutil.copytree(os.path.join(sp, pkg), os.path.join(lib, pkg))
        subprocess.run(["chmod", "-R", "a+rX", lib], check=True)
    return py, env


def test_without_root_the_labs_are_in_sandboxes(netns, shared_dir):  # noqa: F811
    """As `nobody` (no root anywhere): the fixture and the .pn items bring their labs up in sandboxes,
    by default; every sandbox has ended when the run is over."""
    for name, text in (("fx.pn", FIXTURE_LAB), ("items.pn", ITEMS)):
        with open(os.path.join(shared_dir, name), "w") as f:
            f.write(text)
    with open(os.path.join(shared_dir, "test_fx.py"), "w") as f:
        f.write(FIXTURE_TESTS)
    subprocess.run(["chmod", "-R", "a+rwX", shared_dir], check=True)
    py, env = _nobody_with_pytest(shared_dir)
    plugin = ["-p", "pipenet.pytest_plugin"] if env.get("PYTHONPATH") else []  # (a copy has no entry points)
    holders = _holders()
    r = netns.run(NOBODY + ["env", "-C", shared_dir, *[f"{k}={v}" for k, v in env.items()], py, "-m", "pytest",
                            "-p", "no:cacheprovider", *plugin, "-v", "test_fx.py", "items.pn"],
                  check=False, timeout=300)
    out = r.stdout + r.stderr
    assert re.search(r"\b3 failed, 4 passed\b", out), out
    assert "test_fx.py::test_up_and_exec PASSED" in out and "items.pn::expect a can reach b PASSED" in out
    assert "items.pn::expect a cannot reach b FAILED" in out
    assert _holders() == holders  # every sandbox has ended


# ---- the documentation's example ------------------------------------------------------------------------
def test_the_docs_pytest_md_example_runs(pytester, netns):
    """docs/pytest.md's example, as written: its topology, its test file, and `pytest` on both."""
    with open(os.path.join(REPO, "docs", "pytest.md")) as f:
        doc = f.read()
    blocks = dict(re.findall(r"`([\w.]+)`:\n\n```[a-z]*\n(.*?)```", doc, re.S))
    assert {"web.pn", "test_web.py"} <= set(blocks), sorted(blocks)
    for name, text in blocks.items():
        (pytester.path / name).write_text(text)
    command, shown = re.search(r"\n\$ (pytest [^\n]*)\n(.*?)```", doc, re.S).groups()
    result = run_inside(pytester, netns, *command.split()[1:])
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([line.split(" PASSED")[0] + " PASSED*" for line in shown.splitlines()])
    expects = sum(1 for line in blocks["web.pn"].splitlines() if line.startswith("expect "))
    tests = blocks["test_web.py"].count("\ndef test_")
    result.assert_outcomes(passed=expects + tests)
    assert names_up(netns) == [] and namespaces(netns) == []


def test_the_readmes_pytest_command_runs(netns):
    """README.md's pytest command, as written, from the repository's root: one test per `expect`."""
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    section = readme.split("## Use it from Python and pytest\n", 1)[1].split("\n## ", 1)[0]
    args = re.search(r"```\n\.venv/bin/python -m pytest ([^\n]*)\n```", section).group(1).split()
    with open(os.path.join(REPO, "examples", "foundations.pn")) as f:
        expected = len(re.findall(r"^expect ", f.read(), re.M))
    r = netns.run(["env", "-C", REPO, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                  check=False, timeout=300)
    assert r.returncode == 0 and f" {expected} passed" in r.stdout, r.stdout + r.stderr
    assert r.stdout.count("examples/foundations.pn::expect ") == expected
    assert names_up(netns) == [] and namespaces(netns) == []
