"""How a count and a name from the user are said back: `1 step`, `2 steps`, `0 steps` (one place, so no
message says `1 steps`), and a name as `name` (one way to quote, whichever command reads it)."""

from __future__ import annotations


def counted(n: int, what: str) -> str:
    """`n` and `what`, in the plural unless `n` is one (`what` is a word that takes an s); thousands
    separated, as the tables write them (1,200 containers)."""
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def quoted(name: str) -> str:
    """A name the user gave, in backquotes as messages show names; one that could not be read back
    that way (a line break, a control character, or too long) as Python's repr of its first 60
    characters; none at all as "an empty name"."""
    if not name:
        return "an empty name"
    return f"`{name}`" if len(name) <= 60 and name.isprintable() else repr(name[:60])
