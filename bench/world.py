"""The frame of a bench/ script: its measurements run inside a private world, its table published.

A script runs itself again with `--inside` in a private network and mount
namespace (the test harness's holder, so the machine's network is never
touched), after compiling pipenet's bytecode as an installed copy has it
(PYTHONDONTWRITEBYTECODE would otherwise make every command compile pipenet
from source); it prints its table, and writes it into docs/performance.md
(`--write-docs`) and its figures as JSON (`--json`) when asked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure_inside(script: str, args: list[str], timeout: float = 7200) -> dict:
    """`script --inside ARGS` run in a fresh private world; the JSON it prints."""
    sys.path.insert(0, REPO)
    from tests.harness import Netns

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "pipenet")], check=True)
    ns = Netns()
    try:
        r = ns.run([sys.executable, os.path.abspath(script), "--inside", *args], timeout=timeout)
        sys.stderr.write(r.stderr)
        return json.loads(r.stdout)
    finally:
        ns.close()


def publish(name: str, table: str, results: dict, write_docs: bool, json_path: str | None,
            section: str | None = None) -> None:
    """Print the table; with `write_docs`, put it into the page's `bench:SECTION` section (`bench:NAME`
    by default) with the command that made it (`bench/NAME.py` without --json); with `json_path`, write
    the figures there."""
    print(table)
    if write_docs:
        from report import write_section

        argv = sys.argv[1:]
        args = [x for i, x in enumerate(argv) if x != "--json" and (i == 0 or argv[i - 1] != "--json")]
        write_section(section or name, f".venv/bin/python bench/{name}.py " + " ".join(args), table)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)
