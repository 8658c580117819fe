"""Benchmark: parse, expand, validate, allocate and plan a generated file of N containers.

    .venv/bin/python bench/frontend.py [--write-docs] [N ...]        (default: 1000 3000 10000)

Two shapes per N: a literal file (every container written out, as a generator
script would) and the same topology written as one `for` loop. Reports the
median of 3 runs per stage and the peak memory (tracemalloc), so the target
of issue 2 (10,000 containers in under 2 s) is measured, not asserted.
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc

from pipenet.allocate import allocate
from pipenet.lang.load import analyse, gc_paused
from pipenet.lang.expand import expand
from pipenet.lang.parser import parse
from pipenet.plan.compile import compile_topology
from pipenet.plan.diff import diff
from pipenet.validate import validate, validate_allocated


#: Containers per bridge: a Linux bridge holds at most 1,023 ports, and pipenet refuses more at check time.
PER_BRIDGE = 1000


def _bridges(n: int) -> int:
    return max(1, -(-n // PER_BRIDGE))


def literal(n: int) -> str:
    lines = [f"bridge br{b} {{ address 10.{b}.0.1/16 }}" for b in range(_bridges(n))]
    lines.append("defaults container { dns 10.1.1.1 }")
    for i in range(n):
        b = i // PER_BRIDGE
        lines.append(f"container c{i} {{\n    net br{b}\n    route 10.200.0.0/16 via 10.{b}.0.1\n"
                     f"    expose 80/tcp\n}}")
    return "\n".join(lines) + "\n"


def looped(n: int) -> str:
    full, rest = divmod(n, PER_BRIDGE)
    body = ("            net br${b}\n            route 10.200.0.0/16 via 10.${b}.0.1\n"
            "            expose 80/tcp\n")
    text = "defaults container { dns 10.1.1.1 }\n"
    if full:
        text += (f"for b in 0..{full - 1} {{\n    bridge br${{b}} {{ address 10.${{b}}.0.1/16 }}\n"
                 f"    for i in 1..{PER_BRIDGE} {{\n        container c${{b * {PER_BRIDGE} + i}} {{\n"
                 f"{body}        }}\n    }}\n}}\n")
    if rest:
        text += (f"let b = {full}\nbridge br${{b}} {{ address 10.${{b}}.0.1/16 }}\n"
                 f"for i in 1..{rest} {{\n        container c${{b * {PER_BRIDGE} + i}} {{\n{body}        }}\n}}\n")
    return text


def run_once(text: str) -> dict[str, float]:
    with gc_paused():  # as pipenet.lang.load.analyse runs the stages
        return _stages(text)


def _stages(text: str) -> dict[str, float]:
    t0 = time.perf_counter()
    tree, diags = parse(text, "bench.pn")
    t1 = time.perf_counter()
    topo, d2 = expand(tree, "bench.pn", "bench")
    t2 = time.perf_counter()
    d3 = validate(topo)
    topo, d4 = allocate(topo, {})
    d5 = validate_allocated(topo)
    t3 = time.perf_counter()
    assert not (diags or d2 or d3 or d4 or d5), (diags + d2 + d3 + d4 + d5)[:3]
    ops, _ns = compile_topology(topo)
    plan = diff(ops, [])
    t4 = time.perf_counter()
    assert len(plan.steps) > len(topo.containers)
    return {"parse": t1 - t0, "expand": t2 - t1, "validate+allocate": t3 - t2, "plan": t4 - t3, "total": t4 - t0}


def main(sizes: list[int], write_docs: bool = False) -> None:
    print(f"{'shape':8} {'N':>7} {'parse':>8} {'expand':>8} {'valid+alloc':>12} {'plan':>8} {'total':>8} "
          f"{'per container':>14} {'peak MB':>8}")
    md = ["| shape | N | parse | expand | validate + allocate | plan | total | per container | peak (traced) |",
          "|---|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        for shape, make in (("literal", literal), ("loop", looped)):
            text = make(n)
            runs = [run_once(text) for _ in range(3)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            topo, diags, _ = analyse(text, "bench.pn")
            assert not diags and len(topo.containers) == n
            tracemalloc.start()
            run_once(text)
            peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            print(f"{shape:8} {n:>7} {med['parse']:>8.3f} {med['expand']:>8.3f} {med['validate+allocate']:>12.3f} "
                  f"{med['plan']:>8.3f} {med['total']:>8.3f} {1e6 * med['total'] / n:>11.0f} us {peak:>8.1f}")
            md.append(f"| {shape} | {n:,} | {med['parse']:.3f} s | {med['expand']:.3f} s | {med['validate+allocate']:.3f} s | "
                      f"{med['plan']:.3f} s | {med['total']:.3f} s | {1e6 * med['total'] / n:.0f} us | {peak:.1f} MB |")
    if write_docs:
        from report import write_section

        write_section("frontend", ".venv/bin/python bench/frontend.py " + " ".join(sys.argv[1:]), "\n".join(md))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--write-docs"]
    main([int(a) for a in args] or [1000, 3000, 10000], "--write-docs" in sys.argv[1:])
