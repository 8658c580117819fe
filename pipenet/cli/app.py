"""The `pipenet` typer app: every command's arguments, options and help.

This is the command line's definition. Each command hands its values to the
plain function of the same name in `pipenet.cli.commands` (a network's life),
`pipenet.cli.files` (commands that only read or write files) or
`pipenet.cli.runtime` (a running lab's links and packets). The exact common
forms (`up FILE`, `down NAME`, `exec NODE -- CMD`, ...) are also recognised
by `pipenet.cli.dispatch` without loading typer; a test checks that both
read every form the same way.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from pipenet.cli import commands as c
from pipenet.cli import files as f
from pipenet.cli import runtime as rt
from pipenet.cli import completion as done

# add_completion: typer's --install-completion and --show-completion (pipenet.cli.completion says what completes)
app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  help="Declarative, transactional Linux networks from a topology file (.pn).")

FILE = "the topology file"
NODE = "the node"
JSON = "print one JSON document"
TOPOLOGY = "the topology (when ambiguous)"
VAR = "a variable for ${NAME} in the file (repeat for more)"


def _file():
    return typer.Argument(..., help=FILE, autocompletion=done.pn_files)


def _topology():
    return typer.Option(None, "-t", "--topology", help=TOPOLOGY, autocompletion=done.topologies)


def _node():
    return typer.Argument(..., help=NODE, autocompletion=done.nodes)


def _var():
    return typer.Option(None, "--var", metavar="NAME=VALUE", help=VAR)


def _version(value: bool) -> None:
    if value:
        from pipenet import __version__

        print(f"pipenet {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Declarative, transactional Linux networks from a topology file (.pn)."""


@app.command()
def check(file: str = _file(),
          json: bool = typer.Option(False, "--json", help="print the result as one JSON document"),
          var: Optional[List[str]] = _var()) -> None:
    """Parse and validate FILE; print every diagnostic; change nothing."""
    f.check(file, json, var)


@app.command()
def fmt(file: str = _file(),
        check: bool = typer.Option(False, "--check", help="only report whether the file is formatted")) -> None:
    """Rewrite FILE in canonical layout, comments kept (--check: exit 1 if it would change)."""
    f.fmt(file, check)


@app.command()
def plan(file: str = _file(),
         format: str = typer.Option("text", "--format", help="text, sh or json"),
         var: Optional[List[str]] = _var(),
         json: bool = typer.Option(False, "--json", help="the same as --format json")) -> None:
    """Show what `up` would do: the file compared with the record and with the live system (each
    repair marked: `+ ... (missing: ...)`, `~ ... (changed: ...)`); sh: the equivalent commands."""
    c.plan(file, format, var, json)


@app.command()
def up(file: str = _file(),
       sandbox: bool = typer.Option(False, "--sandbox", help="run the whole topology in private namespaces"),
       var: Optional[List[str]] = _var()) -> None:
    """Bring the live system to what FILE says: read what is live, create what is missing, put right what
    differs, remove what the file no longer has; never touch what pipenet did not make."""
    c.up(file, sandbox, var)


@app.command()
def down(target: str = typer.Argument(..., help="a topology file or a topology name",
                                      autocompletion=done.file_or_topology),
         force: bool = typer.Option(False, "--force", help="the record cannot be trusted: remove what carries "
                                                            "the topology's marks on the live system"),
         sandbox: bool = typer.Option(False, "--sandbox", help="only if it runs in a sandbox (as `up --sandbox` "
                                                                "made it); one up on this machine is refused")) -> None:
    """Remove everything the topology made that is still live and carries its mark, and only that;
    safe to run twice, and after a crash."""
    c.down(target, force, sandbox)


@app.command()
def status(topology: Optional[str] = typer.Argument(None, help="a topology name (default: every one that is up)",
                                                   autocompletion=done.topologies),
           json: bool = typer.Option(False, "--json", help=JSON)) -> None:
    """Nodes, interfaces, addresses, routes, and drift: each recorded change checked against the live
    system (the same check `plan` and `up` make); exit 1 when any is missing, changed or taken."""
    c.status(topology, json)


@app.command()
def ls(json: bool = typer.Option(False, "--json", help=JSON)) -> None:
    """The topologies that are up."""
    c.ls(json)


@app.command()
def test(file: str = _file(),
         json: bool = typer.Option(False, "--json", help=JSON),
         sandbox: bool = typer.Option(False, "--sandbox", help="bring it up in a sandbox when it is not up"),
         var: Optional[List[str]] = _var(),
         junit: Optional[str] = typer.Option(None, "--junit", metavar="FILE.xml",
                                             help="also write a JUnit XML report, one testcase per expectation")
         ) -> None:
    """Bring the topology up if needed, check every `expect`, print a table (exit 4 if one fails)."""
    c.test(file, json, sandbox, var, junit)


@app.command()
def graph(file: str = _file(),
          out: str = typer.Option(None, "-o", "--output", help="OUT.svg, .png, .dot or .mmd (default: FILE.svg)"),
          var: Optional[List[str]] = _var()) -> None:
    """A picture of the topology: nodes, bridges, links, addresses, NAT and published ports."""
    f.graph(file, out, var)


@app.command()
def logs(node: str = _node(),
         topology: Optional[str] = _topology()) -> None:
    """Output of the node's `run` processes."""
    c.logs(node, topology)


@app.command(name="exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(ctx: typer.Context, node: str = _node(),
          topology: Optional[str] = _topology()) -> None:
    """Run a command inside NODE, with its hostname and /etc files: pipenet exec NODE -- CMD ..."""
    c.exec_(node, list(ctx.args), topology)


@app.command()
def shell(node: str = _node(),
          topology: Optional[str] = _topology()) -> None:
    """An interactive shell inside NODE, the prompt naming it."""
    c.shell(node, topology)


@app.command(hidden=True)
def slice() -> None:
    """(internal, for the coordinator of a topology across machines) one machine's share: a JSON request on
    stdin, the JSON answer on stdout (docs/multi-host.md)."""
    from pipenet.cli import remote

    remote.slice()


@app.command(name="import")
def import_(file: str = typer.Argument(..., help="a containerlab topology (LAB.clab.yml)"),
            out: str = typer.Option(None, "-o", "--output", help="the .pn file to write (default: LAB.pn "
                                                                    "beside it; - for stdout)")) -> None:
    """Convert a containerlab topology to a .pn file; one located line for each field it cannot carry."""
    f.import_(file, out)


@app.command()
def export(file: str = typer.Argument(..., help=FILE),
           format: str = typer.Option("clab", "--format", help="clab (containerlab)"),
           out: str = typer.Option(None, "-o", "--output", help="the file to write (default: FILE.clab.yml "
                                                                   "beside it; - for stdout)"),
           var: Optional[List[str]] = _var()) -> None:
    """Convert FILE to another tool's topology (containerlab's); one located line for each statement it
    cannot carry."""
    f.export(file, format, out, var)


@app.command()
def completion(shell: str = typer.Argument(..., help="bash, zsh or fish", autocompletion=done.shells)) -> None:
    """Print the shell completion script (commands, options, .pn files, topologies up, their nodes):
    `source <(pipenet completion bash)`; `pipenet --install-completion` installs it for your shell."""
    f.completion(shell)


IFACE = "NODE:IFACE, one of the lab's interfaces (say a:eth0)"


def _iface(words: str = IFACE):
    return typer.Argument(..., metavar="NODE:IFACE", help=words, autocompletion=done.node_interfaces)


@app.command()
def link(target: str = _iface(),
         state: str = typer.Argument(..., metavar="down|up", help="down or up",
                                     autocompletion=lambda incomplete: [w for w in ("down", "up")
                                                                        if w.startswith(incomplete)]),
         topology: Optional[str] = _topology()) -> None:
    """Set one of the lab's interfaces down or up while it runs; `status` shows it as set at runtime, and
    `up FILE` puts the file's state back."""
    rt.link(target, state, topology)


@app.command()
def shape(target: str = _iface(),
          settings: Optional[List[str]] = typer.Argument(None, metavar="[rate R] [delay D] [jitter J] [loss L]",
                                                         help="as in the file's `shape`: rate 1mbit delay 50ms"),
          clear: bool = typer.Option(False, "--clear", help="remove the interface's shaping"),
          topology: Optional[str] = _topology()) -> None:
    """Shape one of the lab's interfaces while it runs (rate: tbf; delay, jitter, loss: netem), or --clear
    it; `status` shows it as set at runtime, and `up FILE` puts the file's state back."""
    rt.shape(target, settings, clear, topology)


@app.command()
def capture(target: str = _iface("NODE:IFACE (any interface of the node, or any)"),
            filter: Optional[List[str]] = typer.Argument(None, metavar="[FILTER]", help="a tcpdump filter"),
            write: Optional[str] = typer.Option(None, "-w", "--write", metavar="FILE",
                                                help="write pcap to FILE (- for stdout: | wireshark -k -i -)"),
            count: Optional[str] = typer.Option(None, "-c", "--count", metavar="COUNT",
                                                help="stop after COUNT packets"),
            topology: Optional[str] = _topology()) -> None:
    """Capture packets on NODE:IFACE with tcpdump, inside the node (Ctrl-C ends it)."""
    rt.capture(target, filter, write, count, topology)
