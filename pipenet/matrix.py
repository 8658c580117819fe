"""An all-pairs statement's result as text: a matrix when it fits a terminal, else the failing pairs.

Like Mininet's `pingall`, but as a grid a person reads at a glance: a row per source, a column per
target (names written downwards above their column), `.` a pair that passed, `X` one that failed, `-` a
pair never probed (a node and itself, two nodes of one network stack). A node cut off shows as a full
row and a full column of `X`. A statement too big for that (more than MAX_ROWS sources, or columns wider
than the terminal) is told by its failing pairs instead, the sources that failed the same targets on
one line.

Its own module, below the results it reads (a `pipenet.results.PairMatrix`, by its fields), because
both the CLI's table and the pytest plugin's failure message show it.
"""

from __future__ import annotations

MAX_ROWS = 40
#: the width a matrix may take when the output is a file or a pipe (no terminal to ask)
PIPE_WIDTH = 120
#: names shown in a line of failing pairs before "and N more" (--json has them all)
MAX_NAMES = 12


def fits(m, width: int) -> bool:
    return len(m.sources) <= MAX_ROWS and _label_width(m) + 2 * len(m.targets) <= width


def grid(m, fail: str = "X") -> list[str]:
    """The matrix: column names downwards, then a row per source (`fail`: how a failed pair is written)."""
    pad = " " * _label_width(m)
    tall = max(len(t) for t in m.targets)
    head = [pad + " ".join(t.rjust(tall)[i] for t in m.targets).rstrip() for i in range(tall)]
    rows = []
    for s in m.sources:
        cells = ("-" if s == t or (m.probed and (s, t) not in m.probed) else fail if m.failing(s, t) else "."
                 for t in m.targets)
        rows.append(s.ljust(len(pad)) + " ".join(cells))
    return head + rows


def failing(m) -> list[str]:
    """The failing pairs, grouped: each line the sources that failed exactly the same targets."""
    groups: dict[tuple, list[str]] = {}
    for s, ts in m.failures.items():
        groups.setdefault(tuple(ts), []).append(s)
    out = []
    for ts, ss in groups.items():
        every = len(ts) == len(m.targets) - (ss[0] in m.targets) and len(ss) == 1
        out.append(f"  {_names(ss)} -> {'every target' if every else _names(list(ts))}")
    return out


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    if len(names) > MAX_NAMES:
        shown += f" and {len(names) - MAX_NAMES} more"
    return shown


def _label_width(m) -> int:
    return max(len(s) for s in m.sources) + 2
