"""What the library's calls return: plain dataclasses, each with `to_json()` (what `--json` prints).

The CLI renders these; a Python caller reads them. They hold no handles and
pickle, so they cross from a sandbox's namespaces to the caller.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

#: how the summary table names each kind of operation
KIND_NAMES = {"netns": "namespaces", "use-netns": "attached namespaces", "bridge": "bridges", "veth": "veth pairs",
              "link": "interfaces", "addr": "addresses", "route": "routes", "sysctl": "sysctls",
              "host-setting": "host settings", "shape": "shaped interfaces", "etc": "/etc files",
              "node-path": "node files and directories", "process": "processes", "firewall": "firewall tables", "tunnel": "tunnels"}

#: The version of each `--json` document, carried in it as `"schema"`. Each names a JSON Schema shipped in
#: `pipenet/schemas/` (COMMAND.vN.json): a change of a document's fields is a new version, never an edit.
#: `status-all` is `status --json` without a name: every topology's status document in one.
#: `status NAME --json` of a topology across machines: version 2 with each item naming its machine
STATUS_ACROSS_MACHINES = "pipenet/status/v3"
#: `test --json` of a file with all-pairs statements: version 1 with each statement's summary and each pair's
#: source, target and statement (a file without them keeps version 1, byte for byte)
TEST_WITH_ALL_PAIRS = "pipenet/test/v2"
SCHEMA = {"check": "pipenet/check/v1", "plan": "pipenet/plan/v1", "status": "pipenet/status/v2",
          "status-all": "pipenet/status-all/v2", "ls": "pipenet/ls/v2", "test": "pipenet/test/v1"}


def every_topology(document: str, items: list, complete: bool) -> dict:
    """`ls --json` and `status --json` (no name): one object, not an array, so that it carries its version
    even when nothing is up, and says whether the list is `complete` (false: root's records could not be
    read, so only this user's sandboxes are in it). `items` are LabInfo or Status values."""
    return {"schema": SCHEMA[document], "complete": complete, "topologies": [i.to_json() for i in items]}


@dataclass
class PlanStep:
    """One step of a plan: `+` apply, `~` repair, `-` remove, with why and the commands it stands for."""

    n: int
    action: str  # "apply", "repair" or "remove"
    kind: str
    key: str
    reason: str
    commands: list[str]

    @property
    def sign(self) -> str:
        return {"apply": "+", "remove": "-", "repair": "~"}[self.action]

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    topology: str
    steps: list[PlanStep] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.steps

    def to_json(self) -> dict:
        return {"schema": SCHEMA["plan"], "topology": self.topology, "empty": self.empty, "steps": [s.to_json() for s in self.steps]}


@dataclass
class Change:
    """What an `up` or a `down` did: the steps by action and kind, how long it took, and notes (a run
    taken over after a crash, say)."""

    topology: str
    counts: dict = field(default_factory=dict)  # {(action, kind name): n}
    steps: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    existed: bool = True  # for `down`: the topology was up

    @property
    def changed(self) -> bool:
        return self.steps > 0

    @classmethod
    def of(cls, topology: str, steps, seconds: float, notes=(), beyond=()) -> Change:
        """`beyond`: (action, kind) of each change made besides the plan's steps (`Prepared.beyond`)."""
        counts = Counter((s.action, KIND_NAMES.get(s.op.kind, s.op.kind)) for s in steps)
        counts.update((a, KIND_NAMES.get(kind, kind)) for a, kind in beyond)
        return cls(topology, dict(counts), len(steps) + len(beyond), seconds, list(notes))

    def to_json(self) -> dict:
        return {"topology": self.topology, "steps": self.steps, "seconds": round(self.seconds, 3),
                "notes": self.notes, "existed": self.existed,
                "counts": [{"action": a, "what": w, "n": n} for (a, w), n in sorted(self.counts.items())]}


@dataclass
class Status:
    """A topology's nodes (interfaces, addresses, routes as live), processes, published ports, and drift:
    every recorded change that is not live as made (`kind, node, object, state, expected, actual, detail`)."""

    topology: str
    up: bool
    file: str | None = None
    generation: int | None = None
    nodes: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    operations: int = 0
    processes: list[dict] = field(default_factory=list)
    published: list[dict] = field(default_factory=list)
    error: str | None = None  # a record that cannot be trusted
    sandbox: dict | None = None  # {holder: pid} when the topology lives in a sandbox
    runtime: list[dict] = field(default_factory=list)  # set at runtime (`pipenet link`/`shape`): not drift

    def to_json(self) -> dict:
        if not self.up and self.error is None:
            return {"schema": SCHEMA["status"], "topology": self.topology, "up": False}
        d = {"schema": SCHEMA["status"], **asdict(self)}
        if any("machine" in item for key in ("nodes", "drift", "processes", "published") for item in d[key]):
            d["schema"] = STATUS_ACROSS_MACHINES  # (each item names its machine: version 3)
        if d["error"] is None:
            d.pop("error")
        if d["sandbox"] is None:
            d.pop("sandbox")
        return d


@dataclass
class Check:
    """One expectation's result; for one pair of an all-pairs statement, also its source and target and
    which statement (its position in `TestReport.all_pairs`)."""

    line: int
    expectation: str
    passed: bool
    detail: str
    seconds: float
    source: str | None = None
    target: str | None = None
    statement: int | None = None

    def to_json(self) -> dict:
        d = {"expectation": self.expectation, "line": self.line, "passed": self.passed, "detail": self.detail,
             "seconds": round(self.seconds, 3)}
        if self.statement is not None:
            d.update(statement=self.statement, source=self.source, target=self.target)
        return d


@dataclass
class PairMatrix:
    """One all-pairs statement's summary: its rows (sources) and columns (targets) in file order, and how
    many of its pairs passed. `failing()`: the pairs that failed, by source."""

    line: int
    expectation: str  # the statement's words, `all of c* can reach all of c*`
    sources: list[str]
    targets: list[str]
    passed: int = 0
    failed: int = 0
    failures: dict = field(default_factory=dict)  # {source: [target, ...]}, in file order
    #: (source, target) of every pair probed: the others of the grid (a node and itself, two nodes of one
    #: network stack) never are
    probed: set = field(default_factory=set)

    @property
    def pairs(self) -> int:
        return self.passed + self.failed

    def failing(self, source: str, target: str) -> bool:
        return target in self.failures.get(source, ())

    def to_json(self) -> dict:
        return {"expectation": self.expectation, "line": self.line, "pairs": self.pairs, "passed": self.passed,
                "failed": self.failed, "sources": self.sources, "targets": self.targets,
                "failures": [{"source": s, "targets": ts} for s, ts in self.failures.items()]}


def tally(checks: list[Check], statements: list[tuple[int, str, list[str], list[str]]]) -> list[PairMatrix]:
    """The all-pairs statements' summaries from their pairs' checks (`statements`: each statement's line,
    words, sources and targets, by `Check.statement`)."""
    out = [PairMatrix(line, text, list(sources), list(targets)) for line, text, sources, targets in statements]
    for c in checks:
        if c.statement is None:
            continue
        m = out[c.statement]
        m.probed.add((c.source, c.target))
        if c.passed:
            m.passed += 1
        else:
            m.failed += 1
            m.failures.setdefault(c.source, []).append(c.target)
    return out


@dataclass
class TestReport:
    """`test`: every expectation's result, in file order; `up` is the change made first, if any."""

    __test__ = False  # (not a pytest test class)

    topology: str
    results: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    up: Change | None = None
    drift: int = 0  # changes from what `up` made, found and left alone (a link cut on purpose)
    file: str | None = None  # the topology file the lab was loaded from, as given (None for a lab from text)
    runtime: int = 0  # overrides set at runtime (`pipenet link`, `pipenet shape`), tested as they are
    all_pairs: list[PairMatrix] = field(default_factory=list)  # each all-pairs statement tested, in file order

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_json(self) -> dict:
        d = {"schema": SCHEMA["test"], "topology": self.topology, "passed": self.passed, "failed": self.failed,
             "seconds": round(self.seconds, 3), "results": [r.to_json() for r in self.results]}
        if self.all_pairs:
            d["schema"] = TEST_WITH_ALL_PAIRS
            d["all_pairs"] = [m.to_json() for m in self.all_pairs]
        return d

    def to_junit(self, file: str | None = None) -> bytes:
        """JUnit XML: one testcase per expectation, a failure carrying the probe's detail (`pipenet.junit`)."""
        from pipenet import junit

        return junit.to_xml(self, file)

    def write_junit(self, path: str, file: str | None = None) -> None:
        """Write `to_junit()` to `path`, atomically (what `pipenet test --junit PATH` does)."""
        from pipenet import junit

        junit.write(self, path, file)


@dataclass
class LabInfo:
    """One line of `ls`: a topology that is up, where, and how big (`to_json()`: one element of the
    `topologies` of `ls --json`, which carries the version for all of them)."""

    topology: str
    file: str | None
    nodes: int
    operations: int | None
    sandbox: dict | None = None
    error: str | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        if d["error"] is None:
            d.pop("error")
        return d


@dataclass
class CheckReport:
    """`check`: a file's diagnostics (every one, located) and, when it is right, what it declares."""

    file: str
    diagnostics: list = field(default_factory=list)  # pipenet.diagnostics.Diagnostic
    sources: dict = field(default_factory=dict)  # file -> SourceFile, for showing the lines
    topology: str | None = None
    counts: dict = field(default_factory=dict)  # bridges, containers, p2p, expectations

    @property
    def ok(self) -> bool:
        return not self.diagnostics

    def to_json(self) -> dict:
        from pipenet.diagnostics import to_json

        doc = {"schema": SCHEMA["check"], "file": self.file, "ok": self.ok, "diagnostics": to_json(self.diagnostics)}
        if self.ok and self.topology is not None:
            doc["topology"] = self.topology
            doc["counts"] = self.counts
        return doc


@dataclass
class Conversion:
    """`import` and `export`: the converted file's text, and one warning (a located Diagnostic of
    severity "warning") for each field or statement it could not carry."""

    text: str
    warnings: list = field(default_factory=list)  # pipenet.diagnostics.Diagnostic
    sources: dict = field(default_factory=dict)  # file -> SourceFile

    def to_json(self) -> dict:
        from pipenet.diagnostics import to_json

        return {"text": self.text, "warnings": to_json(self.warnings)}
