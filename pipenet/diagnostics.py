"""Diagnostics: what is wrong, where, and how to fix it.

Every stage before the kernel (parser, expander, validation passes, planner
probes) reports problems as `Diagnostic` values instead of raising, so that a
file gets every error in one run. They are rendered the way compilers do:

    topo.pn:12:13: error: address 10.0.0.5 is outside bridge homeA's subnet 192.168.1.0/24
       12 |     address 10.0.0.5
          |             ^~~~~~~~
       hint: addresses on homeA must be in 192.168.1.0/24
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Mapping

from pipenet.source import Span, SourceFile


@dataclass(frozen=True, slots=True)
class Diagnostic:
    message: str
    span: Span
    hint: str | None = None
    severity: str = "error"

    def sort_key(self) -> tuple:
        return (self.span.file, self.span.line, self.span.column, self.message)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean `x`?' hint, or None when nothing is close."""
    found = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean `{found[0]}`?" if found else None


def render(diagnostics: Iterable[Diagnostic], sources: Mapping[str, SourceFile] | None = None) -> str:
    """Render diagnostics as `FILE:LINE:COL: error: MESSAGE` + source line + caret + hint."""
    out: list[str] = []
    sources = sources or {}
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        s = d.span
        where = f"{s.file}:{s.line}:{s.column}" if s.line > 0 else s.file  # line 0: the file as a whole
        out.append(f"{where}: {d.severity}: {d.message}")
        src = sources.get(s.file)
        if src is not None and s.line > 0:
            text = src.line(s.line).replace("\t", " ")
            width = (s.end_column - s.column) if s.end_line == s.line else len(text) - s.column + 1
            width = max(1, width)
            gutter = " " * len(str(s.line))
            out.append(f" {s.line} | {text}")
            out.append(f" {gutter} | {' ' * (s.column - 1)}^{'~' * (width - 1)}")
        if s.loop is not None:
            out.append(f"  note: {s.loop.describe()}")
        if d.hint:
            out.append(f"  hint: {d.hint}")
    return "\n".join(out)


def to_json(diagnostics: Iterable[Diagnostic]) -> list[dict]:
    return [
        {
            "severity": d.severity,
            "message": d.message,
            "file": d.span.file,
            "line": d.span.line,
            "column": d.span.column,
            "end_line": d.span.end_line,
            "end_column": d.span.end_column,
            "hint": d.hint,
            "loop": d.span.loop.describe() if d.span.loop else None,
        }
        for d in sorted(diagnostics, key=Diagnostic.sort_key)
    ]
