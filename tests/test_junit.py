"""`pipenet test --junit FILE.xml` and `TestReport.write_junit`: one testcase per expectation, a failure
carrying the probe's detail, written atomically; parsed back with xml.etree.

The reports come from real runs in the harness's private namespaces, as root and in a sandbox, from
the command line and from Python; the XML itself is also checked on a report made by hand (characters
XML must escape, a detail of several lines).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from pipenet import junit
from pipenet.errors import UsageError
from pipenet.results import Check, TestReport
from tests.sandbox.test_sandbox import as_nobody, shared_dir, write_topology  # noqa: F401 - a fixture

LAB = textwrap.dedent("""
    topology junit
    bridge br0 { address 10.79.0.1/24 }
    container a { net br0 }
    container b { net br0 }
    expect a can reach b
    expect b can reach 10.79.0.1
    expect a cannot reach b        # fails: they share a bridge
""")


def parse(path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root


def cases(root: ET.Element) -> list[ET.Element]:
    (suite,) = root.findall("testsuite")
    return suite.findall("testcase")


def test_the_xml_of_a_report_made_by_hand(tmp_path):
    report = TestReport("lab", [Check(3, "a can reach b", True, "", 0.0123),
                                Check(7, 'a cannot reach "b" <&>', False, "answered <in 2 ms> & more\nsecond line",
                                      1.5)], seconds=1.52, file="dir/lab.pn")
    out = tmp_path / "r.xml"
    report.write_junit(str(out))
    root = parse(out)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    (suite,) = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("time")) == ("lab", "2", "1",
                                                                                               "1.520")
    ok, bad = cases(root)
    assert (ok.get("classname"), ok.get("name"), ok.get("line"), ok.get("time")) == \
        ("dir/lab.pn", "a can reach b (line 3)", "3", "0.012")
    assert ok.find("failure") is None
    assert bad.get("name") == 'a cannot reach "b" <&> (line 7)'
    failure = bad.find("failure")
    assert failure.get("message") == "answered <in 2 ms> & more"  # the first line; the whole detail below
    assert failure.text == 'dir/lab.pn:7: expect a cannot reach "b" <&>\nanswered <in 2 ms> & more\nsecond line'
    assert oct(os.stat(out).st_mode & 0o777) == "0o644"
    # the classname given overrides the report's file; a report from text is named by its topology
    assert cases(ET.fromstring(report.to_junit("other.pn")))[0].get("classname") == "other.pn"
    report.file = None
    assert cases(ET.fromstring(report.to_junit()))[0].get("classname") == "lab"


def test_written_atomically_over_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    link = tmp_path / "report.xml"
    link.symlink_to(victim)
    junit.write(TestReport("lab", [Check(1, "a can reach b", True, "", 0.1)]), str(link))
    assert victim.read_text() == "keep me\n" and not link.is_symlink()
    assert len(cases(parse(link))) == 1
    assert sorted(os.listdir(tmp_path)) == ["report.xml", "victim"]  # no temporary file left


def test_a_report_that_cannot_be_written_is_refused_before_anything_runs(netns, tmp_path):
    with pytest.raises(UsageError, match="is a directory"):
        junit.writable(str(tmp_path))
    with pytest.raises(UsageError, match="no directory"):
        junit.writable(str(tmp_path / "missing" / "r.xml"))
    path = tmp_path / "junit.pn"
    path.write_text(LAB)
    for target in (str(tmp_path / "missing" / "r.xml"), str(tmp_path)):
        r = netns.pipenet("test", str(path), "--junit", target)
        assert r.returncode == 1 and r.stderr.startswith("pipenet: ") and len(r.stderr.splitlines()) == 1, r.stderr
    assert json.loads(netns.pipenet("ls", "--json").stdout)["topologies"] == []  # nothing was brought up


def test_as_root_from_the_command_line_and_from_python(netns, tmp_path):
    path = tmp_path / "junit.pn"
    path.write_text(LAB)
    out = tmp_path / "report.xml"
    r = netns.pipenet("test", str(path), "--json", "--junit", str(out))
    assert r.returncode == 4, r.stderr
    doc = json.loads(r.stdout)
    root = parse(out)
    assert (root.get("tests"), root.get("failures")) == ("3", "1")
    got = [(c.get("classname"), c.get("name"), c.find("failure") is not None) for c in cases(root)]
    assert got == [(str(path), f"{x['expectation']} (line {x['line']})", not x["passed"]) for x in doc["results"]]
    failure = cases(root)[2].find("failure")
    assert doc["results"][2]["detail"] and doc["results"][2]["detail"] in failure.text
    # the same report from Python: Lab.test() results
    driver = ("import sys, pipenet\nlab = pipenet.load(sys.argv[1])\nreport = lab.test()\n"
              "report.write_junit(sys.argv[2])\nprint(report.failed)\n")
    again = tmp_path / "api.xml"
    r = netns.run([sys.executable, "-c", driver, str(path), str(again)], check=False)
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    assert [(c.get("classname"), c.get("name")) for c in cases(parse(again))] == [(a, b) for a, b, _ in got]
    assert netns.pipenet("down", "junit").returncode == 0


def test_in_a_sandbox(netns, tmp_path):
    path = tmp_path / "junit.pn"
    path.write_text(LAB.replace("expect a cannot reach b        # fails: they share a bridge\n", ""))
    out = tmp_path / "report.xml"
    r = netns.pipenet("test", "--sandbox", str(path), "--junit", str(out))
    try:
        assert r.returncode == 0, r.stderr
        root = parse(out)  # written outside the sandbox, by the caller
        assert (root.get("tests"), root.get("failures")) == ("2", "0")
        assert [c.get("name") for c in cases(root)] == ["a can reach b (line 6)", "b can reach 10.79.0.1 (line 7)"]
    finally:
        assert netns.pipenet("down", "junit").returncode == 0


def test_in_a_sandbox_without_root(netns, shared_dir):
    """As `nobody`, as on a CI runner: the report is the user's file, in the user's directory."""
    path = write_topology(shared_dir, "junit", LAB)
    pn, tmp = as_nobody(netns, shared_dir)
    out = os.path.join(tmp, "report.xml")
    r = pn("test", "--sandbox", path, "--junit", out)
    try:
        assert r.returncode == 4, r.stdout + r.stderr
        root = parse(out)
        assert (root.get("tests"), root.get("failures")) == ("3", "1")
        assert os.stat(out).st_uid == 65534
    finally:
        assert pn("down", "junit").returncode == 0
    os.unlink(out)
    assert os.listdir(tmp) == []


def test_the_option_is_in_the_help():
    r = subprocess.run([sys.executable, "-m", "pipenet", "test", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--junit" in r.stdout
