"""What each `pipenet` command does: read its arguments, call the library (`pipenet.api`), show the
result (`pipenet.cli.render`), and exit with the status the CLI spec gives.

The argument parsing lives elsewhere (`pipenet.cli.app`, the typer app, and
`pipenet.cli.dispatch`, which runs the exact common forms without loading
typer). Nothing here decides anything about networks: where a lab lives (a
sandbox or not), the fast answer for an unchanged file and the lookup of a
node are the library's. Imports are lazy, so each command loads only its own
part of pipenet.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from pipenet.cli import output
from pipenet.cli.remote import slice_ as slice  # noqa: F401,A001 - (hidden) a machine's share, for a coordinator


class Exit(SystemExit):
    """Leave the command with an exit status (0 success, 1 wrong file or arguments, 2 rolled back,
    3 leftovers, 4 an expectation failed)."""

    @property
    def exit_code(self) -> int:
        return self.code


_LABS: list = []  # the lab of the command's file: for locating a refusal in the file (cli.conflicts)


def _fail(exc) -> None:
    """Report a PipenetError the way the CLI spec says, and exit with its status."""
    from pipenet.errors import Conflict, InvalidTopology, Leftovers

    if isinstance(exc, InvalidTopology):
        output.diagnostics(exc.diagnostics, exc.sources)
    elif isinstance(exc, Conflict):  # one cause a line, located in the file where it has a place
        from pipenet.cli.conflicts import show

        show(exc.problems, _LABS[-1] if _LABS else None)
    else:
        output.message(f"pipenet: {exc}")
    if isinstance(exc, Leftovers):  # exit 3: say exactly what is left, one line each
        for line in exc.remaining:
            output.message(f"  left: {line}")
    raise Exit(exc.exit_code)


def _variables(var) -> dict:
    """`--var NAME=VALUE` arguments, for ${NAME} in the file: one line and exit 1 when one is not NAME=VALUE."""
    if not var:
        return {}
    from pipenet import variables

    try:
        values = variables.parse(var)
    except variables.BadVariable as e:
        output.message(f"pipenet: {e}")
        raise Exit(1)
    variables.CURRENT.update(values)
    return values


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


def _lab(file: str, var, parse: bool = True):
    """The lab of FILE (parsed now, so a wrong file is reported before anything else, unless `parse` is
    off: `up` and `plan` of an unchanged file are answered without parsing it)."""
    from pipenet import api
    from pipenet.errors import PipenetError

    lab = api.Lab(path=file, variables=_variables(var))
    _LABS.append(lab)
    if parse:
        try:
            lab.loaded
        except PipenetError as e:
            _fail(e)
    return lab


def _call(fn):
    """fn(), a PipenetError reported as the CLI spec says (Leftovers included: exit 3)."""
    from pipenet.errors import PipenetError

    try:
        return fn()
    except PipenetError as e:
        _fail(e)


def check(file: str, json: bool = False, var: Sequence[str] = ()) -> None:
    """Parse and validate FILE; print every diagnostic; change nothing."""
    from pipenet import api

    report = api.check(file, variables=_variables(var))
    if json:
        output.emit_json(report.to_json())
    elif not report.ok:
        output.diagnostics(report.diagnostics, report.sources)
    else:
        c = report.counts
        output.message(f"{file}: ok (topology {report.topology}: {c['bridges']} bridges, {c['containers']} "
                       f"containers, {c['p2p']} p2p links)")
    if not report.ok:
        raise Exit(1)


def fmt(file: str, check: bool = False) -> None:
    """Rewrite FILE in canonical layout, comments kept (--check: exit 1 if it would change)."""
    import os

    from pipenet import api

    try:
        changed, target = _call(lambda: api.format_file(file, write=not check))
    except OSError as e:
        output.message(f"pipenet: cannot write {os.path.realpath(file)}: {e.strerror or e}")
        raise Exit(1)
    if check:
        output.message(f"{file}: would be reformatted" if changed else f"{file}: formatted")
        raise Exit(1 if changed else 0)
    through = f" (through the link, in {target})" if target != os.path.abspath(file) else ""
    output.message(f"{file}: reformatted{through}" if changed else f"{file}: already formatted")


def plan(file: str, format: str = "text", var: Sequence[str] = ()) -> None:
    """Show what `up` would do against the live system, in order (sh: the equivalent commands)."""
    from pipenet.cli import render

    if format not in ("text", "sh", "json"):
        output.message("pipenet: --format is text, sh or json")
        raise Exit(1)
    lab = _lab(file, var, parse=False)
    render.plan(_call(lab.plan), file, format)


def up(file: str, sandbox: bool = False, var: Sequence[str] = ()) -> None:
    """Bring the live system to what FILE says: create what is missing, change what differs, remove the rest."""
    from pipenet.cli import render

    lab = _lab(file, var, parse=False)
    with render.Progress("up") as bar:
        change = _call(lambda: lab.up(sandbox=sandbox, progress=bar))
    render.change(f"{change.topology} is up", change)


def down(target: str, force: bool = False) -> None:
    """Remove everything the topology made, and only that; safe to run twice, and after a crash.
    --force: when the record cannot be trusted, remove what carries the topology's marks."""
    from pipenet import api
    from pipenet.cli import render

    lab = _call(lambda: api.lab_for(target))
    _topology_arg(lab.name, or_file=True)
    with render.Progress("down") as bar:
        change = _call(lambda: lab.down(force=force, progress=bar))
    if not change.existed:  # exit 0, like `docker compose down`: safe to run twice; the words show a typo
        render.not_up(lab.name, api.names_up())
    else:
        render.change(f"{lab.name} is down", change)


def status(topology: Optional[str] = None, json: bool = False) -> None:
    """Nodes, interfaces, addresses, routes, and any drift between the record and the kernel."""
    from pipenet import api
    from pipenet.cli import render

    _topology_arg(topology)
    if topology is not None:
        docs, readable = [_call(lambda: api.lab_named(topology).status())], True
    else:
        docs, readable = _call(api.status_all)
    render.unreadable(readable)
    if json:
        output.emit_json([d.to_json() for d in docs] if topology is None else docs[0].to_json())
    else:
        render.status(docs, readable)
    if any(d.drift or d.error for d in docs):
        raise Exit(1)


def ls(json: bool = False) -> None:
    """The topologies that are up."""
    from pipenet import api
    from pipenet.cli import render

    rows, readable = _call(api.labs)
    render.unreadable(readable)
    if json:
        output.emit_json([r.to_json() for r in rows])
    else:
        render.labs(rows, readable)


def test(file: str, json: bool = False, sandbox: bool = False, var: Sequence[str] = ()) -> None:
    """Bring the topology up if needed, check every `expect`, print a table (exit 4 if one fails)."""
    from pipenet.cli import render

    lab = _lab(file, var)
    with render.Progress("up") as bar:
        report = _call(lambda: lab.test(sandbox=sandbox, progress=bar))
    if report.up is not None and not json:
        render.change(f"{report.topology} is up", report.up)
    if report.drift:
        output.message(f"pipenet: {report.topology} has drift ({report.drift} changes from what up made; "
                       f"`pipenet status` lists them): the expectations test the live system as it is")
    if json:
        output.emit_json(report.to_json())
    else:
        render.test(report, file)
    if not report.ok:
        raise Exit(4)


def graph(file: str, out: Optional[str] = None, var: Sequence[str] = ()) -> None:
    """A picture of the topology: nodes, bridges, links, addresses, NAT and published ports."""
    lab = _lab(file, var)
    target = out or (file[:-3] if file.endswith(".pn") else file) + ".svg"
    try:
        _call(lambda: lab.draw(target))
    except OSError as e:  # the picture's directory is missing or not writable
        output.message(f"pipenet: cannot write {target}: {e.strerror or e}")
        raise Exit(1)
    output.message(f"{file}: picture written to {target}")


def logs(node: str, topology: Optional[str] = None) -> None:
    """Output of the node's `run` processes."""
    from pipenet import api

    _topology_arg(topology)
    text = _call(lambda: api.find_node(node, topology, "logs").logs(node))
    if text is None:
        output.message(f"pipenet: {node} has no `run` processes")
        return
    sys.stdout.write(text)
    sys.stdout.flush()


def exec_(node: str, argv: list[str], topology: Optional[str] = None) -> None:
    """Run a command inside NODE, with its hostname and /etc files: pipenet exec NODE -- CMD ..."""
    from pipenet import api

    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        output.message("pipenet: exec needs a command: pipenet exec NODE -- CMD ...")
        raise Exit(1)
    _topology_arg(topology)
    lab = _call(lambda: api.find_node(node, topology))
    raise Exit(_call(lambda: lab.replace_with(node, argv)))


def shell(node: str, topology: Optional[str] = None) -> None:
    """An interactive shell inside NODE, the prompt naming it."""
    from pipenet import api

    _topology_arg(topology)
    lab = _call(lambda: api.find_node(node, topology, "shell"))
    raise Exit(_call(lambda: lab.replace_with(node, *api.shell_command(node))))


def import_(file: str, out: Optional[str] = None) -> None:
    """Convert a containerlab topology to a .pn file; a located line for each field it cannot carry."""
    from pipenet import api
    from pipenet.cli import render

    target = out or api.converted_name(file, ".pn")
    render.conversion(_call(lambda: api.import_clab(file, out=None if target == "-" else target)), file, target)


def export(file: str, format: str = "clab", out: Optional[str] = None, var: Sequence[str] = ()) -> None:
    """Convert a .pn file to containerlab's format; a located line for each statement it cannot carry."""
    from pipenet import api
    from pipenet.cli import render

    values, target = _variables(var), out or api.converted_name(file, ".clab.yml")
    render.conversion(_call(lambda: api.export(file, format=format, out=None if target == "-" else target,
                                               variables=values)), file, target)
