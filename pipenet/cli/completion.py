"""Shell completion: the script for bash, zsh or fish, and what each argument completes to.

Why here: typer (click) does the protocol: the script the shell sources
calls `pipenet` again with `_PIPENET_COMPLETE=complete_bash` (or `_zsh`,
`_fish`) and the words typed so far, and typer answers with the commands
and options of the app's own definition. What only pipenet knows is asked
of the library: the topologies that are up (as `pipenet ls` lists them,
sandboxes included) and their nodes (of the `-t` topology when one is
given). A completer never fails: a record this user cannot read, or a
state directory that is not there, completes to nothing more.
"""

from __future__ import annotations

import os

#: the shells `pipenet completion SHELL` writes a script for
SHELLS = ("bash", "zsh", "fish")
PROG = "pipenet"
VAR = "_PIPENET_COMPLETE"


def script(name: str) -> str:
    """The completion script for the shell `name` (what `pipenet --install-completion` installs): typer's
    own completion class for that shell, given the app."""
    if name not in SHELLS:
        from pipenet.errors import UsageError

        raise UsageError(f"completion is for {', '.join(SHELLS)}, not {name}")
    from typer import _completion_classes as classes
    from typer.main import get_command

    from pipenet.cli.app import app

    kind = {"bash": classes.BashComplete, "zsh": classes.ZshComplete, "fish": classes.FishComplete}[name]
    return kind(get_command(app), {}, PROG, VAR).source().strip()


def shells(incomplete: str) -> list[str]:
    return [s for s in SHELLS if s.startswith(incomplete)]


def pn_files(incomplete: str) -> list[str]:
    """`.pn` files, and directories to look into, whose path starts with what was typed."""
    directory, prefix = os.path.split(incomplete)
    try:
        entries = sorted(os.scandir(directory or "."), key=lambda e: e.name)
    except OSError:
        return []
    out = []
    for e in entries:
        if not e.name.startswith(prefix) or (e.name.startswith(".") and not prefix.startswith(".")):
            continue
        path = os.path.join(directory, e.name)
        try:
            if e.is_dir():
                out.append(path + "/")
            elif e.name.endswith(".pn"):
                out.append(path)
        except OSError:
            continue
    return out


def topologies(incomplete: str) -> list[str]:
    """The topologies that are up, here and in this user's sandboxes."""
    try:
        from pipenet import api

        return [n for n in api.names_up() if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - a completion never fails the shell
        return []


def file_or_topology(incomplete: str) -> list[str]:
    """`down`: a topology that is up, or a .pn file."""
    return topologies(incomplete) + pn_files(incomplete)


def nodes(ctx, incomplete: str) -> list[str]:
    """The nodes of the `-t` topology when given, else of every topology up."""
    try:
        from pipenet import api

        return [n for n in api.nodes_up(ctx.params.get("topology")) if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - a completion never fails the shell
        return []
