"""Where the CLI's words go: reports on stdout, messages on stderr, colour only on a terminal.

Colour is off when the stream is not a terminal or NO_COLOR is set (rich
honours both). `--json` commands print exactly one JSON document on stdout.
"""

from __future__ import annotations

import json
import os
import sys
from functools import lru_cache

from pipenet.words import counted


#: The width of tables written to a file or a pipe: no terminal to fit, so nothing is cut.
UNBOUNDED = 100_000


@lru_cache(maxsize=2)
def console(stderr: bool = False):
    """rich's console for stdout or stderr: on a terminal, its width; elsewhere (a file, a pipe) no limit,
    so a table is printed whole instead of cut at 80 columns. COLUMNS, when it is a width, still decides;
    one that is not (0, -3, abc) is not taken for one."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    for name in ("COLUMNS", "LINES"):  # (rich reads them again itself, and int("²") raised in there)
        value = os.environ.get(name)
        if value is not None and not (value.isascii() and value.isdigit() and int(value) > 0):
            del os.environ[name]  # (not a size: as if unset, here and in what the command runs)
    columns = os.environ.get("COLUMNS", "")
    if columns:
        width = int(columns)
    elif stream.isatty():  # (rich took COLUMNS=0 for a width: it printed nothing)
        try:
            width = os.get_terminal_size(stream.fileno()).columns or 80
        except (OSError, ValueError):
            width = 80
    else:
        width = UNBOUNDED
    # (emoji off: an IPv6 address like fd00::100:80 holds `:100:`, which rich would print as an emoji)
    return Console(stderr=stderr, highlight=False, emoji=False, no_color=bool(os.environ.get("NO_COLOR")),
                   width=width)


def message(text: str) -> None:
    """A message for the person (stderr), printed without rich markup interpretation."""
    sys.stderr.write(text + ("" if text.endswith("\n") else "\n"))
    sys.stderr.flush()


def emit_json(doc) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    sys.stdout.flush()


def diagnostics(diags, sources) -> None:
    from pipenet.diagnostics import render

    if diags:
        message(render(diags, sources))
        message(f"{counted(len(diags), 'error')}; nothing was changed")
