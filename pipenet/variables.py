"""Variables given on the command line: `--var NAME=VALUE`, used as `${NAME}` in the file (pipework's
habit of passing a container's PID or a name from the shell).

The command line sets `CURRENT` once, before the file is read; the front end
(`pipenet.lang.load.analyse`) uses it wherever the file is analysed, and the
digest of `up`'s inputs (`pipenet.engine.inputs`) includes it, so a changed
value is never answered from an old `up`. A command-line variable overrides a
top-level `let` of the same name (so a file can give a default); loop
variables and `let`s inside a loop shadow it. This module imports nothing of
pipenet's, so the no-op `up` path stays cheap.
"""

from __future__ import annotations

import re

#: name -> value as given; set by the command line, read by the front end and the inputs digest
CURRENT: dict[str, str] = {}

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"-?[0-9]+\Z")
#: A value may be this long; a number at most MAX_DIGITS digits (as a number in the file).
MAX_VALUE = 4096
MAX_DIGITS = 20


class BadVariable(ValueError):
    """A `--var` argument that is not NAME=VALUE; the message is one line for the person."""


def parse(items) -> dict[str, str]:
    """`["PID=1234", ...]` to `{"PID": "1234"}`, or BadVariable naming the bad argument."""
    out: dict[str, str] = {}
    for item in items or ():
        name, eq, value = item.partition("=")
        shown = item if len(item) <= 60 and item.isprintable() else repr(item[:60])
        if not eq:
            raise BadVariable(f"--var {shown}: expected NAME=VALUE, e.g. --var PID=1234")
        if not NAME_RE.match(name):
            raise BadVariable(f"--var {shown}: `{name[:60]}` is not a variable name "
                              f"(a letter or _ first, then letters, digits or _)")
        if name in out:
            raise BadVariable(f"--var {name} is given twice")
        if _INT.match(value) and len(value.lstrip("-").lstrip("0")) > MAX_DIGITS:
            raise BadVariable(f"--var {name}: a number of {len(value.lstrip('-').lstrip('0')):,} digits; "
                              f"pipenet takes at most {MAX_DIGITS}")
        if len(value) > MAX_VALUE or not value.isprintable():
            raise BadVariable(f"--var {name}: the value must be printable text of at most {MAX_VALUE} characters")
        out[name] = value
    return out


def typed(value: str) -> int | str:
    """The value as the file sees it: a whole number is a number (usable in arithmetic), else text."""
    return int(value) if _INT.match(value) else value
