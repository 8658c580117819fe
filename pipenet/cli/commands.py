"""What each `pipenet` command does, as plain functions.

The argument parsing lives elsewhere (`pipenet.cli.app`, the typer app, and
`pipenet.cli.dispatch`, which runs the exact common forms without loading
typer): these functions only take values and exit with the status the CLI
spec gives. They import what they need lazily, so each command loads only
its own part of pipenet.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from pipenet.cli import output


class Exit(SystemExit):
    """Leave the command with an exit status (0 success, 1 wrong file or arguments, 2 rolled back,
    3 leftovers, 4 an expectation failed)."""

    @property
    def exit_code(self) -> int:
        return self.code


def _fail(exc) -> None:
    """Report a PipenetError the way the CLI spec says, and exit with its status."""
    from pipenet.errors import Conflict, InvalidTopology, Leftovers

    if isinstance(exc, InvalidTopology):
        output.diagnostics(exc.diagnostics, exc.sources)
    elif isinstance(exc, Conflict):  # one cause a line, located in the file where it has a place
        from pipenet.cli.conflicts import report

        loaded = next(reversed(_LOADED.values()), None)
        for line in report(exc.problems, loaded):
            output.message(line)
        if len(exc.problems) > 1:
            output.message(f"{len(exc.problems)} problems; nothing was changed")
    else:
        output.message(f"pipenet: {exc}")
    if isinstance(exc, Leftovers):  # exit 3: say exactly what is left, one line each
        for line in exc.remaining:
            output.message(f"  left: {line}")
    raise Exit(exc.exit_code)


def _variables(var) -> None:
    """`--var NAME=VALUE` arguments, for ${NAME} in the file (pipenet.variables): one line and exit 1 when
    one is not NAME=VALUE."""
    if not var:
        return
    from pipenet import variables

    try:
        variables.CURRENT.update(variables.parse(var))
    except variables.BadVariable as e:
        output.message(f"pipenet: {e}")
        raise Exit(1)


def check(file: str, json: bool = False, var: Sequence[str] = ()) -> None:
    """Parse and validate FILE; print every diagnostic; change nothing."""
    from pipenet.diagnostics import to_json
    from pipenet.errors import InvalidTopology
    from pipenet.lang.load import analyse, read

    _variables(var)
    try:
        text = read(file)
    except InvalidTopology as e:
        if json:
            output.emit_json({"file": file, "ok": False, "diagnostics": to_json(e.diagnostics)})
            raise Exit(1)
        _fail(e)
    topo, diags, sources = analyse(text, file)
    if json:
        doc = {"file": file, "ok": not diags, "diagnostics": to_json(diags)}
        if topo is not None and not diags:
            doc["topology"] = topo.name
            doc["counts"] = {"bridges": len(topo.bridges), "containers": len(topo.containers),
                             "p2p": len(topo.p2p), "expectations": len(topo.expectations)}
        output.emit_json(doc)
        raise Exit(1 if diags else 0)
    if diags:
        output.diagnostics(diags, sources)
        raise Exit(1)
    output.message(f"{file}: ok (topology {topo.name}: {len(topo.bridges)} bridges, "
                   f"{len(topo.containers)} containers, {len(topo.p2p)} p2p links)")


def fmt(file: str, check: bool = False) -> None:
    """Rewrite FILE in canonical layout, comments kept (--check: exit 1 if it would change)."""
    from pipenet.errors import PipenetError
    from pipenet.lang.fmt import format_text
    from pipenet.lang.load import read

    try:
        text = read(file)
        new = format_text(text, file)
    except PipenetError as e:
        _fail(e)
    if check:
        if new != text:
            output.message(f"{file}: would be reformatted")
            raise Exit(1)
        output.message(f"{file}: formatted")
        return
    if new != text:
        import os

        from pipenet.fsutil import write_atomic

        target = os.path.realpath(file)  # a symlink stays a link: its target is rewritten
        try:
            write_atomic(target, new.encode(), mode=None)
        except OSError as e:
            output.message(f"pipenet: cannot write {target}: {e.strerror or e}")
            raise Exit(1)
        output.message(f"{file}: reformatted" + (f" (through the link, in {target})" if target != os.path.abspath(file)
                                                 else ""))
    else:
        output.message(f"{file}: already formatted")


def _topology_arg(name: Optional[str], or_file: bool = False) -> None:
    """A topology named on the command line must be a name a topology can have: one line and exit 1
    otherwise (`..`, `.hidden`, `a/b` or an empty name would lead outside the state directory)."""
    import re

    if name is None or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}", name):
        return
    shown = f"`{name}`" if len(name) <= 60 and name.isprintable() else repr(name[:60])
    output.message(f"pipenet: {shown if name else 'an empty name'} is not a topology name"
                   f"{' nor a .pn file' if or_file else ''} "
                   f"(a name starts with a letter or _, then letters, digits, _, - or .)")
    raise Exit(1)


def _sandbox(name: str):
    """The live sandbox record of topology `name`, or None; a dead one is reported once and cleaned."""
    import os

    if os.environ.get("PIPENET_IN_SANDBOX"):
        return None
    from pipenet.sandbox import sandbox as sb

    rec = sb.load(name)
    if rec is None:
        return None
    if not sb.alive(rec):
        sb.forget(name, rec)
        output.message(f"pipenet: the sandbox of {name} is gone (its holder, pid {rec['pid']}, died); "
                       f"its state has been cleaned up")
        raise Exit(1)
    return rec


def _inside(rec, fn, capture: bool = False):
    from pipenet.sandbox import sandbox as sb

    return sb.run_inside(rec, fn, capture)


_LOADED: dict = {}


def _file_topology(file: str) -> str:
    """The topology name of FILE (the analysis is kept, so the command does not read the file twice)."""
    from pipenet.errors import PipenetError
    from pipenet.lang.load import load_text, read

    try:
        text = read(file)
        topo = load_text(text, file)
    except PipenetError as e:
        _fail(e)
    _LOADED[file] = (text, topo)
    return topo.name


def _need_root(command: str, sandbox: bool = False, why: str = "changes the network") -> None:
    import os

    if os.geteuid() != 0 and not sandbox:
        output.message(f"pipenet: {command} {why} and needs root: run it as root (sudo pipenet "
                       f"{command} ...), or add --sandbox to run the topology in private namespaces without root")
        raise Exit(1)


class _LazyKernel:
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


def _kernel():
    return _LazyKernel()


def _summary(steps) -> dict[str, int]:
    from collections import Counter

    names = {"netns": "namespaces", "use-netns": "attached namespaces", "bridge": "bridges", "veth": "veth pairs",
             "link": "interfaces", "addr": "addresses", "route": "routes", "sysctl": "sysctls",
             "host-setting": "host settings", "shape": "shaped interfaces", "etc": "/etc files",
             "process": "processes", "firewall": "firewall tables"}
    out: Counter = Counter()
    for st in steps:
        out[(st.action, names.get(st.op.kind, st.op.kind))] += 1
    return out


def _print_summary(title: str, steps, seconds: float) -> None:
    if not steps:
        output.message(f"{title}: nothing to change ({seconds:.2f} s)")
        return
    from rich.table import Table

    counts = _summary(steps)
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("what")
    columns = [("apply", "made"), ("repair", "repaired"), ("remove", "removed")]
    used = [(a, label) for a, label in columns if any(act == a for act, _ in counts)]
    for _, label in used:
        table.add_column(label, justify="right")
    for kind in sorted({k for _, k in counts}):
        table.add_row(kind, *[str(counts.get((a, kind), 0) or "") for a, _ in used])
    table.caption = f"{len(steps)} steps in {seconds:.2f} s"
    output.console(stderr=True).print(table)


class _Progress:
    """A progress bar on a terminal (stderr) for runs long enough to want one (MIN_STEPS): made at the
    first step, when the executor tells the real number of steps; never when stderr is not a terminal."""

    MIN_STEPS = 20

    def __init__(self, verb: str):
        self.verb = verb
        self.bar = None
        self.task = None
        self.tty = sys.stderr.isatty()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)

    def __call__(self, done, total, step):
        if not self.tty or total < self.MIN_STEPS:
            return
        first = self.bar is None
        if first:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("steps"), TimeRemainingColumn(), console=output.console(stderr=True),
                                transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.verb, total=total)
        self.bar.update(self.task, completed=done, total=total, refresh=first or done >= total)


def plan(file: str, format: str = "text", var: Sequence[str] = ()) -> None:
    """Show what `up` would do against the live system, in order (sh: the equivalent commands)."""
    from pipenet.engine.session import preflight, prepare
    from pipenet.errors import PipenetError

    if format not in ("text", "sh", "json"):
        output.message("pipenet: --format is text, sh or json")
        raise Exit(1)
    _variables(var)
    name = _unchanged_topology(file)
    k = None
    try:
        if name is not None and _still_live(file, name):  # up would change nothing: no planning
            steps: list = []
        else:
            rec = _sandbox(_file_topology(file))
            if rec is not None:
                code, _ = _inside(rec, lambda: plan(file, format))
                raise Exit(code)
            k = _kernel()
            p = prepare(file, k, _LOADED.get(file))  # the analysis _file_topology made: not parsed twice
            preflight(p, k)
            name, steps = p.topo.name, p.plan.steps
    except PipenetError as e:
        _fail(e)
    finally:
        if k is not None:
            k.close()
    if format == "json":
        output.emit_json({"topology": name, "empty": not steps,
                          "steps": [{"n": i + 1, "action": s.action, "kind": s.op.kind, "key": s.op.key,
                                     "reason": s.reason, "commands": s.describe()} for i, s in enumerate(steps)]})
        return
    if format == "sh":
        lines = ["#!/bin/sh", f"# pipenet plan for topology {name}: {len(steps)} steps", "set -e"]
        for s in steps:
            lines.append(f"# {s.sign} {s.op.key}" + (f" ({s.reason})" if s.reason else ""))
            lines.extend(s.describe())
        print("\n".join(lines))
        return
    if not steps:
        output.message(f"{name}: nothing to do (the live system matches {file})")
        return
    for i, s in enumerate(steps, 1):
        why = f"  ({s.reason})" if s.reason and s.reason not in ("new",) else ""
        first = (s.describe() or [s.op.key])[0].splitlines()[0]  # a file's content is for --format sh
        print(f"{i:4} {s.sign} {first}{why}")
    output.message(f"{name}: {len(steps)} steps")


def _still_live(file: str, name: str) -> bool:
    """The fast path's proof: the file asks for what it asked (digest), and every recorded operation is
    live as made (the checks `status` and the planner use)."""
    from pipenet.engine import inputs
    from pipenet.engine.status import live_as_recorded
    from pipenet.errors import PipenetError

    k = None
    try:
        if not inputs.still_unchanged(file, name):
            return False
        k = _kernel()
        return live_as_recorded(name, k)
    except PipenetError:
        return False  # the full path reports it
    finally:
        if k is not None:
            k.close()


def _unchanged_topology(file: str) -> str | None:
    """The topology of `file` when, by the recorded digest, neither it nor anything else `up`'s result
    depends on has changed since its last `up` (pipenet.engine.inputs); known without parsing. The
    caller confirms with inputs.still_unchanged, under the topology's lock when it will answer for `up`."""
    import os

    from pipenet.engine import inputs

    if os.geteuid() != 0 or not os.path.isfile(file):  # a device or a pipe is read (with its limit) by the full path
        return None
    try:
        name = inputs.unchanged(file)
    except Exception:  # noqa: BLE001 - the fast path only ever says "not known": the full path decides
        return None
    if name is None or _sandbox(name) is not None:
        return None
    return name


def _unchanged(file: str) -> bool:
    """`up` of an unchanged file: say so at once (under the topology's lock, so that a run in
    progress is waited for and a killed one is finished by the full path)."""
    import time

    from pipenet.engine.state import StateDir

    t0 = time.perf_counter()
    name = _unchanged_topology(file)
    if name is None:
        return False
    from pipenet.errors import PipenetError

    try:
        with StateDir(name).lock():
            if not _still_live(file, name):
                return False
    except PipenetError:
        return False  # the full path reports it
    _print_summary(f"{name} is up", [], time.perf_counter() - t0)
    return True


def up(file: str, sandbox: bool = False, var: Sequence[str] = ()) -> None:
    """Bring the live system to what FILE says: create what is missing, change what differs, remove the rest."""
    _variables(var)
    if not sandbox and _unchanged(file):
        return
    from pipenet.errors import PipenetError
    from pipenet.engine.session import up as do_up

    name = _file_topology(file)
    rec = _sandbox(name)
    if sandbox or rec is not None:
        _in_a_sandbox(name, rec, lambda: up(file, False), file)
        return
    _need_root("up", sandbox)
    k = _kernel()
    try:
        with _Progress("up") as bar:
            p, seconds = do_up(file, k, bar, _LOADED.get(file))
    except PipenetError as e:  # Leftovers included: _fail lists them and exits 3
        _fail(e)
    finally:
        k.close()
    for note in p.notes:
        output.message(f"pipenet: {note}")
    _print_summary(f"{p.topo.name} is up", p.plan.steps, seconds)


def _in_a_sandbox(name: str, rec, fn, file: str | None = None) -> None:
    """Run fn inside the sandbox of `name`, creating it first when there is none."""
    import os

    from pipenet.sandbox import sandbox as sb
    from pipenet.engine.state import StateDir

    if os.geteuid() == 0 and StateDir(name).exists():
        output.message(f"pipenet: {name} is up outside a sandbox; run `pipenet down {name}` first")
        raise Exit(1)
    created = rec is None
    if created:
        try:
            rec = sb.start(name)
        except OSError as e:
            output.message(f"pipenet: {e.strerror or e}")
            raise Exit(1)
    code, _ = _inside(rec, fn)
    if code in (0, 4):
        from pipenet import variables

        rec["nodes"] = _nodes_of(name, rec)
        if file is not None:  # so that `down FILE` finds it without the file's --var values
            rec["file"] = os.path.abspath(file)
            rec["vars"] = dict(variables.CURRENT)
        sb.save(name, rec)
    elif created:
        sb.stop(name, rec)  # the first up failed: the sandbox held nothing before
    raise Exit(code)


def _nodes_of(name: str, rec) -> list[str]:
    import json as _json

    def show():
        from pipenet.engine.state import StateDir

        print(_json.dumps(sorted((StateDir(name).load() or {}).get("ns", {}))))

    code, out = _inside(rec, show, capture=True)
    try:
        return list(_json.loads(out.decode() or "[]"))
    except ValueError:
        return []


def down(target: str, force: bool = False) -> None:
    """Remove everything the topology made, and only that; safe to run twice, and after a crash.
    --force: when the record cannot be trusted, remove what carries the topology's marks."""
    import time

    from pipenet.errors import PipenetError
    from pipenet.engine.session import down as do_down, force_down

    name = _down_name(target)
    _topology_arg(name, or_file=True)
    rec = _sandbox(name)
    if rec is not None:
        from pipenet.sandbox import sandbox as sb

        code, _ = _inside(rec, lambda: down(target, force))
        if code == 0:
            sb.stop(name, rec)
            output.message(f"pipenet: the sandbox of {name} has ended")
        raise Exit(code)
    _need_root("down")
    k = _kernel()
    t0 = time.perf_counter()
    try:
        with _Progress("down") as bar:
            plan, existed = (force_down if force else do_down)(name, k, bar)
    except PipenetError as e:  # Leftovers included: _fail lists them and exits 3
        _fail(e)
    finally:
        k.close()
    if not existed:  # exit 0, like `docker compose down`: safe to run twice; the words show a typo at once
        from pipenet.diagnostics import did_you_mean

        up_now = _names_up()
        also = "no topology is up" if not up_now else "up: " + ", ".join(up_now)
        guess = did_you_mean(name, up_now)
        output.message(f"pipenet: {name} is not up; nothing to do ({also}{'; ' + guess if guess else ''})")
        return
    _print_summary(f"{name} is down", plan.steps, time.perf_counter() - t0)


_NOTED: list = []


def _plain_topologies(quiet: bool = False) -> list[str]:
    """The topologies up outside a sandbox; none when their state directory cannot be read (it is root's,
    mode 0700: a user without root sees only their sandboxes)."""
    from pipenet.engine.state import all_topologies, state_root

    try:
        return all_topologies()
    except PermissionError:
        if not _NOTED and not quiet:
            _NOTED.append(True)
            output.message(f"pipenet: topologies up outside a sandbox are not shown: only root can read "
                           f"{state_root()}")
        return []


def _names_up() -> list[str]:
    """The topologies that are up, sandboxes included (what the caller may read of them)."""
    import os

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


def _down_name(target: str) -> str:
    """The topology `down TARGET` means. For a file: the topology whose record says it was brought up from
    that file (so `down` needs none of the `--var` values the file was brought up with), else the name the
    file gives, else the file's name."""
    import os

    from pipenet.engine.session import topology_name

    if (target.endswith(".pn") or os.path.sep in target) and os.path.isfile(target):
        where = os.path.abspath(target)
        found = sorted(set(n for n, rec in _records() if rec.get("file") == where))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            output.message(f"pipenet: {target} is up as several topologies ({', '.join(found)}); "
                           f"name the one to take down: pipenet down NAME")
            raise Exit(1)
    return topology_name(target)


def _records():
    """(name, record) of every topology that is up: the full record of each plain one, the small outside
    record of each sandbox."""
    import os

    from pipenet.engine.state import StateDir, all_topologies
    from pipenet.sandbox import sandbox as sb

    try:
        for name in all_topologies():
            try:
                yield name, StateDir(name).load() or {}
            except (OSError, ValueError):
                continue
    except OSError:
        pass
    if not os.environ.get("PIPENET_IN_SANDBOX"):
        try:
            for name in sb.all_sandboxes():
                yield name, sb.load(name) or {}
        except (OSError, ValueError):
            pass


def status(topology: Optional[str] = None, json: bool = False) -> None:
    """Nodes, interfaces, addresses, routes, and any drift between the record and the kernel."""
    import json as _json
    import os

    from pipenet.engine.state import all_topologies, check_name
    from pipenet.engine.status import status as get_status
    from pipenet.errors import PipenetError
    from pipenet.sandbox import sandbox as sb

    _topology_arg(topology)
    boxed = [] if os.environ.get("PIPENET_IN_SANDBOX") else sb.all_sandboxes()
    if topology is not None and topology in boxed:
        rec = _sandbox(topology)
        code, _ = _inside(rec, lambda: status(topology, json))
        raise Exit(code)
    names = [topology] if topology else _plain_topologies()
    k = _kernel()
    docs = []
    try:
        for n in names:
            try:
                docs.append(get_status(n, k))
            except PipenetError as e:
                if topology is not None:
                    _fail(e)
                docs.append({"topology": n, "up": True, "error": str(e), "nodes": [], "drift": [],
                             "processes": [], "published": [], "file": None, "operations": 0})
    except PermissionError as e:  # root's record, read by another user
        output.message(f"pipenet: cannot read {e.filename}: {e.strerror}; run as root")
        raise Exit(1)
    finally:
        k.close()
    if topology is None:
        for n in boxed:
            rec = _sandbox(n)
            code, out = _inside(rec, lambda n=n: output.emit_json(get_status_inside(n)), capture=True)
            try:
                doc = _json.loads(out.decode())
                doc["sandbox"] = {"holder": rec["pid"]}
                docs.append(doc)
            except ValueError:
                pass
    if json:
        output.emit_json(docs if topology is None else docs[0])
        if any(d.get("drift") or d.get("error") for d in docs):
            raise Exit(1)
        return
    from rich.table import Table

    con = output.console()
    for d in docs:
        if not d["up"]:
            output.message(f"{d['topology']}: not up")
            continue
        if d.get("error"):
            output.message(f"{d['topology']}: {d['error']}")
            continue
        title = f"{d['topology']} ({d['file']})"
        table = Table(title=title, header_style="bold", min_width=len(title))  # the file's path on one line
        for col in ("node", "namespace", "interfaces", "routes"):
            table.add_column(col)
        for n in d["nodes"]:
            ifs = "\n".join(f"{i['name']} {' '.join(i['addresses'])} {i['mac']}" for i in n["interfaces"])
            rts = "\n".join(f"{r['dest']}" + (f" via {r['via']}" if r["via"] else "") +
                            (f" dev {r['dev']}" if r["dev"] else "") for r in n["routes"])
            table.add_row(n["node"], n["namespace"] if n["alive"] else f"{n['namespace']} (GONE)", ifs, rts)
        con.print(table)
        if d.get("processes"):
            pt = Table(title="processes", header_style="bold")
            for col in ("node", "command", "pid", "state"):
                pt.add_column(col)
            for pr in d["processes"]:
                pt.add_row(pr["node"], pr["command"], str(pr["pid"]), "running" if pr["alive"] else "DEAD")
            con.print(pt)
        if d.get("published"):
            for x in d["published"]:
                where = f"{x['host_ip']}:" if x["host_ip"] else ""
                print(f"published: {where}{x['host_port']}/{x['proto']} -> {x['node']} {x['ip']}:{x['port']}")
        if d["drift"]:
            output.message(f"{d['topology']}: drift: {len(d['drift'])} of {d['operations']} recorded changes are "
                           f"not live as made (`pipenet up {d['file']}` repairs what is missing or changed):")
            for item in d["drift"]:
                output.message(f"  {item['state']}: {item['detail']}")
        else:
            output.message(f"{d['topology']}: no drift ({d['operations']} recorded changes all live as made)")
    if not docs:
        output.message("no sandbox is up" if _NOTED else "no topology is up")
    if any(d.get("drift") or d.get("error") for d in docs):
        raise Exit(1)


def get_status_inside(name: str) -> dict:
    from pipenet.engine.status import status as get_status

    k = _kernel()
    try:
        return get_status(name, k)
    finally:
        k.close()


def ls(json: bool = False) -> None:
    """The topologies that are up."""
    from pipenet.engine.state import StateDir, all_topologies

    import os

    from pipenet.sandbox import sandbox as sb

    from pipenet.errors import PipenetError

    rows = []
    for name in _plain_topologies():
        try:
            rec = StateDir(name).load() or {}
            problem = None
        except PipenetError as e:
            rec, problem = {}, str(e)
        row = {"topology": name, "file": rec.get("file"), "nodes": len([n for n in rec.get("ns", {}) if n != "host"]),
               "operations": len(rec.get("ops", [])), "sandbox": None}
        if problem:
            row["error"] = problem
        rows.append(row)
    if not os.environ.get("PIPENET_IN_SANDBOX"):
        for name in sb.all_sandboxes():
            rec = sb.load(name) or {}
            rows.append({"topology": name, "file": None,
                         "nodes": len([n for n in rec.get("nodes", []) if n != "host"]), "operations": None,
                         "sandbox": {"holder": rec.get("pid"), "alive": bool(rec) and sb.alive(rec)}})
    if json:
        output.emit_json(rows)
        return
    for r in rows:
        where = (f"sandbox (holder {r['sandbox']['holder']}{'' if r['sandbox']['alive'] else ', DEAD'})"
                 if r["sandbox"] else r["file"])
        if r.get("error"):
            where = f"RECORD UNREADABLE: {r['error']}"
        print(f"{r['topology']}\t{r['nodes']} nodes\t{where}")
    if not rows:
        output.message("no sandbox is up" if _NOTED else "no topology is up")


#: why a step is planned when the file, not the live system, asks for it
FILE_REASONS = ("new", "changed in the file", "gone from the file")


def test(file: str, json: bool = False, sandbox: bool = False, var: Sequence[str] = ()) -> None:
    """Bring the topology up if needed, check every `expect`, print a table (exit 4 if one fails)."""
    import time

    _variables(var)
    from pipenet.engine.session import preflight, prepare, up as do_up
    from pipenet.engine.state import StateDir
    from pipenet.errors import PipenetError
    from pipenet.expect.runner import Runner

    name = _file_topology(file)
    rec = _sandbox(name)
    if sandbox or rec is not None:
        _in_a_sandbox(name, rec, lambda: test(file, json, False), file)
        return
    _need_root("test")
    k = _kernel()
    try:
        loaded = _LOADED.get(file)
        p = prepare(file, k, loaded)
        preflight(p, k)
        # up if needed: not up yet, or the file asks for something else; drift alone is not repaired here
        # (a link cut on purpose must fail its expectations: `status` reports it, `up` repairs it)
        if p.record is None or any(st.reason in FILE_REASONS for st in p.plan.steps):
            with _Progress("up") as bar:
                p2, seconds = do_up(file, k, bar, loaded)
            if not json:
                _print_summary(f"{p2.topo.name} is up", p2.plan.steps, seconds)
            p = prepare(file, k, loaded)
        elif p.plan.steps:
            output.message(f"pipenet: {p.topo.name} has drift ({len(p.plan.steps)} changes from what up made; "
                           f"`pipenet status` lists them): the expectations test the live system as it is")
        record = StateDir(p.topo.name).load() or {}
        t0 = time.perf_counter()
        results = Runner(p.topo, record, k).run(list(p.topo.expectations))
        seconds = time.perf_counter() - t0
    except PipenetError as e:  # Leftovers included: _fail lists them and exits 3
        _fail(e)
    finally:
        k.close()
    failed = [r for r in results if not r.ok]
    if json:
        output.emit_json({"topology": p.topo.name, "passed": len(results) - len(failed), "failed": len(failed),
                          "seconds": round(seconds, 3), "results": [r.to_json() for r in results]})
    else:
        from rich.table import Table

        table = Table(title=f"{p.topo.name}: expectations", header_style="bold")
        table.add_column("line", justify="right")
        table.add_column("expectation")
        table.add_column("result")
        table.add_column("detail")
        for r in results:
            table.add_row(str(r.expectation.span.line), r.expectation.describe(),
                          "[green]pass[/green]" if r.ok else "[bold red]FAIL[/bold red]", r.detail)
        table.caption = f"{len(results) - len(failed)} passed, {len(failed)} failed in {seconds:.2f} s"
        output.console().print(table)
        if not results:
            output.message(f"{file}: no expectations")
    if failed:
        raise Exit(4)


def graph(file: str, out: Optional[str] = None, var: Sequence[str] = ()) -> None:
    """A picture of the topology: nodes, bridges, links, addresses, NAT and published ports."""
    from pipenet.errors import PipenetError
    from pipenet.graph import write
    from pipenet.lang.load import load_text, read

    _variables(var)
    try:
        topo = load_text(read(file), file)
        target = out or (file[:-3] if file.endswith(".pn") else file) + ".svg"
        write(topo, target)
    except PipenetError as e:
        _fail(e)
    except OSError as e:  # the picture's directory is missing or not writable
        output.message(f"pipenet: cannot write {target}: {e.strerror or e}")
        raise Exit(1)
    output.message(f"{file}: picture written to {target}")


def logs(node: str, topology: Optional[str] = None) -> None:
    """Output of the node's `run` processes."""
    import glob
    import os

    from pipenet.engine.state import StateDir

    _topology_arg(topology)
    rec = _sandboxed_node(node, topology)
    if rec is not None:
        code, _ = _inside(rec, lambda: logs(node, topology))
        raise Exit(code)

    name, _ref, _host = _find_node(node, topology)
    files = sorted(glob.glob(os.path.join(StateDir(name).path, "logs", f"{glob.escape(node)}.*.log")),
                   key=lambda p: int(p.rsplit(".", 2)[1]))
    if not files:
        output.message(f"pipenet: {node} has no `run` processes")
        return
    for path in files:
        with open(path, errors="replace") as f:
            sys.stdout.write(f.read())
    sys.stdout.flush()


def _sandboxed_node(node: str, topology: Optional[str]):
    """The sandbox record holding `node` (in `topology` when given), or None."""
    import os

    if os.environ.get("PIPENET_IN_SANDBOX"):
        return None
    from pipenet.engine.state import StateDir, all_topologies
    from pipenet.sandbox import sandbox as sb

    if topology is not None:
        return _sandbox(topology) if topology in sb.all_sandboxes() else None
    plain = [n for n in _plain_topologies(quiet=True) if node in (StateDir(n).load() or {}).get("ns", {})]
    boxes = [n for n in sb.all_sandboxes() if node in (sb.load(n) or {}).get("nodes", [])]
    if len(plain) + len(boxes) > 1:
        output.message(f"pipenet: {node} is in several topologies ({', '.join(plain + boxes)}); name one with -t")
        raise Exit(1)
    return _sandbox(boxes[0]) if boxes else None


def _need_root_for(command: str, node: str, topology: Optional[str]) -> None:
    """Without root: first say when no topology has the node (what a person needs to hear), then that
    the command needs root. When the records cannot be read, only root can tell: ask for it."""
    import os

    from pipenet.engine.state import state_root

    if os.geteuid() == 0:
        return
    try:
        os.stat(state_root())
        readable = os.access(state_root(), os.R_OK | os.X_OK)
    except PermissionError:
        readable = False
    except OSError:  # no state directory: nothing is up
        readable = True
    if readable:
        _find_node(node, topology)  # exits 1 saying no node of that name is up
    _need_root(command, why="enters a node's namespaces")


def _find_node(node: str, topology: Optional[str]) -> tuple[str, str, str]:
    """(topology, namespace ref, hostname) of a node, searching every topology when none is named."""
    from pipenet.engine.state import StateDir, all_topologies

    names = [topology] if topology else _plain_topologies()
    found = []
    for name in names:
        rec = StateDir(name).load() or {}
        if node in rec.get("ns", {}):
            found.append((name, rec["ns"][node], rec.get("hostnames", {}).get(node, node)))
    if not found:
        where = f" in topology {topology}" if topology else ("" if names else " (no topology is up)")
        output.message(f"pipenet: no node {node} is up{where}")
        raise Exit(1)
    if len(found) > 1:
        output.message(f"pipenet: {node} is in several topologies ({', '.join(f[0] for f in found)}); "
                       f"name one with -t")
        raise Exit(1)
    return found[0]


def _enter_and_exec(node: str, topology: Optional[str], argv: list[str], env: dict | None = None) -> None:
    import os

    from pipenet.engine.enter import etc_dir, exec_in
    from pipenet.backends.netns import RUN_DIR

    name, ref, hostname = _find_node(node, topology)
    path = None if ref == "" else (ref if ref.startswith("/") else os.path.join(RUN_DIR, ref))
    if node == "host":  # the namespace pipenet runs in: its own hostname and files
        hostname, ref = None, ""
    try:
        exec_in(path, hostname, etc_dir(ref), argv, env)
    except FileNotFoundError:
        output.message(f"pipenet: {argv[0]}: command not found")
        raise Exit(127)
    except OSError as e:
        output.message(f"pipenet: cannot enter {node}: {e}")
        raise Exit(1)


def exec_(node: str, argv: list[str], topology: Optional[str] = None) -> None:
    """Run a command inside NODE, with its hostname and /etc files: pipenet exec NODE -- CMD ..."""
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        output.message("pipenet: exec needs a command: pipenet exec NODE -- CMD ...")
        raise Exit(1)
    _topology_arg(topology)
    rec = _sandboxed_node(node, topology)
    if rec is not None:
        code, _ = _inside(rec, lambda: _enter_and_exec(node, topology, argv))
        raise Exit(code)
    _need_root_for("exec", node, topology)
    _enter_and_exec(node, topology, argv)


def shell(node: str, topology: Optional[str] = None) -> None:
    """An interactive shell inside NODE, the prompt naming it."""
    import os

    _topology_arg(topology)
    rec = _sandboxed_node(node, topology)
    if rec is not None:
        code, _ = _inside(rec, lambda: shell(node, topology))
        raise Exit(code)
    _need_root_for("shell", node, topology)
    sh = os.environ.get("SHELL") or "/bin/bash"
    if not os.path.exists(sh):
        sh = "/bin/sh"
    env = dict(os.environ, PS1=f"[{node}] \\w# ", PIPENET_NODE=node)
    argv = [sh, "--norc", "-i"] if sh.endswith("bash") else [sh, "-i"]
    _enter_and_exec(node, topology, argv, env)


