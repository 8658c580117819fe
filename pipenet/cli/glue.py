"""What every command shares: its exit status, how a refusal is reported, `--var` values, a topology
name's check, and the lab of the command's file.

The CLI's commands (`commands.py` for the network's life, `files.py` for what
only reads or writes files) are glue around the library; what they have in
common is kept here once, so each stays a few lines.
"""

from __future__ import annotations

from typing import Optional

from pipenet.cli import output


class Exit(SystemExit):
    """Leave the command with an exit status (0 success, 1 wrong file or arguments, 2 rolled back,
    3 leftovers, 4 an expectation failed)."""

    @property
    def exit_code(self) -> int:
        return self.code


LABS: list = []  # the lab of the command's file: for locating a refusal in the file (cli.conflicts)


def fail(exc) -> None:
    """Report a PipenetError the way the CLI spec says, and exit with its status."""
    from pipenet.errors import Conflict, InvalidTopology, Leftovers

    if isinstance(exc, InvalidTopology):
        output.diagnostics(exc.diagnostics, exc.sources)
    elif isinstance(exc, Conflict):  # one cause a line, located in the file where it has a place
        from pipenet.cli.conflicts import show

        show(exc.problems, LABS[-1] if LABS else None)
    else:
        output.message(f"pipenet: {exc}")
    if isinstance(exc, Leftovers):  # exit 3: say exactly what is left, one line each
        for line in exc.remaining:
            output.message(f"  left: {line}")
    raise Exit(exc.exit_code)


def variables_of(var) -> dict:
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


def topology_arg(name: Optional[str], or_file: bool = False) -> None:
    """A topology named on the command line must be a name a topology can have: one line and exit 1
    otherwise (`..`, `.hidden`, `a/b` or an empty name would lead outside the state directory)."""
    import re

    if name is None or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}", name):
        return
    from pipenet.words import quoted

    output.message(f"pipenet: {quoted(name)} is not a topology name"
                   f"{' nor a .pn file' if or_file else ''} "
                   f"(a name starts with a letter or _, then letters, digits, _, - or .)")
    raise Exit(1)


def lab_of(file: str, var, parse: bool = True):
    """The lab of FILE (parsed now, so a wrong file is reported before anything else, unless `parse` is
    off: `up` and `plan` of an unchanged file are answered without parsing it)."""
    from pipenet import api
    from pipenet.errors import PipenetError

    lab = api.Lab(path=file, variables=variables_of(var))
    LABS.append(lab)
    if parse:
        try:
            lab.loaded
        except PipenetError as e:
            fail(e)
    return lab


def call(fn):
    """fn(), a PipenetError reported as the CLI spec says (Leftovers included: exit 3)."""
    from pipenet.errors import PipenetError

    try:
        return fn()
    except PipenetError as e:
        fail(e)
