"""pipenet's pytest plugin (registered through the `pytest11` entry point; docs/pytest.md).

- `pipenet_lab`: a fixture factory. `lab = pipenet_lab("topology.pn")` brings the lab up (in a sandbox
  when not root, so it runs where only user namespaces are allowed, as on hosted CI runners) and
  returns the `pipenet.Lab`; a finalizer takes it down when the test ends, however it ends: passed,
  failed, errored, or interrupted (pytest runs the finalizers of a session stopped by Ctrl-C).
- `--pipenet-keep`: labs are left up for debugging, and the run ends by saying how to take each down.
- A `.pn` file named on the command line (or matching the `pipenet_files` ini patterns) is a test
  file: each of its `expect` statements is one item (an all-pairs statement too, failing with its
  matrix of failed pairs); the lab is brought up once for the file, before its
  first item, and taken down after its last.

It is a layer above the library, like the command line: everything goes through `pipenet.api`. It is
loaded by every pytest run of an environment where pipenet is installed, so it imports nothing of
pipenet until a test asks, and collects nothing it was not asked to.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: the config stash key of the names of labs left up by --pipenet-keep, in the order they came up
KEPT = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pipenet", "pipenet labs")
    group.addoption("--pipenet-keep", action="store_true", default=False,
                    help="leave the labs brought up by tests up after the run, for debugging; the run ends "
                         "by saying how to take each down (pipenet down NAME)")
    parser.addini("pipenet_files", type="args", default=[],
                  help="glob patterns of topology files whose expectations are collected as tests when "
                       "found under a directory being collected (a .pn file named on the command line "
                       "always is); none by default")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[KEPT] = []


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    """A topology file is a test file when it is named on the command line (`pytest lab.pn`), or when
    it matches a `pipenet_files` pattern; a directory's .pn files are otherwise left alone, so that a
    project with topologies beside its tests does not start running them by installing pipenet."""
    named = file_path.suffix == ".pn" and parent.session.isinitpath(file_path)
    if named or any(file_path.match(p) for p in parent.config.getini("pipenet_files")):
        return TopologyFile.from_parent(parent, path=file_path)
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    kept = list(dict.fromkeys(config.stash.get(KEPT, [])))
    if kept:
        terminalreporter.section("pipenet: labs left up (--pipenet-keep)")
        for name in kept:
            terminalreporter.write_line(f"{name} is up; take it down with: pipenet down {name}")


# ---- the fixture ------------------------------------------------------------------------------------------
def default_sandbox() -> bool:
    """Root brings labs up on the machine (like `pipenet up`); anyone else in a sandbox, the only way."""
    return os.geteuid() != 0


class Held:
    """A lab a test brought up, until its finalizer takes it down (or, with --pipenet-keep, leaves it)."""

    def __init__(self, lab, config: pytest.Config):
        self.lab = lab
        self.config = config
        self.untouched = False  # its `up` refused before changing anything, or rolled back: nothing to take down

    def up(self, sandbox: bool) -> None:
        from pipenet.errors import PipenetError

        try:
            self.lab.up(sandbox=sandbox)
        except PipenetError:
            self.untouched = True  # (pipenet's errors are raised before changes, or after a rollback)
            raise

    def finish(self) -> None:
        if self.untouched:
            return
        if self.config.getoption("pipenet_keep"):
            self.config.stash[KEPT].append(self.lab.name)
            return
        self.lab.down()


@pytest.fixture
def pipenet_lab(request: pytest.FixtureRequest):
    """`pipenet_lab(source, sandbox=None, variables=None) -> pipenet.Lab`: the lab of `source` (a .pn
    file, relative to the test file's directory, or a topology's text), up; taken down when the test
    ends, whatever happened in it. `sandbox` None: a sandbox when not root."""
    import pipenet

    def make(source, *, sandbox: bool | None = None, variables: dict | None = None):
        source = os.fspath(source)
        if "\n" not in source and "{" not in source:  # a path (pipenet.load's own rule for text)
            source = os.path.join(request.path.parent, source)
        held = Held(pipenet.load(source, variables=variables), request.config)
        request.addfinalizer(held.finish)  # before `up`: an `up` interrupted half-way is taken down too
        held.up(default_sandbox() if sandbox is None else sandbox)
        return held.lab

    return make


# ---- a topology file as a test file ---------------------------------------------------------------------
class TopologyFile(pytest.File):
    """A .pn file: one item per expectation, one lab for all of them."""

    held: Held | None = None

    def collect(self):
        import pipenet

        self.lab = pipenet.load(self.path)
        seen: set[str] = set()
        for i, e, indexes in _statements(self.lab.topology.expectations):
            name = f"expect {(e.statement or e).describe()}"
            if name in seen:  # (the same words twice, or from a loop: told apart by their place)
                name = f"{name} (#{i + 1}, line {e.span.line})"
            seen.add(name)
            yield ExpectationItem.from_parent(self, name=name, index=i, line=e.span.line, indexes=indexes)

    def setup(self) -> None:
        """Brought up before the file's first item; a failure here is each item's setup error, told in
        pipenet's words (what is in the way, what rolled back), not as a traceback through pipenet."""
        from pipenet.errors import PipenetError

        self.held = Held(self.lab, self.config)
        try:
            self.held.up(default_sandbox())
            return
        except PipenetError as e:
            why = f"pipenet could not bring {self.lab.name} up: {type(e).__name__}: {e}"
        pytest.fail(why, pytrace=False)  # (out of the `except`: no "during handling of the above")

    def teardown(self) -> None:
        """After the file's last item (or at the end of an interrupted session)."""
        if self.held is not None:
            held, self.held = self.held, None
            held.finish()

    def repr_failure(self, excinfo):
        from pipenet.diagnostics import render
        from pipenet.errors import InvalidTopology

        if isinstance(excinfo.value, InvalidTopology):
            return render(excinfo.value.diagnostics, excinfo.value.sources)
        return super().repr_failure(excinfo)


def _statements(expectations):
    """(position, expectation, positions) of each `expect` statement: an all-pairs statement is one item,
    standing for all its pairs (one test per pair would make 9,900 items of a `pingall` of 100 nodes)."""
    out: list = []
    for i, e in enumerate(expectations):
        if e.statement is not None and out and out[-1][1].statement is e.statement:
            out[-1][2].append(i)
        else:
            out.append((i, e, [i]))
    return out


class ExpectationFailed(Exception):
    """An `expect` the network did not meet; its message is the probe's detail."""


class ExpectationItem(pytest.Item):
    """One `expect` of a topology file, checked on its file's lab."""

    def __init__(self, *, index: int, line: int, indexes: list[int] | None = None, **kw):
        super().__init__(**kw)
        self.index = index  # its position in the topology's expectations (Lab.test(only=...))
        self.indexes = indexes or [index]  # (an all-pairs statement: the positions of all its pairs)
        self.line = line

    def runtest(self) -> None:
        from pipenet import matrix

        report = self.parent.lab.test(only=self.indexes)
        if report.all_pairs:
            m = report.all_pairs[0]
            if m.failed:
                shown = matrix.grid(m) if matrix.fits(m, matrix.PIPE_WIDTH) else matrix.failing(m)
                raise ExpectationFailed("\n".join([f"{m.failed} of {m.pairs} pairs failed "
                                                    "(rows: sources, columns: targets; X failed):", *shown]))
            return
        check = report.results[0]
        if not check.passed:
            raise ExpectationFailed(check.detail)

    def repr_failure(self, excinfo, style=None):
        from pipenet.errors import PipenetError

        if isinstance(excinfo.value, ExpectationFailed):
            return str(excinfo.value)  # (the header above it says which expect, and where)
        if isinstance(excinfo.value, PipenetError):
            return f"{type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        """(file, line, heading): the heading of a failure is `FILE:LINE: expect ...`. (Were it the item's
        name, the verbose listing would show its dots as `::`, as of a Python test's dotted name.)"""
        return self.path, self.line - 1, f"{self.nodeid.split('::')[0]}:{self.line}: {self.name}"
