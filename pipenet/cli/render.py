"""How the CLI shows the library's results: tables, plans, statuses, the progress bar.

Nothing here decides anything; it only turns `pipenet.results` values into
text (reports on stdout, messages on stderr, see `output`).
"""

from __future__ import annotations

import sys

from pipenet.cli import output
from pipenet.results import Change, LabInfo, Plan, Status, TestReport
from pipenet.words import counted


def change(title: str, c: Change) -> None:
    """The summary table of an `up` or a `down` (stderr)."""
    for note in c.notes:
        output.message(f"pipenet: {note}")
    if not c.steps:
        output.message(f"{title}: nothing to change ({c.seconds:.2f} s)")
        return
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("what")
    columns = [("apply", "made"), ("repair", "repaired"), ("remove", "removed")]
    used = [(a, label) for a, label in columns if any(act == a for act, _ in c.counts)]
    for _, label in used:
        table.add_column(label, justify="right")
    for kind in sorted({k for _, k in c.counts}):
        table.add_row(kind, *[str(c.counts.get((a, kind), 0) or "") for a, _ in used])
    table.caption = f"{counted(c.steps, 'step')} in {c.seconds:.2f} s"
    output.console(stderr=True).print(table)


def plan(p: Plan, file: str, format: str) -> None:
    if format == "json":
        output.emit_json(p.to_json())
        return
    if format == "sh":
        lines = ["#!/bin/sh", f"# pipenet plan for topology {p.topology}: {len(p.steps)} steps", "set -e"]
        for s in p.steps:
            lines.append(f"# {s.sign} {s.key}" + (f" ({s.reason})" if s.reason else ""))
            lines.extend(s.commands)
        print("\n".join(lines))
        return
    if p.empty:
        output.message(f"{p.topology}: nothing to do (the live system matches {file})")
        return
    for s in p.steps:
        why = f"  ({s.reason})" if s.reason and s.reason != "new" else ""
        first = (s.commands or [s.key])[0].splitlines()[0]  # a file's content is for --format sh
        print(f"{s.n:4} {s.sign} {first}{why}")
    output.message(f"{p.topology}: {counted(len(p.steps), 'step')}")


def unreadable(readable: bool) -> None:
    """Said once when root's records are out of this user's reach (a user sees only their sandboxes)."""
    if not readable:
        from pipenet.engine.state import state_root

        output.message(f"pipenet: topologies up outside a sandbox are not shown: only root can read {state_root()}")


def nothing_up(readable: bool) -> None:
    output.message("no topology is up" if readable else "no sandbox is up")


def _hostport(ip: str, port) -> str:
    """`IP:PORT`, an IPv6 address in brackets (`[fd00::2]:80`), as Docker and URLs write them."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def not_up(name: str, up_now: list[str]) -> None:
    """`down` of a topology that is not up: exit 0, with words that show a typo."""
    from pipenet.diagnostics import did_you_mean

    also = "no topology is up" if not up_now else "up: " + ", ".join(up_now)
    guess = did_you_mean(name, up_now)
    output.message(f"pipenet: {name} is not up; nothing to do ({also}{'; ' + guess if guess else ''})")


def labs(rows: list[LabInfo], readable: bool) -> None:
    """`ls`: one line a topology."""
    for r in rows:
        where = (f"sandbox (holder {r.sandbox['holder']}{'' if r.sandbox['alive'] else ', DEAD'})"
                 if r.sandbox else r.file)
        if r.error:
            where = f"RECORD UNREADABLE: {r.error}"
        print(f"{r.topology}\t{r.nodes} nodes\t{where}")
    if not rows:
        nothing_up(readable)


def status(docs: list[Status], readable: bool = True) -> None:
    if not docs:
        nothing_up(readable)
        return
    from rich.table import Table

    con = output.console()
    for d in docs:
        if not d.up:
            output.message(f"{d.topology}: not up")
            continue
        if d.error:
            output.message(f"{d.topology}: {d.error}")
            continue
        title = f"{d.topology} ({d.file})"
        table = Table(title=title, header_style="bold", min_width=len(title))  # the file's path on one line
        for col in ("node", "namespace", "interfaces", "routes"):
            table.add_column(col)
        for n in d.nodes:
            ifs = "\n".join(f"{i['name']} {' '.join(i['addresses'])} {i['mac']}" + ("" if i["up"] else " DOWN")
                            for i in n["interfaces"])
            rts = "\n".join(f"{r['dest']}" + (f" via {r['via']}" if r["via"] else "") +
                            (f" dev {r['dev']}" if r["dev"] else "") for r in n["routes"])
            table.add_row(n["node"], n["namespace"] if n["alive"] else f"{n['namespace']} (GONE)", ifs, rts)
        con.print(table)
        if d.processes:
            pt = Table(title="processes", header_style="bold")
            for col in ("node", "command", "pid", "state"):
                pt.add_column(col)
            for pr in d.processes:
                pt.add_row(pr["node"], pr["command"], str(pr["pid"]), "running" if pr["alive"] else "DEAD")
            con.print(pt)
        for x in d.published:
            where = f"{_hostport(x['host_ip'], '')}" if x["host_ip"] else ""
            print(f"published: {where}{x['host_port']}/{x['proto']} -> {x['node']} {_hostport(x['ip'], x['port'])}")
        for x in d.runtime:
            from pipenet.engine.runtime import in_words

            output.message(f"{d.topology}: set at runtime: {x['node']}:{x['interface']} {in_words(x)} "
                           f"(`pipenet up {d.file}` puts the file's state back)")
        if d.drift:
            output.message(f"{d.topology}: drift: {len(d.drift)} of {d.operations} recorded changes are "
                           f"not live as made (`pipenet up {d.file}` repairs what is missing or changed):")
            for item in d.drift:
                output.message(f"  {item['state']}: {item['detail']}")
        else:
            output.message(f"{d.topology}: no drift ({d.operations} recorded changes all live as made)")


def test(r: TestReport, file: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    if r.runtime:
        output.message(f"pipenet: {r.topology} has {counted(r.runtime, 'interface')} set at "
                       f"runtime (`pipenet status` lists them), tested as they are")

    table = Table(title=f"{r.topology}: expectations", header_style="bold")
    table.add_column("line", justify="right")
    table.add_column("expectation")
    table.add_column("result")
    table.add_column("detail")
    shown = set()
    for c in r.results:
        if c.statement is not None:  # (an all-pairs statement: one line for all its pairs, at its first)
            if c.statement not in shown:
                shown.add(c.statement)
                m = r.all_pairs[c.statement]
                table.add_row(str(m.line), escape(m.expectation), _verdict(not m.failed), _pairs(m))
            continue
        # (escaped: `[fd00::5]:80` is an address, not rich markup)
        table.add_row(str(c.line), escape(c.expectation), _verdict(c.passed), escape(c.detail))
    table.caption = f"{r.passed} passed, {r.failed} failed in {r.seconds:.2f} s"
    out = output.console()
    out.print(table)
    for m in r.all_pairs:
        _matrix(out, m)
    if not r.results:
        output.message(f"{file}: no expectations")


def _verdict(ok: bool) -> str:
    return "[green]pass[/green]" if ok else "[bold red]FAIL[/bold red]"


def _pairs(m) -> str:
    size = f"{m.pairs:,} pairs ({len(m.sources)} x {len(m.targets)} nodes)"
    return f"{size}: all passed" if not m.failed else f"{size}: {m.failed:,} failed, {m.passed:,} passed"


def _matrix(out, m) -> None:
    """An all-pairs statement's matrix (`pipenet.cli.matrix`), or its failing pairs when too big to show."""
    from rich.markup import escape

    from pipenet import matrix

    title = f"line {m.line}: expect {escape(m.expectation)}"
    if matrix.fits(m, out.width if out.width < output.UNBOUNDED else matrix.PIPE_WIDTH):
        out.print(f"\n{title}\n(rows: sources, columns: targets; . passed, X failed)")
        for line in matrix.grid(m, fail="[bold red]X[/bold red]"):  # (node names hold no markup)
            out.print(line, highlight=False)
    elif m.failed:
        out.print(f"\n{title}: the failing pairs (source -> targets)")
        for line in matrix.failing(m):
            out.print(escape(line), highlight=False)


class Progress:
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
        self.close()

    def close(self) -> None:
        """End the bar (also called where the work ran: in a sandbox, a child process drew it)."""
        if self.bar:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def kernel_at_work(self) -> None:
        """The executor waits for a long kernel request (the host interfaces of a `down`): the summary's
        imports (rich's console and table, 0.04 s) are made now, not after the request."""
        import importlib

        importlib.import_module("rich.table")
        output.console(stderr=True)

    def __call__(self, done, total, step):
        if not self.tty or total < self.MIN_STEPS:
            return
        first = self.bar is None
        if first:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

            self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                           TimeRemainingColumn(), console=output.console(stderr=True), transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.verb, total=total)
        self.bar.update(self.task, completed=done, total=total, refresh=first or done >= total)




def conversion(c, file: str, target: str) -> None:
    """An `import` or `export` (the library wrote the file): one line for each thing not carried, where
    it is written (stderr), then where the text went, or the text itself for `-` (stdout)."""
    for w in c.warnings:
        s = w.span
        where = f"{s.file}:{s.line}:{s.column}" if s.line > 0 else s.file
        output.message(f"{where}: {w.severity}: {w.message}" + (f" ({w.hint})" if w.hint else ""))
    if target == "-":
        sys.stdout.write(c.text)
        sys.stdout.flush()
    else:
        output.message(f"{file}: converted to {target} ({len(c.warnings)} not carried)")
