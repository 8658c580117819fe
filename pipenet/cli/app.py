"""`pipenet`: one console script, a typer app. Commands import what they need lazily,
so that `pipenet --help` and `pipenet check` start fast."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from pipenet.cli import output

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Declarative, transactional Linux networks from a topology file (.pn).")


def _version(value: bool) -> None:
    if value:
        from pipenet import __version__

        print(f"pipenet {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Declarative, transactional Linux networks from a topology file (.pn)."""


def _fail(exc) -> None:
    """Report a PipenetError the way the CLI spec says, and exit with its status."""
    from pipenet.errors import InvalidTopology

    if isinstance(exc, InvalidTopology):
        output.diagnostics(exc.diagnostics, exc.sources)
    else:
        output.message(f"pipenet: {exc}")
    raise typer.Exit(exc.exit_code)


@app.command()
def check(file: str = typer.Argument(..., help="the topology file"),
          json: bool = typer.Option(False, "--json", help="print the result as one JSON document")) -> None:
    """Parse and validate FILE; print every diagnostic; change nothing."""
    from pipenet.diagnostics import to_json
    from pipenet.errors import InvalidTopology
    from pipenet.lang.load import analyse, read

    try:
        text = read(file)
    except InvalidTopology as e:
        if json:
            output.emit_json({"file": file, "ok": False, "diagnostics": to_json(e.diagnostics)})
            raise typer.Exit(1)
        _fail(e)
    topo, diags, sources = analyse(text, file)
    if json:
        doc = {"file": file, "ok": not diags, "diagnostics": to_json(diags)}
        if topo is not None and not diags:
            doc["topology"] = topo.name
            doc["counts"] = {"bridges": len(topo.bridges), "containers": len(topo.containers),
                             "p2p": len(topo.p2p), "expectations": len(topo.expectations)}
        output.emit_json(doc)
        raise typer.Exit(1 if diags else 0)
    if diags:
        output.diagnostics(diags, sources)
        raise typer.Exit(1)
    output.message(f"{file}: ok (topology {topo.name}: {len(topo.bridges)} bridges, "
                   f"{len(topo.containers)} containers, {len(topo.p2p)} p2p links)")


@app.command()
def fmt(file: str = typer.Argument(..., help="the topology file"),
        check: bool = typer.Option(False, "--check", help="only report whether the file is formatted")) -> None:
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
            raise typer.Exit(1)
        output.message(f"{file}: formatted")
        return
    if new != text:
        from pipenet.fsutil import write_atomic

        write_atomic(file, new.encode(), mode=None)
        output.message(f"{file}: reformatted")
    else:
        output.message(f"{file}: already formatted")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        output.message("pipenet: interrupted")
        sys.exit(130)
