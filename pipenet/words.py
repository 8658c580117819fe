"""How a count is said to the user: `1 step`, `2 steps`, `0 steps` (one place, so no message says
`1 steps`)."""

from __future__ import annotations


def counted(n: int, what: str) -> str:
    """`n` and `what`, in the plural unless `n` is one (`what` is a word that takes an s)."""
    return f"{n} {what}{'' if n == 1 else 's'}"
