"""Where things come from: source files, spans and loop iterations.

Every IR node carries a `Span` so that any stage, however late, can point at
the token that caused a problem. A node made inside a `for` loop also carries
the chain of iterations that made it (`LoopFrame`), so a message can say
"in iteration n=3 of the loop at line 12" as well as where the template is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoopFrame:
    """One iteration of one `for` loop: which variable had which value."""

    var: str
    value: int
    line: int
    column: int
    parent: LoopFrame | None = None

    def describe(self) -> str:
        here = f"in iteration {self.var}={self.value} of the loop at line {self.line}"
        return here if self.parent is None else f"{here}, {self.parent.describe()}"


@dataclass(frozen=True, slots=True)
class Span:
    """A range of source text: 1-based line and column, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    loop: LoopFrame | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of `other`."""
        return Span(self.file, self.line, self.column, other.end_line, other.end_column, self.loop)

    def shifted(self, offset: int, length: int) -> Span:
        """A sub-span `length` characters long starting `offset` characters in (same line)."""
        col = self.column + offset
        return Span(self.file, self.line, col, self.line, col + max(length, 1), self.loop)


#: A span for things that have no place in any file (defaults, generated nodes).
NOWHERE = Span("<builtin>", 0, 0, 0, 0)


@dataclass(frozen=True)
class SourceFile:
    """The text of one topology file, kept so diagnostics can quote lines."""

    path: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        if 1 <= number <= len(lines):
            return lines[number - 1]
        return ""
