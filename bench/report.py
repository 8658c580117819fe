"""Write a benchmark's table into docs/performance.md, between its markers, with how it was made.

Each benchmark owns one section, delimited by `<!-- bench:NAME -->` and
`<!-- /bench:NAME -->`; everything between is replaced, so the published
figures are always the output of one run of the script, never edited by hand.
"""

from __future__ import annotations

import datetime
import os
import platform

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "performance.md")


def machine() -> str:
    return (f"{os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}, "
            f"{datetime.date.today().isoformat()}")


def write_section(name: str, command: str, body: str, path: str = DOC) -> None:
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise SystemExit(f"{path} has no {begin} ... {end} section")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    block = f"{begin}\nLast run ({machine()}):\n\n```\n{command}\n```\n\n{body.strip()}\n{end}"
    with open(path, "w") as f:
        f.write(head + block + tail)
