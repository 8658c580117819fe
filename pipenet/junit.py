"""A test report as JUnit XML, the format every CI system shows as a table of tests.

Why a module of its own: the CLI (`pipenet test --junit FILE.xml`) and a
Python caller (`lab.test().write_junit("report.xml")`) write the same
report, and in a sandbox the expectations run inside it while the report is
written outside, by the caller, with the caller's permissions. One
`<testcase>` per expectation (classname: the topology file, name: the
expectation and its line; for each pair of an all-pairs statement, the
classname is the file and the statement, so a CI viewer groups the pairs
under it), a failed one carrying the probe's detail. The
file is written atomically: a CI step never uploads half a report.
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def to_xml(report, file: str | None = None) -> bytes:
    """The JUnit XML of a `pipenet.results.TestReport` (`file`: the topology file, the testcases' classname;
    by default the one the report was made from, else the topology's name)."""
    file = file or getattr(report, "file", None) or report.topology
    checks = list(report.results)
    failures = sum(1 for c in checks if not c.passed)
    total = _seconds(report.seconds)
    suites = ET.Element("testsuites", name="pipenet", tests=str(len(checks)), failures=str(failures),
                        errors="0", time=total)
    suite = ET.SubElement(suites, "testsuite", name=report.topology, tests=str(len(checks)),
                          failures=str(failures), errors="0", skipped="0", time=total,
                          timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                          hostname=socket.gethostname())
    pairs = getattr(report, "all_pairs", [])
    for c in checks:
        # (a pair of an all-pairs statement: its statement is its class, so a viewer groups the pairs under it)
        group = file if c.statement is None else f"{file}: expect {pairs[c.statement].expectation}"
        case = ET.SubElement(suite, "testcase", classname=group, name=f"{c.expectation} (line {c.line})",
                             file=file, line=str(c.line), time=_seconds(c.seconds))
        if not c.passed:
            detail = c.detail or "failed"
            failure = ET.SubElement(case, "failure", message=detail.splitlines()[0], type="expectation")
            failure.text = f"{file}:{c.line}: expect {c.expectation}\n{detail}"
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def writable(path: str) -> None:
    """Refuse, before the expectations run, a report path that cannot be written: a directory, or a file in
    a directory that does not exist or that this user may not write in (UsageError, one line)."""
    import os

    from pipenet.errors import UsageError

    where = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"the JUnit report {path} is a directory")
    if not os.path.isdir(where) or not os.access(where, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the JUnit report {path}: "
                         f"{'no directory' if not os.path.isdir(where) else 'no permission to write in'} {where}")


def write(report, path: str, file: str | None = None) -> None:
    """Write the report's JUnit XML to `path`, atomically (a symlink there is replaced, not followed)."""
    from pipenet.fsutil import write_atomic

    write_atomic(path, to_xml(report, file), mode=None, durable=False)
