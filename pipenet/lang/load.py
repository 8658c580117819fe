"""The whole front end in one call: text -> parse -> expand -> validate -> allocate."""

from __future__ import annotations

import os

from pipenet.diagnostics import Diagnostic
from pipenet.errors import InvalidTopology
from pipenet.gcpause import gc_paused
from pipenet.ir import Topology
from pipenet.source import SourceFile, Span

#: Files larger than this are refused before parsing (a topology is text a person wrote or generated).
MAX_FILE_BYTES = 32 * 1024 * 1024


def analyse(text: str, file: str = "<text>", resolved: dict | None = None, variables: dict[str, str] | None = None
            ) -> tuple[Topology | None, list[Diagnostic], dict[str, SourceFile]]:
    """Run every front-end stage, collecting all diagnostics; never raises on bad input.

    `resolved` maps `address auto` bridges to the subnets the engine chose,
    so their containers get addresses too. `variables` are `--var` values
    (default: those the command line set, `pipenet.variables.CURRENT`).
    """
    from pipenet import variables as cli_vars

    given = cli_vars.CURRENT if variables is None else variables
    with gc_paused():
        return _analyse(text, file, resolved, {k: cli_vars.typed(v) for k, v in given.items()})


def _analyse(text: str, file: str, resolved: dict | None, variables: dict):
    from pipenet.allocate import allocate
    from pipenet.lang.expand import expand
    from pipenet.lang.parser import broken_lets, parse
    from pipenet.validate import validate, validate_allocated

    sources = {file: SourceFile(file, text)}
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        return None, [Diagnostic("the file contains a NUL byte; it is not a text topology",
                                 Span(file, line, 1, line, 2), "is this a binary file?")], sources
    tree, diags = parse(text, file)
    if tree is None:
        return None, diags, sources
    stem = os.path.basename(file)
    stem = stem[:-3] if stem.endswith(".pn") else stem
    topo, more = expand(tree, file, stem, variables)
    broken = broken_lets(text, diags)  # (a `let` that could not be read defines nothing: not said again)
    diags += [d for d in more if not any(d.message == f"unknown variable `{n}`" for n in broken)]
    diags += validate(topo)
    topo, more = allocate(topo, resolved or {})
    diags += more
    diags += validate_allocated(topo)
    return topo, _dedupe(diags), sources


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.span.file, d.span.line, d.span.column, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def read(path: str) -> str:
    """The text of a topology file: at most MAX_FILE_BYTES of UTF-8, whatever kind of file `path` is
    (a directory, a device like /dev/zero or a pipe is refused or cut off, never read without end)."""
    import stat

    def refuse(why: str) -> InvalidTopology:
        return InvalidTopology([Diagnostic(f"cannot read {path}: {why}", Span(path, 0, 0, 0, 0))])

    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise refuse("it is a directory; name a .pn file in it")
            data = f.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise refuse("it is a directory; name a .pn file in it") from None
    except OSError as e:
        raise refuse(e.strerror or str(e)) from None
    if len(data) > MAX_FILE_BYTES:
        size = st.st_size if stat.S_ISREG(st.st_mode) else None
        what = f"the file is {size:,} bytes" if size else "the file goes on past that"
        raise InvalidTopology([Diagnostic(
            f"pipenet reads topology files of at most {MAX_FILE_BYTES:,} bytes; {what}",
            Span(path, 1, 1, 1, 2), "generate a loop instead of a huge file")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InvalidTopology([Diagnostic("the file is not UTF-8 text", Span(path, line, 1, line, 2),
                                          "is this a binary file?")]) from None


def load_text(text: str, file: str = "<text>", resolved: dict | None = None) -> Topology:
    topo, diags, sources = analyse(text, file, resolved)
    if diags or topo is None:
        raise InvalidTopology(diags, sources)
    return topo


def load(path: str, resolved: dict | None = None) -> Topology:
    return load_text(read(path), path, resolved)
