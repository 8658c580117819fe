"""What each `pipenet` command about a network's life does (up, down, plan, status, test, exec, ...): read its arguments, call the library (`pipenet.api`), show the
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
from pipenet.cli.glue import Exit, call, lab_of, topology_arg
from pipenet.gcpause import paused_to_the_end


@paused_to_the_end  # (the summary shown too)
def plan(file: str, format: str = "text", var: Sequence[str] = (), json: bool = False) -> None:
    """Show what `up` would do against the live system, in order (sh: the equivalent commands)."""
    from pipenet.cli import render

    if format not in ("text", "sh", "json") or (json and format == "sh"):
        output.message("pipenet: --json is --format json, not sh" if json and format == "sh" else
                       "pipenet: --format is text, sh or json")
        raise Exit(1)
    format = "json" if json else format
    lab = lab_of(file, var, parse=False)
    render.plan(call(lab.plan), file, format)


@paused_to_the_end  # (the summary shown too)
def up(file: str, sandbox: bool = False, var: Sequence[str] = ()) -> None:
    """Bring the live system to what FILE says: create what is missing, change what differs, remove the rest."""
    from pipenet.cli import render

    lab = lab_of(file, var, parse=False)
    with render.Progress("up") as bar:
        change = call(lambda: lab.up(sandbox=sandbox, progress=bar))
    render.change(f"{change.topology} is up", change)


@paused_to_the_end  # (the summary shown too)
def down(target: str, force: bool = False, sandbox: bool = False) -> None:
    """Remove everything the topology made, and only that; safe to run twice, and after a crash.
    --force: when the record cannot be trusted, remove what carries the topology's marks. --sandbox (the
    words `up --sandbox` was given): only a topology that runs in a sandbox; one of that name up on this
    machine itself is refused, not taken down."""
    from pipenet import api
    from pipenet.cli import render

    lab = call(lambda: api.lab_for(target))
    topology_arg(lab.name, or_file=True)
    if sandbox and not call(lab.where).sandboxed and lab.name in api.names_up():
        output.message(f"pipenet: {lab.name} is up on this machine, not in a sandbox; nothing was changed "
                       f"(to take it down: pipenet down {lab.name})")
        raise Exit(2)
    with render.Progress("down") as bar:
        change = call(lambda: lab.down(force=force, progress=bar))
    if not change.existed:  # exit 0, like `docker compose down`: safe to run twice; the words show a typo
        render.not_up(lab.name, api.names_up())
    else:
        render.change(f"{lab.name} is down", change)


def status(topology: Optional[str] = None, json: bool = False) -> None:
    """Nodes, interfaces, addresses, routes, and any drift between the record and the kernel."""
    from pipenet import api, results
    from pipenet.cli import render

    topology_arg(topology)
    if topology is not None:
        docs, readable = [call(lambda: api.lab_named(topology).status())], True
    else:
        docs, readable = call(api.status_all)
    render.unreadable(readable)
    if json:
        output.emit_json(docs[0].to_json() if topology is not None else
                         results.every_topology("status-all", docs, readable))
    else:
        render.status(docs, readable)
    if any(d.drift or d.error for d in docs):
        raise Exit(1)


def ls(json: bool = False) -> None:
    """The topologies that are up."""
    from pipenet import api, results
    from pipenet.cli import render

    rows, readable = call(api.labs)
    render.unreadable(readable)
    if json:
        output.emit_json(results.every_topology("ls", rows, readable))
    else:
        render.labs(rows, readable)


def test(file: str, json: bool = False, sandbox: bool = False, var: Sequence[str] = (),
         junit: Optional[str] = None) -> None:
    """Bring the topology up if needed, check every `expect`, print a table (exit 4 if one fails), and
    with --junit write a JUnit XML report too (where it goes is checked before anything runs)."""
    from pipenet.cli import render

    if junit is not None:
        from pipenet import junit as reports

        call(lambda: reports.writable(junit))
    lab = lab_of(file, var)
    with render.Progress("up") as bar:
        report = call(lambda: lab.test(sandbox=sandbox, progress=bar))
    if report.up is not None and not json:
        render.change(f"{report.topology} is up", report.up)
    if report.drift:
        output.message(f"pipenet: {report.topology} has drift ({report.drift} changes from what up made; "
                       f"`pipenet status` lists them): the expectations test the live system as it is")
    if json:
        output.emit_json(report.to_json())
    else:
        render.test(report, file)
    if junit is not None:
        try:
            report.write_junit(junit, file)
        except OSError as e:
            output.message(f"pipenet: cannot write {junit}: {e.strerror or e}")
            raise Exit(1)
    if not report.ok:
        raise Exit(4)


def logs(node: str, topology: Optional[str] = None) -> None:
    """Output of the node's `run` processes."""
    from pipenet import api

    topology_arg(topology)
    text = call(lambda: api.find_node(node, topology, "logs").logs(node))
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
    topology_arg(topology)
    lab = call(lambda: api.find_node(node, topology))
    raise Exit(call(lambda: lab.replace_with(node, argv)))


def shell(node: str, topology: Optional[str] = None) -> None:
    """An interactive shell inside NODE, the prompt naming it."""
    from pipenet import api

    topology_arg(topology)
    lab = call(lambda: api.find_node(node, topology, "shell"))
    raise Exit(call(lambda: lab.replace_with(node, *api.shell_command(node))))
