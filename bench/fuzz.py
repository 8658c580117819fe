"""Fuzz pipenet's input handling: many generated files through check, plan and up.

    .venv/bin/python bench/fuzz.py [--count 100000] [--seed 1] [--report]

Each input is a mutation of a bundled example (characters or tokens inserted,
deleted, replaced, lines duplicated or shuffled), a soup of the language's
words, or random bytes. Every input goes through the front end (`check`); one
that checks clean is compiled and planned (`plan`), applied to the recording
kernel and brought down again (`up`, `down`). Any exception other than a
reported diagnostic is a failure, printed with its seed and input.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pipenet.backends.recording import RecordingKernel  # noqa: E402
from pipenet.diagnostics import render  # noqa: E402
from pipenet.engine.executor import execute  # noqa: E402
from pipenet.engine.journal import Journal  # noqa: E402
from pipenet.errors import PipenetError  # noqa: E402
from pipenet.lang.load import analyse  # noqa: E402
from pipenet.plan.compile import compile_topology  # noqa: E402
from pipenet.plan.diff import diff  # noqa: E402

EXAMPLES = [open(p).read() for p in sorted(glob.glob(os.path.join(HERE, "..", "examples", "*.pn")))]
WORDS = ["bridge", "container", "p2p", "--", "{", "}", ";", "\n", "net", "address", "10.0.0.1/24", "${n}", "for",
         "in", "1..3", "let", "=", "route", "via", "default", "expect", "can", "reach", "host", "eth0", "a:eth0",
         "publish", "8080:80", "interface", "on", "dummy", "link", "as", '"x"', "run", "mtu", "0", "icc", "off",
         "masquerade", "out", "hosts", "auto", "defaults", "pool", "external", "macvlan", "of", "vlan", "shape",
         "rate", "10mbit", "delay", "attach", "pid", "1", "dns", "8.8.8.8", "expose", "80/tcp", "publish-all",
         "${", "}", "999999999999999999", "../x", "\0", "\xff", "é", "#", "topology", "fd00::1/64", "hostname",
         "host-name", "vethx", '"a\\qb\\n"', "9" * 5000, "1.5" + "0" * 400 + "ms", "${PID}"]
ALPHABET = "abcxyz019 .:/-_${}+*()\"\\#;\n=%\t@!'"


def generate(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        src = rng.choice(EXAMPLES)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randint(0, len(src))
            if op < 0.3:
                src = src[:pos] + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6))) + src[pos:]
            elif op < 0.55:
                src = src[:pos] + src[pos + rng.randint(1, 40):]
            elif op < 0.8:
                src = src[:pos] + " " + rng.choice(WORDS) + " " + src[pos:]
            else:
                lines = src.split("\n")
                i = rng.randrange(len(lines))
                lines.insert(rng.randrange(len(lines) + 1), lines[i])
                src = "\n".join(lines)
        return src
    if kind < 0.9:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 60)))
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))).decode("latin-1")


class Stats:
    def __init__(self):
        self.inputs = self.clean = self.planned = self.applied = 0


def one(text: str, stats: Stats, tmpdir: str) -> None:
    topo, diags, sources = analyse(text, "fuzz.pn")
    render(diags, sources)
    stats.inputs += 1
    if diags or topo is None:
        assert diags, "no topology and no diagnostic"
        return
    stats.clean += 1
    ops, _ns = compile_topology(topo)
    plan = diff(ops, [])
    stats.planned += 1
    k = RecordingKernel(features={"macvlan", "tbf", "dummy", "vlan", "netem"})
    before = k.snapshot()
    try:
        execute(plan, k, Journal(os.path.join(tmpdir, "journal")), None)
    except PipenetError:
        assert k.snapshot() == before, "a failed up left something behind"
        return
    down = diff([], plan.final)
    execute(down, k, Journal(os.path.join(tmpdir, "journal")), None)
    assert k.snapshot() == before, "down left something behind"
    stats.applied += 1


def run(count: int, seed: int, report: bool = False) -> Stats:
    import tempfile

    rng = random.Random(seed)
    stats = Stats()
    tmpdir = tempfile.mkdtemp(prefix="pipenet-fuzz-")
    t0 = time.perf_counter()
    for i in range(count):
        text = generate(rng)
        try:
            one(text, stats, tmpdir)
        except Exception:
            print(f"FAILED at input {i} (seed {seed}):\n{text!r}\n{traceback.format_exc()}")
            raise
        if report and i and i % 10000 == 0:
            print(f"{i} inputs, {stats.clean} clean, {stats.applied} applied, {time.perf_counter() - t0:.0f} s",
                  flush=True)
    return stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    s = run(a.count, a.seed, a.report)
    print(f"{s.inputs} inputs fuzzed in {time.perf_counter() - t0:.0f} s: {s.inputs - s.clean} rejected with "
          f"diagnostics, {s.clean} clean; {s.planned} planned, {s.applied} applied and taken down on the "
          f"recording kernel; no traceback")


if __name__ == "__main__":
    main()
