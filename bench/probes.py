"""Benchmark: `pipenet test` of a thousand expectations, run after run, in a private namespace.

    .venv/bin/python bench/probes.py [--nodes 100] [--peers 10] [--runs 10] [--ablate 2]
                                     [--all-pairs 100] [--pair-runs 3] [--json OUT] [--write-docs]

The lab of issue 20: N containers on one bridge, each expecting to reach the
PEERS next ones (N x PEERS ping expectations). It measures, for each of
--runs consecutive `pipenet test --json` of the live lab:
  passed / failed   every one must pass;
  wall              the command's wall time (Python start-up, reading the
                    file and the record included);
  runner            the time the probes themselves took (the report's `seconds`);
  CPU               user + system time of the command;
  overflows         how many times the kernel's neighbour table refused an
                    entry meanwhile (its `table_fulls` counters, machine-wide).
Then with one container's link cut (`ip link set eth0 down` inside it): the
failed expectations must be exactly those it is the source or the target of.
Then, with --ablate, the same runs with the neighbour footprint turned off
(the probes no longer give back the neighbour entries they made), which is
what issue 20 was: the table overflows and probes fail with "no echo reply".
With --all-pairs N (issue 18), a second lab: N containers on one bridge and
one statement, `expect all of c* can reach all of c*` (N x (N - 1) pings),
tested --pair-runs times (every pair must pass, the same answers each run),
then with the middle container's link cut (exactly its row and its column
must fail). --runs 0 measures only that, --all-pairs 0 only the first.
Everything runs inside a holder's private namespaces; the machine's network
is never touched (the neighbour table itself is the machine's: see
docs/how-it-works.md, "Probes").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = sys.executable
CUT = "c53"

# the runner with the footprint off: every probe keeps the neighbour entries it made (bench only)
ABLATED = ("import sys\nfrom pipenet.expect import footprint\nfootprint.Footprint.take = lambda self, *a: []\n"
           "from pipenet.cli.dispatch import main\nsys.argv = ['pipenet', 'test', sys.argv[1], '--json']\nmain()\n")


def topology(n: int, peers: int) -> str:
    target = f"c${{(i + j) % {n} + 2}}"
    return (f"topology e1k\nbridge e1 {{ address 10.63.0.1/16 }}\n"
            f"for i in 2..{n + 1} {{ container c${{i}} {{ net e1 }} }}\n"
            f"for i in 2..{n + 1} {{ for j in 0..{peers - 1} {{ expect c${{i}} can reach {target} }} }}\n")


def all_pairs_topology(n: int) -> str:
    return (f"topology pingall\nbridge e2 {{ address 10.64.0.1/16 }}\n"
            f"for i in 1..{n} {{ container c${{i}} {{ net e2 }} }}\n"
            f"expect all of c* can reach all of c*\n")


def overflows() -> int:
    sys.path.insert(0, REPO)
    from pipenet.expect.footprint import table_overflows

    return table_overflows() or 0


def one_run(argv: list[str]) -> dict:
    before = overflows()
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    doc = json.loads(out)
    failed = sorted(tuple(re.fullmatch(r"(\S+) can reach (\S+)", x["expectation"]).groups())
                    for x in doc["results"] if not x["passed"])
    return {"passed": doc["passed"], "failed": doc["failed"], "wall": wall, "runner": doc["seconds"],
            "cpu": usage.ru_utime + usage.ru_stime, "overflows": overflows() - before, "failed_pairs": failed,
            "exit": os.waitstatus_to_exitcode(status)}


def measured(name: str, text: str, runs: int, cut: str) -> tuple[dict, str]:
    """Bring the lab up, run its `pipenet test --json` `runs` times, then twice with `cut`'s link down (left
    down): {runs, cut}, and the file's path."""
    path = os.path.join(tempfile.mkdtemp(prefix="pn-probes-"), f"{name}.pn")
    with open(path, "w") as f:
        f.write(text)
    subprocess.run([PY, "-m", "pipenet", "up", path], check=True, stdout=subprocess.DEVNULL)
    time.sleep(2)  # the kernel settles the new ports (IPv6 configuration, bridge states)
    test = [PY, "-m", "pipenet", "test", path, "--json"]
    out = {"runs": [one_run(test) for _ in range(runs)]}
    subprocess.run([PY, "-m", "pipenet", "exec", cut, "--", "ip", "link", "set", "eth0", "down"], check=True)
    out["cut"] = [one_run(test) for _ in range(2)]
    return out, path


def inside_all_pairs(n: int, runs: int) -> dict:
    """The all-pairs lab: runs of its one statement, then with the middle container cut off."""
    cut = f"c{n // 2 + 1}"
    out, _ = measured("pingall", all_pairs_topology(n), runs, cut)
    names = [f"c{i}" for i in range(1, n + 1)]
    out.update(nodes=n, cut_node=cut,
               cut_expected=sorted((s, t) for s in names for t in names if s != t and cut in (s, t)))
    subprocess.run([PY, "-m", "pipenet", "down", "pingall"], check=True, stdout=subprocess.DEVNULL)
    return out


def inside(n: int, peers: int, runs: int, ablate: int) -> dict:
    if not runs:
        return {}
    out, path = measured("e1k", topology(n, peers), runs, CUT)
    out.update(nodes=n, peers=peers)
    pairs = [(f"c{i}", f"c{(i + j) % n + 2}") for i in range(2, n + 2) for j in range(peers)]
    out["cut_expected"] = sorted(p for p in pairs if CUT in p)
    subprocess.run([PY, "-m", "pipenet", "exec", CUT, "--", "ip", "link", "set", "eth0", "up"], check=True)
    out["ablated"] = []
    for _ in range(ablate):
        time.sleep(6)  # entries older than 5 s can be reclaimed: each ablated run starts from a fair table
        out["ablated"].append(one_run([PY, "-c", ABLATED, path]))
    subprocess.run([PY, "-m", "pipenet", "down", "e1k"], check=True, stdout=subprocess.DEVNULL)
    return out


def run_rows(runs: list[dict]) -> list[str]:
    lines = ["| run | passed | failed | wall | runner | CPU | neighbour-table overflows |",
             "|---|---|---|---|---|---|---|"]
    for i, x in enumerate(runs, 1):
        lines.append(f"| {i} | {x['passed']} | {x['failed']} | {x['wall']:.2f} s | {x['runner']:.2f} s | "
                     f"{x['cpu']:.2f} s | {x['overflows']} |")
    return lines


def cut_rows(r: dict, exactly: str) -> list[str]:
    lines = [f"| run | passed | failed | {exactly} | wall |", "|---|---|---|---|---|"]
    for i, x in enumerate(r["cut"], 1):
        exact = "yes" if [tuple(p) for p in x["failed_pairs"]] == [tuple(p) for p in r["cut_expected"]] else "NO"
        lines.append(f"| {i} | {x['passed']} | {x['failed']} | {exact} | {x['wall']:.2f} s |")
    return lines


def table(r: dict) -> str:
    total = r["nodes"] * r["peers"]
    lines = [f"{r['nodes']} containers on one bridge, {total:,} ping expectations, "
             f"{len(r['runs'])} consecutive runs of `pipenet test --json`:", "", *run_rows(r["runs"])]
    walls = [x["wall"] for x in r["runs"]]
    runners = [x["runner"] for x in r["runs"]]
    lines += ["", f"Median: {statistics.median(walls):.2f} s wall, {statistics.median(runners):.2f} s of probing "
                  f"({total / statistics.median(runners):,.0f} expectations per second); "
                  f"{sum(x['failed'] for x in r['runs'])} failures in {len(r['runs']) * total:,} probes.", "",
              f"With {CUT}'s link cut ({len(r['cut_expected'])} expectations have it as source or target):", "",
              *cut_rows(r, "exactly those of the cut node")]
    if r["ablated"]:
        lines += ["", "The same runs with the neighbour footprint turned off (issue 20's cause):", "",
                  "| run | passed | failed | wall | neighbour-table overflows |", "|---|---|---|---|---|"]
        for i, x in enumerate(r["ablated"], 1):
            lines.append(f"| {i} | {x['passed']} | {x['failed']} | {x['wall']:.2f} s | {x['overflows']} |")
    return "\n".join(lines)


def all_pairs_table(r: dict) -> str:
    n = r["nodes"]
    total = n * (n - 1)
    lines = [f"{n} containers on one bridge, `expect all of c* can reach all of c*`: {total:,} pairs, "
             f"{len(r['runs'])} consecutive runs of `pipenet test --json`:", "", *run_rows(r["runs"])]
    walls = [x["wall"] for x in r["runs"]]
    same = all(x["failed_pairs"] == r["runs"][0]["failed_pairs"] for x in r["runs"])
    lines += ["", f"Median: {statistics.median(walls):.2f} s wall "
                  f"({total / statistics.median(walls):,.0f} pairs per second, the whole command); "
                  f"{sum(x['failed'] for x in r['runs'])} failures in {len(r['runs']) * total:,} probes; "
                  f"the same answers every run: {'yes' if same else 'NO'}.", "",
              f"With {r['cut_node']}'s link cut (its row and its column: {len(r['cut_expected'])} pairs):", "",
              *cut_rows(r, "exactly its row and column")]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--peers", type=int, default=10)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--ablate", type=int, default=2, help="runs with the neighbour footprint off")
    ap.add_argument("--all-pairs", type=int, default=100, help="containers of the all-pairs lab (0: none)")
    ap.add_argument("--pair-runs", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--write-docs", action="store_true", help="put the table into docs/performance.md")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        r = inside(a.nodes, a.peers, a.runs, a.ablate)
        if a.all_pairs:
            r["all_pairs"] = inside_all_pairs(a.all_pairs, a.pair_runs)
        print(json.dumps(r))
        return
    sys.path.insert(0, REPO)
    from tests.harness import Netns

    subprocess.run([PY, "-m", "compileall", "-q", os.path.join(REPO, "pipenet")], check=True)
    ns = Netns()
    try:
        r = ns.run([PY, os.path.abspath(__file__), "--inside", "--nodes", str(a.nodes), "--peers", str(a.peers),
                    "--runs", str(a.runs), "--ablate", str(a.ablate), "--all-pairs", str(a.all_pairs),
                    "--pair-runs", str(a.pair_runs)], timeout=3600)
        sys.stderr.write(r.stderr)
        results = json.loads(r.stdout)
    finally:
        ns.close()
    tables = {}
    if a.runs:
        tables["probes"] = table(results)
    if a.all_pairs:
        tables["probes-all-pairs"] = all_pairs_table(results["all_pairs"])
    print("\n\n".join(tables.values()))
    if a.write_docs:
        from report import write_section

        args = [x for i, x in enumerate(sys.argv[1:]) if x != "--json" and sys.argv[i] != "--json"]
        for name, body in tables.items():
            write_section(name, ".venv/bin/python bench/probes.py " + " ".join(args), body)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
