"""pipenet as a library: load a topology, plan it, bring it up, test it, run commands in its nodes,
take it down. The CLI is a thin layer over this; so is the pytest plugin.

    import pipenet

    lab = pipenet.load("lab.pn")              # raises pipenet.InvalidTopology (with .diagnostics)
    print(lab.plan().steps)
    lab.up()                                  # root, or lab.up(sandbox=True) without
    print(lab.exec("h1", ["ping", "-c1", "10.0.0.2"]).returncode)
    print(lab.test().ok)
    lab.down()

    with pipenet.up("lab.pn", sandbox=True) as lab:   # taken down on exit, exception or not
        ...

Where a lab lives (the namespace pipenet runs in, or a sandbox: private
namespaces kept by a holder process) is decided here, once: a lab that is up
in a sandbox is found there by its name, and every call on it runs inside it
(in a forked child that joins the sandbox's namespaces; the result comes back
pickled). Without root, `sandbox=True` is the way to bring a lab up.
"""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from pipenet import results
from pipenet.errors import PipenetError, UsageError
from pipenet.gcpause import kept, paused
from pipenet.words import counted

if TYPE_CHECKING:
    from pipenet.ir import Topology

#: what a lab given as text is called where a file's name would be (no file is written for it)
TEXT = "<text>"

#: why a step is planned when the file, not the live system, asks for it
FILE_REASONS = ("new", "changed in the file", "gone from the file")


# ---- where a lab lives --------------------------------------------------------------------------------
class Place:
    """The namespace pipenet runs in (`rec` None), or the sandbox whose outer record is `rec`."""

    def __init__(self, name: str, rec: dict | None = None):
        self.name = name
        self.rec = rec

    @property
    def sandboxed(self) -> bool:
        return self.rec is not None

    def call(self, fn: Callable):
        """fn() where the lab lives; its value (or exception) comes back here."""
        if self.rec is None:
            return fn()
        from pipenet.sandbox import sandbox as sb

        return sb.call_inside(self.rec, fn)


def place_of(name: str) -> Place:
    """Where topology `name` lives: in its sandbox when it has a live one, else here. A sandbox whose
    holder died is cleaned, and said so."""
    if os.environ.get("PIPENET_IN_SANDBOX"):
        return Place(name)
    from pipenet.sandbox import sandbox as sb

    rec = sb.load(name)
    if rec is None:
        return Place(name)
    if not sb.alive(rec):
        sb.forget(name, rec)
        raise UsageError(f"the sandbox of {name} is gone (its holder, pid {rec['pid']}, died); its state has "
                         f"been cleaned up")
    return Place(name, rec)


def need_root(command: str, why: str = "changes the network") -> None:
    if os.geteuid() != 0:
        raise UsageError(f"{command} {why} and needs root: run it as root (sudo pipenet {command} ...), or add "
                         f"--sandbox to run the topology in private namespaces without root")


class _Kernel:
    """The kernel backend, made on first use: a no-op `up` or `plan` never needs it (nor its imports)."""

    def __init__(self):
        self._k = None

    def __getattr__(self, name):
        if self._k is None:
            from pipenet.backends.kernel import Kernel
            from pipenet.engine.state import state_root

            self._k = Kernel(state_root=state_root())
        value = getattr(self._k, name)
        setattr(self, name, value)  # later uses skip this hook
        return value

    def close(self):
        if self._k is not None:
            self._k.close()


@contextmanager
def kernel():
    k = _Kernel()
    try:
        yield k
    finally:
        if not kept(k):  # (kept: the command ends its process, whose exit closes them all at once)
            k.close()


def set_variables(variables: dict | None) -> None:
    """`${NAME}` values from outside the file (the CLI's `--var`), exactly these: the front end and the
    engine read them from `pipenet.variables.CURRENT`, so each call of a lab sets its own (another lab's
    values never leak into it). Values are given as text, as on the command line."""
    from pipenet import variables as v

    v.CURRENT.clear()
    v.CURRENT.update({str(name): str(value) for name, value in (variables or {}).items()})


# ---- the lab ------------------------------------------------------------------------------------------
class Lab:
    """A topology: from a file (or its text), or, once up, by its name alone."""

    def __init__(self, path: str | os.PathLike | None = None, text: str | None = None, name: str | None = None,
                 variables: dict | None = None, machine: str | None = None, mtus: dict | None = None):
        self.path = os.fspath(path) if path is not None else None
        self.machine = machine  # one machine's slice of a topology across machines (docs/multi-host.md)
        self.mtus = mtus or {}
        self.remote: tuple | None = None  # (ssh destination, program) of that machine, when it is another
        self.text = text
        self._name = name
        self._topo: Topology | None = None
        self.variables = _checked_variables(variables)
        self._ended = False  # this object took its lab down (and, for a sandbox, ended the sandbox)

    # -- what it is ------------------------------------------------------------------------------------
    def _load(self) -> Topology:
        if self._topo is None:
            from pipenet.lang.load import load_text, read

            if self.path is None and self.text is None:
                raise UsageError(f"{self._name} was named, not loaded from its file: plan, up, test and the "
                                 f"topology need the file (pipenet.load(PATH))")
            set_variables(self.variables)
            if self.text is None:
                self.text = read(self.path)
            self._topo = load_text(self.text, self.path or TEXT)
            if self.machine is not None:
                from pipenet.plan.slice import slice_for

                self._topo = slice_for(self._topo, self.machine, self.mtus)
        return self._topo

    @property
    def spans_machines(self) -> bool:
        """Whether this is a whole topology across machines, which the coordinator brings up and down."""
        if self.machine is not None:
            return False
        if self.path is None and self.text is None:
            from pipenet.engine import coordinator

            return coordinator.journal(self.name) is not None
        from pipenet.plan.slice import spans_machines

        return spans_machines(self._load())

    @property
    def topology(self) -> Topology:
        """The parsed and validated topology (raises InvalidTopology)."""
        return self._load()

    @property
    def loaded(self) -> tuple[str, Topology]:
        return (self.text, self._load())

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self._load().name
        return self._name

    @property
    def nodes(self) -> list[str]:
        """Its containers' names (from the file, or from the record of a lab known by name)."""
        if self.path is not None or self.text is not None:
            return [c.name for c in self._load().containers]
        return sorted(n for n in self._record().get("ns", {}) if n != "host")

    def where(self) -> Place:
        return place_of(self.name)

    def _record(self) -> dict:
        from pipenet.engine.state import StateDir

        return self.where().call(lambda: StateDir(self.name).load() or {})

    def _file(self) -> str:
        """The path the engine records (a lab given as text has none: the engine is handed the text)."""
        self._load()
        return self.path if self.path is not None else TEXT

    # -- plan, up, down ---------------------------------------------------------------------------------
    @paused
    def plan(self) -> results.Plan:
        """What `up` would do: the file against the record and the live system (a topology across machines:
        each machine's, its steps' keys named `MACHINE/KEY`)."""
        set_variables(self.variables)
        fast = self._unchanged()  # (before anything else: an unchanged file is not even parsed)
        if fast is not None:
            return results.Plan(fast)
        if self.spans_machines:
            from pipenet.engine import coordinator

            need_root("plan", "asks every machine")
            steps = []
            for m, got in sorted(coordinator.plan(self._load(), self.text, self.path or TEXT,
                                                  dict(self.variables)).items()):
                steps += [results.PlanStep(len(steps) + 1, x["action"], x["kind"], f"{m}/{x['key']}", x["reason"],
                                           x["commands"]) for x in got.get("steps") or ()]
            return results.Plan(self.name, steps)
        place = self.where()
        path = self._file()
        loaded = self.loaded

        def here():
            from pipenet.engine.runtime import plan_shown
            from pipenet.engine.session import preflight, prepare

            with kernel() as k:
                p = prepare(path, k, loaded)
                preflight(p, k)
            return results.Plan(p.topo.name, plan_shown(p))

        return place.call(here)

    @paused
    def up(self, sandbox: bool = False, progress=None) -> results.Change:
        """Bring the live system to what the file says (see `pipenet up`); in a sandbox with `sandbox`, or
        in the one the lab already lives in."""
        set_variables(self.variables)
        if not sandbox:  # (before anything else: an unchanged file is not even parsed)
            fast = self._up_unchanged()
            if fast is not None:
                return fast
        if self.spans_machines:
            return self._up_everywhere(sandbox)
        place = self.where()
        path = self._file()
        loaded = self.loaded

        def here():
            from pipenet.engine.session import up

            if sandbox or place.sandboxed:  # (in the sandbox now: the same fast path as outside it)
                fast = self._up_unchanged()
                if fast is not None:
                    _done(progress)
                    return fast
            try:
                with kernel() as k:
                    p, seconds = up(path, k, progress, loaded)
            finally:
                _done(progress)
            return results.Change.of(p.topo.name, p.plan.steps, seconds, p.notes, p.beyond)

        if sandbox or place.sandboxed:
            return self._in_sandbox(place, here)
        need_root("up")
        return here()

    def _up_everywhere(self, sandbox: bool) -> results.Change:
        """Every machine's slice up, or none (`pipenet.engine.coordinator`)."""
        from pipenet.engine import coordinator

        if sandbox:
            raise UsageError("a topology across machines cannot run in a sandbox (each machine is a real one)")
        need_root("up")
        t0 = time.perf_counter()
        done = coordinator.up(self._load(), self.text, self.path or TEXT, dict(self.variables))
        return _merged(self.name, done, time.perf_counter() - t0)

    def _status_everywhere(self) -> results.Status:
        """Every machine's status as one: nodes and drift named with their machine."""
        from pipenet.engine import coordinator

        need_root("status", "reads every machine's record")
        answers = coordinator.ask_every(self.name, {"action": "status"})
        st = results.Status(self.name, True, file="machines " + ", ".join(sorted(answers)))
        for m, got in answers.items():
            st.up = st.up and bool(got.get("up"))
            st.operations += int(got.get("operations") or 0)
            for key in ("nodes", "drift", "processes", "published"):
                getattr(st, key).extend({**item, "machine": m} for item in got.get(key) or ())
        return st

    def _test_everywhere(self) -> results.TestReport:
        """Each machine checks the expectations whose source it has; one report, in file order."""
        from pipenet.engine import coordinator

        change = None
        if coordinator.journal(self.name) is None:
            change = self._up_everywhere(False)
        t0 = time.perf_counter()
        with coordinator.listening(self.name, self._load()):  # (a probe's target on another machine)
            answers = coordinator.ask_every(self.name, {"action": "test", "text": self.text,
                                                        "vars": dict(self.variables)})
        said: dict[tuple, list] = {}  # (a slice aims at an address where the file names a node)
        for n, e in enumerate(self._load().expectations):  # (a pair is told by its source too: one machine's)
            said.setdefault((e.span.line, e.source if e.statement is not None else None), []).append((n, e))
        done = []
        for m, got in answers.items():
            for r in got.get("results") or ():
                mine = said.get((r["line"], r.get("source") if "statement" in r else None)) or [(r["line"], None)]
                n, e = mine.pop(0) if len(mine) > 1 else mine[0]
                text = e.describe() if e is not None else r["expectation"]
                done.append((n, e, results.Check(r["line"], text, r["passed"], f"{r['detail']} (on {m})",
                                                 r["seconds"])))
        done.sort(key=lambda x: x[0])
        checks, matrices = _checks([(e, c) for _, e, c in done])
        return results.TestReport(self.name, checks, time.perf_counter() - t0, change, all_pairs=matrices)

    def _in_sandbox(self, place: Place, fn, keep_on=lambda value: True):
        """fn() in the lab's sandbox, made first when there is none (and ended again when that first
        call fails); the outer record then names its nodes and file."""
        from pipenet.engine.state import StateDir
        from pipenet.sandbox import sandbox as sb

        if os.geteuid() == 0 and not place.sandboxed and StateDir(self.name).exists():
            raise UsageError(f"{self.name} is up outside a sandbox; run `pipenet down {self.name}` first")
        rec, created = place.rec, False
        if rec is None:
            try:
                with sb.creating():
                    rec = place_of(self.name).rec  # (made meanwhile by another process: used, not doubled)
                    if rec is None:
                        rec, created = sb.start(self.name), True
            except OSError as e:
                raise UsageError(str(e.strerror or e)) from None
        inside = Place(self.name, rec)
        try:
            value = inside.call(fn)
        except BaseException:
            if created:
                sb.stop(self.name, rec)  # the first call failed: the sandbox held nothing before
            raise
        rec["nodes"] = inside.call(lambda: sorted((StateDir(self.name).load() or {}).get("ns", {})))
        if self.path is not None:  # so that `down FILE` finds it without the file's --var values
            from pipenet import variables

            rec["file"] = os.path.abspath(self.path)
            rec["vars"] = dict(variables.CURRENT)
        sb.save(self.name, rec)
        return value

    @paused
    def down(self, force: bool = False, progress=None) -> results.Change:
        """Remove what the lab made that is live and carries its mark (`force`: by the marks alone, for a
        record that cannot be trusted). A lab in a sandbox: the sandbox ends too."""
        name = self.name
        from pipenet.engine import coordinator

        if self.machine is None and coordinator.journal(name) is not None:
            need_root("down")
            t0 = time.perf_counter()
            done = coordinator.down(name)
            self._ended = True
            return _merged(name, done, time.perf_counter() - t0)
        place = self.where()
        if not place.sandboxed and os.geteuid() != 0:
            if self._not_up_here():
                return results.Change(name, existed=False)
            if not _readable():
                raise UsageError(f"{name} is not up in a sandbox of yours; a topology up outside a sandbox is "
                                 f"root's to take down (sudo pipenet down {name})")

        def here():
            from pipenet.engine.session import down, force_down

            t0 = time.perf_counter()
            try:
                with kernel() as k:
                    plan, existed = (force_down if force else down)(name, k, progress)
            finally:
                _done(progress)
            change = results.Change.of(name, plan.steps, time.perf_counter() - t0)
            change.existed = existed
            return change

        if place.sandboxed:
            from pipenet.sandbox import sandbox as sb

            change = place.call(here)
            sb.stop(name, place.rec)
            self._ended = True
            change.notes.append(f"the sandbox of {name} has ended")
            return change
        need_root("down")
        change = here()
        self._ended = True
        return change

    def _not_up_here(self) -> bool:
        """Without root, of a lab not in a sandbox: is it certainly not up? (This object took it down, or
        the records can be read and have none of it.) Otherwise only root can tell."""
        from pipenet.engine.state import StateDir

        if self._ended:
            return True
        return _readable() and not StateDir(self.name).exists()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        _down_keeping(self, exc)

    # -- looking at it ----------------------------------------------------------------------------------
    def status(self) -> results.Status:
        name = self.name
        if self.spans_machines:
            return self._status_everywhere()
        place = self.where()
        if not place.sandboxed and os.geteuid() != 0:
            if self._not_up_here():
                return results.Status(name, False)
            if not _readable():
                raise UsageError(f"{name} is not up in a sandbox of yours; only root can read the status of a "
                                 f"topology up outside a sandbox (sudo pipenet status {name})")

        def here():
            from pipenet.engine.status import status

            with kernel() as k:
                return status(name, k)

        st = place.call(here)
        if place.sandboxed:
            st.sandbox = {"holder": place.rec["pid"]}
        return st

    def test(self, sandbox: bool = False, progress=None, only: Iterable[int] | None = None) -> results.TestReport:
        """Bring the lab up if it is not, or if the file asks for something else (drift alone is not
        repaired: a link cut on purpose must fail its expectations), then check every `expect`, or, with
        `only`, those at these positions of `topology.expectations` (one pytest item checks its own)."""
        set_variables(self.variables)
        if self.spans_machines:
            if sandbox:
                raise UsageError("a topology across machines cannot run in a sandbox (each machine is a real one)")
            need_root("test")
            return self._test_everywhere()
        chosen = self._chosen(only)
        place = self.where()
        path = self._file()
        loaded = self.loaded

        def here():
            from pipenet.engine.session import preflight, prepare, up
            from pipenet.engine.state import StateDir
            from pipenet.expect.runner import Runner

            with kernel() as k:
                p = prepare(path, k, loaded)
                preflight(p, k)
                change, drift = None, 0
                if p.record is None or any(st.reason in FILE_REASONS for st in p.plan.steps):
                    try:
                        p2, seconds = up(path, k, progress, loaded)
                    finally:
                        _done(progress)
                    change = results.Change.of(p2.topo.name, p2.plan.steps, seconds, p2.notes, p2.beyond)
                    p = prepare(path, k, loaded)
                else:  # (what a runtime override did is not drift: it is tested as set)
                    from pipenet.engine.runtime import explained, overrides

                    runtime = overrides(p.record)
                    drift = len([s for s in p.plan.steps if not explained(s.op, p.plan.verdicts.get(s.op.key),
                                                                          runtime)])
                record = StateDir(p.topo.name).load() or {}
                t0 = time.perf_counter()
                exps = list(p.topo.expectations)
                checks = Runner(p.topo, record, k).run(exps if chosen is None else [exps[i] for i in chosen])
                seconds = time.perf_counter() - t0
            made, matrices = _checks([(r.expectation, results.Check(r.expectation.span.line, r.expectation.describe(),
                                                                    r.ok, r.detail, r.seconds)) for r in checks])
            return results.TestReport(p.topo.name, made, seconds, change, drift, runtime=len(overrides_of(record)),
                                      all_pairs=matrices)

        if sandbox or place.sandboxed:
            report = self._in_sandbox(place, here)
        else:
            need_root("test")
            report = here()
        report.file = self.path
        return report

    def _chosen(self, only: Iterable[int] | None) -> list[int] | None:
        """`only` as sorted positions of the file's expectations (so results stay in file order), or
        UsageError for one that is not a position."""
        if only is None:
            return None
        count = len(self._load().expectations)
        chosen = list(only)
        for i in chosen:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < count:
                raise UsageError(f"no expectation at position {i!r} of {self.name} (it has {count}, "
                                 f"numbered from 0)")
        return sorted(set(chosen))

    def _node(self, node: str) -> tuple[str | None, str | None, str | None, tuple]:
        """(namespace path, hostname, /etc directory, bind mounts of its own files and directories) of a
        node that is up."""
        from pipenet.backends.netns import RUN_DIR
        from pipenet.backends.enter import etc_dir

        rec = self._record()
        if node not in rec.get("ns", {}):
            raise UsageError(f"no node {node} is up in topology {self.name}")
        ref = rec["ns"][node]
        hostname = rec.get("hostnames", {}).get(node, node)
        if node == "host":  # the namespace pipenet runs in: its own hostname and files
            return None, None, None, ()
        path = None if ref == "" else (ref if ref.startswith("/") else os.path.join(RUN_DIR, ref))
        from pipenet.plan.ops.nodefiles import binds_of

        return path, hostname, etc_dir(ref), binds_of(rec.get("ops", []), node)

    def exec(self, node: str, argv: Sequence[str], *, check: bool = False, timeout: float | None = None,
             env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """Run argv in a node (its namespace, hostname and /etc files) and wait: the output, as text. A
        command that is not found raises FileNotFoundError, as with subprocess.run."""
        if isinstance(argv, (str, bytes)):
            raise TypeError("argv is a list of words, like ['ip', 'addr'] (no shell is run)")
        if self.remote is not None:  # a node on another machine: its `pipenet exec`, through ssh
            r = self._on_machine(["exec", "-t", self.name, node, "--", *argv], input or "", ok=None)
            done = subprocess.CompletedProcess(list(argv), r.rc, r.out, r.err)
            if check:
                done.check_returncode()
            return done
        place = self.where()
        if not place.sandboxed:
            need_root("exec", "enters a node's namespaces")

        def here():
            from pipenet.backends.enter import enter

            path, hostname, etc, binds = self._node(node)
            return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                  env=_command_env(env), input=input,
                                  preexec_fn=lambda: enter(path, hostname, etc, binds))

        r = place.call(here)
        if check:
            r.check_returncode()
        return r

    def replace_with(self, node: str, argv: Sequence[str], env: dict | None = None) -> int:
        """Become argv in a node (the CLI's `exec` and `shell`): here, this process execs and never returns;
        in a sandbox, a child does, and its exit status is returned. A node on another machine: ssh
        runs `pipenet exec` there."""
        if self.remote is not None:
            return self._remote_exec(node, argv, tty=env is not None)
        place = self.where()

        def here():
            from pipenet.backends.enter import exec_in

            path, hostname, etc, binds = self._node(node)
            exec_in(path, hostname, etc, list(argv), _command_env(env), binds)

        if place.sandboxed:
            from pipenet.sandbox import sandbox as sb

            code, _ = sb.run_inside(place.rec, _exiting(here, argv))
            return code
        need_root("exec", "enters a node's namespaces")
        _exiting(here, argv)()
        return 0  # (not reached: exec replaced this process)

    # -- runtime control and capture -------------------------------------------------------------------
    def link(self, node: str, iface: str, up: bool) -> list[str]:
        """Set one of the lab's own interfaces administratively down or up while it runs (`pipenet link`):
        recorded, so `status` lists it as set at runtime (not drift) and `up` puts the file's state back.
        `up=True` also puts back the node's addresses and routes the kernel dropped with the link. What
        was done, in words; UsageError for an interface that is not the lab's."""
        return self._at_runtime("link", lambda k: runtime_of().set_link(self.name, node, iface, bool(up), k))

    def shape(self, node: str, iface: str, *, rate: str | None = None, delay: str | None = None,
              jitter: str | None = None, loss: str | None = None, clear: bool = False) -> list[str]:
        """Shape one of the lab's own interfaces while it runs (`pipenet shape`): `rate="1mbit"` (tbf),
        `delay="50ms"`, `jitter`, `loss="1%"` (netem), as in the language's `shape`; or `clear=True` to
        remove its shaping. Recorded like `link`; a feature the kernel lacks (netem) is refused before any
        change (UnsupportedByKernel)."""
        words = [w for key, value in (("rate", rate), ("delay", delay), ("jitter", jitter), ("loss", loss))
                 if value is not None for w in (key, str(value))]
        return self.shape_words(node, iface, words, clear)

    def shape_words(self, node: str, iface: str, words: Sequence[str], clear: bool = False) -> list[str]:
        """`shape` from the command line's words (`rate 1mbit delay 50ms`)."""
        if clear and words:
            raise UsageError("shape takes settings or --clear, not both")
        if not clear and not words:
            raise UsageError("shape needs settings (rate 1mbit, delay 50ms, jitter 5ms, loss 1%) or --clear")
        params = None if clear else runtime_of().parse_shape(list(words))
        return self._at_runtime("shape", lambda k: runtime_of().set_shape(self.name, node, iface, params, k))

    def _at_runtime(self, command: str, fn) -> list[str]:
        place = self.where()
        if not place.sandboxed:
            need_root(command)

        def here():
            with kernel() as k:
                return fn(k)

        return place.call(here)

    def capture(self, node: str, iface: str, *, count: int | None = None, write: str | None = None,
                filter: Sequence[str] = (), timeout: float | None = None, stdout=None,
                stderr=None) -> subprocess.CompletedProcess:
        """tcpdump on NODE:IFACE, inside the node (`pipenet capture`), until `count` packets, `timeout` or
        Ctrl-C. `write`: a pcap file, written by this process as this user ("-": pcap on stdout); without
        it, tcpdump's text (numeric). `filter`: a tcpdump filter, as words. The output goes to `stdout` (a
        file or descriptor) when given, else into the result (bytes); tcpdump's messages to `stderr`
        likewise. UsageError for a node or interface that is not up, before anything starts. (In a
        sandbox without root, where tcpdump cannot drop its privileges, pipenet reads the packets itself:
        `pipenet.backends.packets`; the same filter, the same pcap.)"""
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise UsageError(f"the count is a number of packets, 1 or more, not {count!r}")
        place = self.where()
        if not place.sandboxed:
            need_root("capture", "enters a node's namespaces")
        place.call(lambda: self._interface(node, iface))  # (before a file is made)
        own = place.sandboxed and os.geteuid() != 0  # (a user namespace that maps only this user)
        program = _filter_program(filter) if own and filter else None
        out = stdout
        if write not in (None, "-"):
            try:
                out = open(write, "wb")
            except OSError as e:
                raise UsageError(f"cannot write {write}: {e.strerror or e}") from None

        def here():
            from pipenet.backends.enter import enter

            path, hostname, etc, binds = self._node(node)
            cmd = capture_command(iface, count, write is not None, filter)
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if out is None else out,
                                    stderr=subprocess.PIPE if stderr is None else stderr,
                                    env=_command_env(None), preexec_fn=lambda: enter(path, hostname, etc, binds))
            try:
                data, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()  # tcpdump ends its file cleanly on SIGTERM
                data, err = proc.communicate()
            except KeyboardInterrupt:  # Ctrl-C reached tcpdump too: it ends, and says how many it saw
                data, err = proc.communicate()
            return subprocess.CompletedProcess(cmd, proc.returncode, data, err)

        try:
            if own:
                return self._capture_here(place, node, iface, count, program, timeout, write is None, out, stderr)
            return place.call(here)
        finally:
            if out is not stdout:
                out.close()

    def _capture_here(self, place: Place, node: str, iface: str, count, program, timeout, text: bool, out,
                      stderr) -> subprocess.CompletedProcess:
        """`capture` in a sandbox without root: pcap read inside the node by pipenet, into `out` (or, for
        text, into `tcpdump -n -r -` started out here, as this user, where it needs no privilege)."""
        import tempfile

        from pipenet.backends import packets

        sink = out if out is not None else tempfile.TemporaryFile()
        decoder = None
        if text:
            r, w = os.pipe()
            decoder = subprocess.Popen(["tcpdump", "-n", "-l", "-r", "-"], stdin=r, stdout=sink,
                                       stderr=subprocess.DEVNULL)
            os.close(r)
            fd = w
        else:
            fd = sink if isinstance(sink, int) else sink.fileno()

        def inside():
            from pipenet.backends.enter import enter

            enter(*self._node(node))
            try:
                return packets.capture(iface, fd, count, program, timeout)
            except OSError as e:
                raise UsageError(f"cannot capture on {node}:{iface}: {e.strerror or e}") from None

        note = f"pipenet: capturing on {node}:{iface} (the sandbox's own capture)\n"
        try:
            _say(stderr, note)
            seen = place.call(inside)
        finally:
            if decoder is not None:
                os.close(fd)
                decoder.wait()
        _say(stderr, f"{seen} packets captured\n")
        data = None
        if out is None:
            sink.seek(0)
            data = sink.read()
            sink.close()
        return subprocess.CompletedProcess(["capture", iface], 0, data, None if stderr is not None else note.encode())

    def _interface(self, node: str, iface: str) -> None:
        """NODE must be up and have IFACE (any of its interfaces, or `any`), and tcpdump be installed."""
        import shutil

        self._node(node)
        if shutil.which("tcpdump") is None:
            raise UsageError("tcpdump is not installed (apt-get install tcpdump)")
        if iface == "any":
            return
        ref = self._record()["ns"][node]
        with kernel() as k:
            live = k.read_namespace(ref)
        names = sorted(n for n in (live.links if live is not None else {}) if n != "lo")
        if live is None or iface not in live.links:
            raise UsageError(f"{node} has no interface {iface} (it has: {', '.join(names + ['lo', 'any'])})")

    def _on_machine(self, args: list[str], stdin: str = "", ok=(0,)):
        """`pipenet ARGS` on the machine of a lab found on another one (`find_node`), waited for."""
        from pipenet.backends.ssh import Remotes

        with Remotes({self.machine: self.remote}) as rs:
            r = rs.by_name[self.machine].run(args, stdin)
        if ok is not None and r.rc not in ok:
            raise UsageError(f"machine {self.machine}: {r.last_line}")
        return r

    def _remote_exec(self, node: str, argv: Sequence[str], tty: bool) -> int:
        """`pipenet exec -t NAME NODE -- ARGV` (or `shell`, with a terminal) on the node's machine, this
        process replaced by ssh."""
        from pipenet.backends.ssh import Remote

        dest, program = self.remote
        args = ["shell", "-t", self.name, node] if tty else ["exec", "-t", self.name, node, "--", *argv]
        ssh = Remote(self.machine, dest, program, "").argv(args, multiplex=False, tty=tty)
        os.execvp(ssh[0], ssh)
        return 0  # (not reached)

    def draw(self, path: str) -> str:
        """A picture of the topology into `path` (.svg or .png through Graphviz's `dot`; .dot/.gv and
        .mmd (Mermaid) as text): nodes, bridges, links, addresses, NAT and published ports."""
        from pipenet.graph import write

        path = os.fspath(path)
        write(self.topology, path)
        return path

    def shell(self, node: str) -> int:
        """An interactive shell in a node (the user's $SHELL, or sh), its prompt naming the node, on this
        process's terminal; its exit status once it ends."""
        argv, env = shell_command(node)
        place = self.where()
        if not place.sandboxed:
            need_root("shell", "enters a node's namespaces")

        def here():
            from pipenet.backends.enter import enter

            path, hostname, etc, binds = self._node(node)
            return subprocess.run(argv, env=_command_env(env),
                                  preexec_fn=lambda: enter(path, hostname, etc, binds)).returncode

        return place.call(here)

    def logs(self, node: str) -> str | None:
        """The output of the node's `run` processes (None when it has none)."""
        name = self.name
        if self.remote is not None:  # a node on another machine: its `pipenet logs`, through ssh
            r = self._on_machine(["logs", "-t", name, node])
            return r.out or None
        place = self.where()
        if not place.sandboxed and os.geteuid() != 0 and not _readable():
            need_root("logs", "reads root's records")

        def here():
            import glob

            from pipenet.engine.state import StateDir

            if node not in (StateDir(name).load() or {}).get("ns", {}):
                raise UsageError(f"no node {node} is up in topology {name}")
            files = sorted(glob.glob(os.path.join(StateDir(name).path, "logs", f"{glob.escape(node)}.*.log")),
                           key=lambda p: int(p.rsplit(".", 2)[1]))
            out = []
            for path in files:
                with open(path, errors="replace") as f:
                    out.append(f.read())
            return "".join(out) if files else None

        return place.call(here)

    # -- the unchanged-file fast path ---------------------------------------------------------------------
    def _up_unchanged(self) -> results.Change | None:
        """`up`'s answer when the file is unchanged and everything it made is live as made (`_unchanged`,
        under the topology's lock): nothing to change. None otherwise."""
        t0 = time.perf_counter()
        name = self._unchanged(lock=True)
        return results.Change(name, seconds=time.perf_counter() - t0) if name is not None else None

    def _unchanged(self, lock: bool = False) -> str | None:
        """The topology's name when, by the recorded digest, neither the file nor anything else `up`'s result
        depends on changed since its last `up`, and every recorded change is live as made (the checks of
        `status`): then `up` and `plan` have nothing to do, and the file need not even be parsed."""
        if self.path is None or os.geteuid() != 0 or not os.path.isfile(self.path):
            return None
        from pipenet.engine import inputs
        from pipenet.engine.state import StateDir

        set_variables(self.variables)
        try:
            name = inputs.unchanged(self.path)
            if name is None or place_of(name).sandboxed:
                return None
            if lock:
                with StateDir(name).lock():
                    return name if _still_live(self.path, name) else None
            return name if _still_live(self.path, name) else None
        except Exception:  # noqa: BLE001 - the fast path only ever says "not known": the full path decides
            return None


def _merged(name: str, answers: dict[str, dict], seconds: float) -> results.Change:
    """Every machine's `up` or `down` (their JSON answers) as one change, a note for each machine."""
    change = results.Change(name, seconds=seconds, existed=any(a.get("existed", True) for a in answers.values()))
    for m, got in sorted(answers.items()):
        change.steps += int(got.get("steps", 0))
        for c in got.get("counts", ()):
            key = (c["action"], c["what"])
            change.counts[key] = change.counts.get(key, 0) + c["n"]
        change.notes.append(f"machine {m}: {counted(int(got.get('steps', 0)), 'step')} in {got.get('seconds', 0)} s")
    return change


def _done(progress) -> None:
    """A progress display is ended where the work ran (in a sandbox: in the child that drew it)."""
    if progress is not None and hasattr(progress, "close"):
        progress.close()


def _still_live(path: str, name: str) -> bool:
    from pipenet.engine import inputs
    from pipenet.engine.status import live_as_recorded

    if not inputs.still_unchanged(path, name):
        return False
    with kernel() as k:
        return live_as_recorded(name, k)


def overrides_of(record: dict) -> dict:
    """The runtime overrides a record holds (`runtime_of().overrides`)."""
    return runtime_of().overrides(record)


def runtime_of():
    """The engine's runtime overrides (imported when used: most commands never need them)."""
    from pipenet.engine import runtime

    return runtime


def capture_command(iface: str, count: int | None, pcap: bool, filter: Sequence[str] = ()) -> list[str]:
    """tcpdump's argv for `capture`: pcap on stdout, a packet at a time (`-U -w -`), when `pcap` (a file
    is written by pipenet from that stream, so tcpdump never opens one after dropping its privileges);
    else numeric text, a line at a time. FILTER words last, each one argument (no shell)."""
    argv = ["tcpdump", "-i", iface, "-n"] + (["-U", "-w", "-"] if pcap else ["-l"])
    if count is not None:
        argv += ["-c", str(count)]
    return argv + (["--"] + [str(w) for w in filter] if filter else [])  # (`--`: a filter is never an option)


def _filter_program(words: Sequence[str]) -> list:
    """A tcpdump filter as a BPF program (UsageError, with tcpdump's words, when it is wrong)."""
    from pipenet.backends import packets

    try:
        return packets.compile_filter(list(words))
    except (ValueError, OSError) as e:
        raise UsageError(f"the filter {' '.join(words)!r}: {e}") from None


def _say(stream, text: str) -> None:
    """A message to `stream` (a file or descriptor), when there is one."""
    if stream is None:
        return
    if isinstance(stream, int):
        os.write(stream, text.encode())
    else:
        stream.write(text)
        stream.flush()


def shell_command(node: str) -> tuple[list[str], dict]:
    """(argv, environment) of an interactive shell in `node`: the user's $SHELL (else bash, else sh),
    its prompt naming the node."""
    sh = os.environ.get("SHELL") or "/bin/bash"
    if not os.path.exists(sh):
        sh = "/bin/sh"
    env = dict(os.environ, PS1=f"[{node}] \\w# ", PIPENET_NODE=node)
    return ([sh, "--norc", "-i"] if sh.endswith("bash") else [sh, "-i"]), env


def _command_env(env: dict | None) -> dict | None:
    """The environment of a command run in a node: `env`, or this process's own without what pipenet
    sets for itself inside a sandbox."""
    if env is not None:
        return env
    if "PIPENET_IN_SANDBOX" not in os.environ:
        return None
    return {k: v for k, v in os.environ.items() if k not in ("PIPENET_IN_SANDBOX", "PIPENET_CWD")}


def _checked_variables(variables: dict | None) -> dict[str, str]:
    """`variables` as the command line's --var would take them (names, sizes), else UsageError."""
    if not variables:
        return {}
    from pipenet import variables as v

    try:
        return v.parse([f"{name}={value}" for name, value in variables.items()])
    except v.BadVariable as e:
        raise UsageError(str(e).replace("--var ", "variable ", 1)) from None


def _down_keeping(lab: Lab, exc: BaseException | None) -> None:
    """lab.down() on the way out of a `with`: when the block raised, a failure to take the lab down is
    added to that exception as a note rather than replacing it."""
    if exc is None:
        lab.down()
        return
    try:
        lab.down()
    except Exception as e:  # noqa: BLE001 - the block's own exception is the one the caller must see
        exc.add_note(f"pipenet: and taking {lab.name} down failed: {e}")


def _exiting(fn, argv):
    """fn() for a process that is about to exec: a missing command exits 127, a node that cannot be
    entered exits 1, each with one line."""
    import sys

    def run():
        try:
            fn()
        except FileNotFoundError:
            sys.stderr.write(f"pipenet: {argv[0]}: command not found\n")
            raise SystemExit(127)
        except UsageError as e:
            sys.stderr.write(f"pipenet: {e}\n")
            raise SystemExit(1)
        except OSError as e:
            sys.stderr.write(f"pipenet: cannot enter the node: {e}\n")
            raise SystemExit(1)

    return run


# ---- module-level entry points ----------------------------------------------------------------------------
def load(source: str, *, variables: dict | None = None) -> Lab:
    """A lab from a .pn file's path, or from topology text (anything with a newline or `{` in it).
    Raises InvalidTopology, carrying every located diagnostic, when the file is wrong."""
    source = os.fspath(source)
    if "\n" in source or "{" in source:
        lab = Lab(text=source, variables=variables)
    else:
        lab = Lab(path=source, variables=variables)
    lab.topology  # noqa: B018 - every error, located, now
    return lab


def check(path: str, *, variables: dict | None = None) -> results.CheckReport:
    """Every diagnostic of a file (what `pipenet check` prints); never raises for a wrong file."""
    from pipenet.errors import InvalidTopology
    from pipenet.lang.load import analyse, read

    set_variables(variables)
    try:
        text = read(path)
    except InvalidTopology as e:
        return results.CheckReport(path, list(e.diagnostics), dict(e.sources or {}))
    topo, diags, sources = analyse(text, path)
    report = results.CheckReport(path, list(diags), sources)
    if topo is not None and not diags:
        report.topology = topo.name
        report.counts = {"bridges": len(topo.bridges), "containers": len(topo.containers), "p2p": len(topo.p2p),
                         "expectations": len(topo.expectations)}
    return report


def format_file(path: str, *, write: bool = True) -> tuple[bool, str]:
    """(whether the file's layout changes, the path written) for `pipenet fmt`: comments are kept; a
    symlink stays a link and its target is rewritten, atomically. Raises InvalidTopology for a file
    that does not parse, and OSError when it cannot be written."""
    from pipenet.fsutil import write_atomic
    from pipenet.lang.fmt import format_text
    from pipenet.lang.load import read

    text = read(path)
    new = format_text(text, path)
    target = os.path.realpath(path)
    if new != text and write:
        write_atomic(target, new.encode(), mode=None)
    return new != text, target


def _checks(done: list) -> tuple[list[results.Check], list[results.PairMatrix]]:
    """The checks of (expectation, Check) in order, each pair of an all-pairs statement told its source, target
    and statement (numbered in the order they come), and those statements' matrices."""
    numbered: dict[int, int] = {}
    statements = []
    for e, c in done:
        st = getattr(e, "statement", None)
        if st is None:
            continue
        if st.index not in numbered:
            numbered[st.index] = len(statements)
            statements.append((st.span.line, st.describe(), st.sources, st.targets))
        c.source, c.statement = e.source, numbered[st.index]
        c.target = e.target.node if e.target.node is not None else str(e.target.ip)
    checks = [c for _, c in done]
    return checks, results.tally(checks, statements)


def run_slice(payload: dict) -> dict:
    """What `pipenet slice` does on a machine of a topology across machines, for the coordinator (its
    JSON answer): `converse`, the machine's side of `up` or `plan` (facts, probe, plan, apply) in one
    process that talks with the coordinator on stdin and stdout; `test` of this machine's slice of the
    file (every machine slices the same file with the same underlay MTUs, so all agree); `status`, `down`."""
    action, machine = payload.get("action"), str(payload.get("machine"))
    if action == "converse":  # one process for facts, probe, plan and apply (pipenet.engine.agent)
        import sys

        from pipenet.engine import agent

        set_variables(dict(payload.get("vars") or {}))
        with kernel() as k:
            try:
                return agent.converse(payload, k, agent.Line(sys.stdin, sys.stdout), TEXT) or {}
            except agent.Lost:
                return {}
    if action == "listen":  # listeners for probes from other machines (pipenet.engine.hold)
        import json
        import sys

        from pipenet.engine.hold import hold

        def say(obj: dict) -> None:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

        with kernel() as k:
            hold(str(payload["name"]), list(payload.get("ports") or ()), k, say)
        return {}
    if action == "test":
        lab = Lab(text=str(payload["text"]), variables=dict(payload.get("vars") or {}), machine=machine,
                  mtus={str(k): int(v) for k, v in (payload.get("mtus") or {}).items()})
        return lab.test().to_json()
    if action in ("status", "down"):
        return getattr(Lab(name=str(payload["name"]), machine=machine), action)().to_json()
    raise UsageError(f"pipenet slice: unknown action {action!r}")


@contextmanager
def up(source: str, *, sandbox: bool = False, variables: dict | None = None, progress=None):
    """`with pipenet.up("lab.pn", sandbox=True) as lab:` the lab is up inside, and taken down on the way
    out, whether the block ends or raises."""
    lab = load(source, variables=variables)
    try:
        lab.up(sandbox=sandbox, progress=progress)
        yield lab
    except BaseException as e:
        _down_keeping(lab, e)
        raise
    else:
        lab.down()


def lab_named(name: str) -> Lab:
    """A topology that is up (here or in its sandbox), by its name (UsageError for a string that cannot
    be a topology's name)."""
    import re

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}", name):
        from pipenet.words import quoted

        shown = quoted(name) if isinstance(name, str) else repr(name)
        raise UsageError(f"{shown} is not a topology name (a name starts with a letter or _, then letters, "
                         f"digits, _, - or .)")
    return Lab(name=name)


def names_up() -> list[str]:
    """Every topology that is up, here and in sandboxes (what the caller may read of them)."""
    from pipenet.engine.state import all_topologies
    from pipenet.sandbox import sandbox as sb

    names: list[str] = []
    try:
        names += all_topologies()
    except OSError:  # another user's state directory
        pass
    if not os.environ.get("PIPENET_IN_SANDBOX"):
        try:
            names += sb.all_sandboxes()
        except OSError:
            pass
    return sorted(set(names))


def nodes_up(topology: str | None = None) -> list[str]:
    """The node names of `topology`, or of every topology up (here and in sandboxes), `host` included:
    what a shell completes after `pipenet exec`. Never raises: a record this user cannot read adds nothing."""
    names: set[str] = set()
    try:
        for name, rec in records():
            if topology is None or name == topology:
                names.update(rec.get("ns") or rec.get("nodes") or [])
    except (OSError, PipenetError):
        pass
    return sorted(n for n in names if isinstance(n, str))


def records():
    """(name, record) of every topology that is up: the full record of each plain one, the small outside
    record of each sandbox."""
    from pipenet.engine.state import StateDir, all_topologies
    from pipenet.sandbox import sandbox as sb

    try:
        for name in all_topologies():
            try:
                yield name, StateDir(name).load() or {}
            except (OSError, PipenetError):
                continue
    except OSError:
        pass
    if not os.environ.get("PIPENET_IN_SANDBOX"):
        try:
            for name in sb.all_sandboxes():
                yield name, sb.load(name) or {}
        except (OSError, ValueError):
            pass


def lab_for(target: str) -> Lab:
    """The lab `down TARGET` means. For a file: the topology whose record says it was brought up from that
    file (so no `--var` values are needed), else the name the file gives, else the file's name."""
    from pipenet.engine.session import topology_name

    if (target.endswith(".pn") or os.path.sep in target) and os.path.isfile(target):
        where = os.path.abspath(target)
        found = sorted(set(n for n, rec in records() if rec.get("file") == where))
        if len(found) == 1:
            return lab_named(found[0])
        if len(found) > 1:
            raise UsageError(f"{target} is up as several topologies ({', '.join(found)}); name the one to take "
                             f"down: pipenet down NAME")
    return lab_named(topology_name(target))


#: why each command that looks a node up needs root
_WHY = {"exec": "enters a node's namespaces", "shell": "enters a node's namespaces", "logs": "reads root's records",
        "capture": "enters a node's namespaces", "link": "changes the network", "shape": "changes the network"}


def find_node(node: str, topology: str | None = None, command: str = "exec") -> Lab:
    """The lab that has `node` up: in `topology` when named, else the one topology (here or in a sandbox)
    that has a node of that name."""
    from pipenet.engine.state import StateDir, all_topologies
    from pipenet.sandbox import sandbox as sb

    if topology is not None:
        from pipenet.engine import coordinator

        elsewhere = coordinator.node_machine(node, topology)
        if elsewhere is not None:  # a node of a topology across machines, on another one
            lab = Lab(name=elsewhere[0], machine=elsewhere[1])
            lab.remote = elsewhere[2]
            return lab
        lab = lab_named(topology)
        if lab.where().sandboxed:
            return lab
        if os.geteuid() != 0 and not _readable():
            need_root(command, _WHY[command])  # only root can tell whether it is up
        try:
            rec = StateDir(topology).load() or {}
        except PermissionError:
            rec = {}
        if node not in rec.get("ns", {}):
            raise UsageError(f"no node {node} is up in topology {topology}")
        return lab
    try:
        plain = [n for n in all_topologies() if node in (StateDir(n).load() or {}).get("ns", {})]
    except PermissionError:
        plain = []
    boxes = [] if os.environ.get("PIPENET_IN_SANDBOX") else [
        n for n in sb.all_sandboxes() if node in (sb.load(n) or {}).get("nodes", [])]
    found = plain + boxes
    if len(found) > 1:
        raise UsageError(f"{node} is in several topologies ({', '.join(found)}); name one with -t")
    if not found:
        from pipenet.engine import coordinator

        elsewhere = coordinator.node_machine(node, None)
        if elsewhere is not None:  # a node of a topology across machines, on another one
            lab = Lab(name=elsewhere[0], machine=elsewhere[1])
            lab.remote = elsewhere[2]
            return lab
        if os.geteuid() != 0 and not _readable():
            need_root(command, _WHY[command])  # only root can tell whether it is up
        up_now = names_up()
        raise UsageError(f"no node {node} is up" + ("" if up_now else " (no topology is up)"))
    return lab_named(found[0])


def _readable() -> bool:
    """Can this user read the state directory (or is there none, so that nothing is up)?"""
    from pipenet.engine.state import state_root

    try:
        os.stat(state_root())
        return os.access(state_root(), os.R_OK | os.X_OK)
    except PermissionError:
        return False
    except OSError:
        return True


def _every_name() -> tuple[list[str], list[str], bool]:
    """(topologies up here, or coordinated from here across machines, sandboxes, whether root's records
    could be read)."""
    from pipenet.engine.coordinator import spanned
    from pipenet.engine.state import all_topologies
    from pipenet.sandbox import sandbox as sb

    try:
        names, readable = sorted(set(all_topologies()) | set(spanned())), True
    except PermissionError:
        names, readable = [], False
    boxes = [] if os.environ.get("PIPENET_IN_SANDBOX") else sb.all_sandboxes()
    return names, boxes, readable


def status_all() -> tuple[list[results.Status], bool]:
    """The status of every topology up (here and in sandboxes), and whether root's could be read."""
    names, boxes, readable = _every_name()
    out = []
    for name in names + boxes:
        try:
            out.append(lab_named(name).status())
        except PipenetError as e:
            out.append(results.Status(name, True, error=str(e)))
    return out, readable


def labs() -> tuple[list[results.LabInfo], bool]:
    """`ls`: every topology up, and whether root's could be read."""
    from pipenet.engine.state import StateDir
    from pipenet.sandbox import sandbox as sb

    from pipenet.engine import coordinator

    names, boxes, readable = _every_name()
    rows = []
    for name in names:
        try:  # (a topology across machines: every machine's nodes, from the coordinator's journal)
            across = coordinator.journal(name)
        except PipenetError as e:
            across = {"machines": {}, "problem": str(e)}
        if across is not None:
            rows.append(results.LabInfo(name, "machines " + ", ".join(sorted(across["machines"])),
                                        len(across.get("nodes") or {}), None, None, across.get("problem")))
            continue
        try:
            rec, problem = StateDir(name).load() or {}, None
        except PipenetError as e:
            rec, problem = {}, str(e)
        rows.append(results.LabInfo(name, rec.get("file"), len([n for n in rec.get("ns", {}) if n != "host"]),
                                    len(rec.get("ops", [])), None, problem))
    for name in boxes:
        rec = sb.load(name) or {}
        rows.append(results.LabInfo(name, rec.get("file"), len([n for n in rec.get("nodes", []) if n != "host"]),
                                    None, {"holder": rec.get("pid"), "alive": bool(rec) and sb.alive(rec)}))
    return rows, readable



# ---- other tools' files ---------------------------------------------------------------------------------
def import_clab(path: str, *, out: str | None = None) -> results.Conversion:
    """The `.pn` text of a containerlab topology (`pipenet import`), with a located warning for each field
    it cannot carry, written to `out` when given (bind sources are written relative to its directory).
    Raises InvalidTopology when the file cannot be read as a containerlab topology: nothing is written."""
    from pipenet.interchange.clab_import import convert

    conversion = convert(os.fspath(path), None if out is None else os.fspath(out))
    return _written(conversion, out)


def export(path: str, *, format: str = "clab", out: str | None = None,
           variables: dict | None = None) -> results.Conversion:
    """Another tool's topology file for a `.pn` file (`pipenet export`; `format`: "clab", containerlab's),
    with a located warning for each statement it cannot carry, written to `out` when given. Raises
    InvalidTopology for a wrong file (nothing is written), UsageError for an unknown format."""
    if format != "clab":
        raise UsageError(f"--format is clab (containerlab), not {format!r}")
    from pipenet.interchange.clab_export import convert

    return _written(convert(os.fspath(path), _checked_variables(variables)), out)


def _written(conversion: results.Conversion, out: str | None) -> results.Conversion:
    if out is not None:
        from pipenet.fsutil import write_atomic

        try:
            write_atomic(os.fspath(out), conversion.text.encode(), mode=None)
        except OSError as e:
            raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
    return conversion


def converted_name(path: str, suffix: str) -> str:
    """Where a conversion of `path` goes by default: beside it, its extension replaced by `suffix`
    (`lab.clab.yml` -> `lab.pn`, `lab.pn` -> `lab.clab.yml`)."""
    for ext in (".clab.yml", ".clab.yaml", ".yml", ".yaml", ".pn"):
        if path.endswith(ext) and path[: -len(ext)] + suffix != path:  # never the file read
            return path[: -len(ext)] + suffix
    return path + suffix
