"""The commands that only read or write files (check, fmt, graph, import, export, completion): no
root, no kernel, no sandbox. Glue like `commands.py`: arguments in, the library called, its result shown.
"""

from __future__ import annotations

from typing import Optional, Sequence

from pipenet.cli import output
from pipenet.cli.glue import Exit, call, lab_of, variables_of
from pipenet.words import counted


def check(file: str, json: bool = False, var: Sequence[str] = ()) -> None:
    """Parse and validate FILE; print every diagnostic; change nothing."""
    from pipenet import api

    report = api.check(file, variables=variables_of(var))
    if json:
        output.emit_json(report.to_json())
    elif not report.ok:
        output.diagnostics(report.diagnostics, report.sources)
    else:
        c = report.counts
        output.message(f"{file}: ok (topology {report.topology}: {counted(c['bridges'], 'bridge')}, "
                       f"{counted(c['containers'], 'container')}, {counted(c['p2p'], 'p2p link')})")
    if not report.ok:
        raise Exit(1)


def fmt(file: str, check: bool = False) -> None:
    """Rewrite FILE in canonical layout, comments kept (--check: exit 1 if it would change)."""
    import os

    from pipenet import api

    try:
        changed, target = call(lambda: api.format_file(file, write=not check))
    except OSError as e:
        output.message(f"pipenet: cannot write {os.path.realpath(file)}: {e.strerror or e}")
        raise Exit(1)
    if check:
        output.message(f"{file}: would be reformatted" if changed else f"{file}: formatted")
        raise Exit(1 if changed else 0)
    through = f" (through the link, in {target})" if target != os.path.abspath(file) else ""
    output.message(f"{file}: reformatted{through}" if changed else f"{file}: already formatted")


def graph(file: str, out: Optional[str] = None, var: Sequence[str] = ()) -> None:
    """A picture of the topology: nodes, bridges, links, addresses, NAT and published ports."""
    lab = lab_of(file, var)
    target = out or (file[:-3] if file.endswith(".pn") else file) + ".svg"
    try:
        call(lambda: lab.draw(target))
    except OSError as e:  # the picture's directory is missing or not writable
        output.message(f"pipenet: cannot write {target}: {e.strerror or e}")
        raise Exit(1)
    output.message(f"{file}: picture written to {target}")


def import_(file: str, out: Optional[str] = None) -> None:
    """Convert a containerlab topology to a .pn file; a located line for each field it cannot carry."""
    from pipenet import api
    from pipenet.cli import render

    target = out or api.converted_name(file, ".pn")
    render.conversion(call(lambda: api.import_clab(file, out=None if target == "-" else target)), file, target)


def export(file: str, format: str = "clab", out: Optional[str] = None, var: Sequence[str] = ()) -> None:
    """Convert a .pn file to containerlab's format; a located line for each statement it cannot carry."""
    from pipenet import api
    from pipenet.cli import render

    values, target = variables_of(var), out or api.converted_name(file, ".clab.yml")
    render.conversion(call(lambda: api.export(file, format=format, out=None if target == "-" else target,
                                               variables=values)), file, target)


def completion(shell: str) -> None:
    """Print the completion script for bash, zsh or fish."""
    from pipenet.cli import completion as done

    print(call(lambda: done.script(shell)))
