"""Benchmark: the no-op `up` and `plan` of a converged topology, live refresh included (issue 18).

    .venv/bin/python bench/noop.py [--sizes 1000,4000] [--runs 5] [--json OUT] [--write-docs]

For N containers on ceil(N/1000) bridges (a Linux bridge holds at most
1,023 ports; each container as in bench/engine.py: a namespace, a veth port,
an address, a default route and its /etc/netns files) it brings the topology
up once, waits until the machine is idle, measures the first no-op `up`
after it (`first`: with the memo `up` leaves from 2,000 containers on,
`engine.vouch`), then measures, median of --runs:
  noop    `pipenet up` of the unchanged file (the CLI, Python start-up included):
          the digest of its inputs matches, and every recorded change is
          checked against the live system (every namespace read) before
          "nothing to change";
  plan    `pipenet plan` of the same unchanged file (the same live check);
(with the CPU time of `noop`, both of its processes), and, in one process,
the split of that work (median of --runs):
  digest  the inputs' digest compared with the recorded one;
  record  the record's JSON read;
  live    its operations made and checked against the live system, every
          namespace read (links, addresses, routes): `live.all_live`, shared
          by two processes past 1,500 operations, as `up` does it, with the
          memo of the last check (`engine.verified`: a namespace whose dumps
          are byte for byte as then is read but not decoded or checked again;
          the host's bridge ports read from the bridges' own dump,
          `backends.hostlinks`);
  full    the same without the memo: every namespace decoded, every
          operation checked and the host's links read in full, what the
          first no-op after an `up` does;
  start   the rest of the command's wall time: Python's start-up, imports,
          the topology's lock, the answer printed;
then the same work in one process, step by step: the operations made from
the JSON, every namespace opened, read, every operation checked; and the
least that read can cost (`raw_floor`: the same dumps received with nothing
decoded, in two processes and in one), the floor the no-op is compared with.
With PYTHONPATH=OLD_TREE it measures another copy of pipenet (the same
commands, for a before-and-after in the same minutes). Everything runs
inside a holder's private network and mount namespaces
(bench/engine.py's harness), so the machine's network is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

PY = sys.executable
PER_BRIDGE = 1000
PHASES = ("digest", "record", "live")  # (the no-op's own; `full` is beside it)


def topology(n: int) -> str:
    """N containers, a thousand to a bridge (each bridge its own /16): the engine benchmark's."""
    from engine import topology as spread_over_bridges

    return spread_over_bridges(n, PER_BRIDGE, name="noop")


def phases(path: str) -> dict[str, float]:
    """One no-op's work, phase by phase, in this process, as `up` does it (`status.live_as_recorded`:
    the check shared by two processes past SPLIT_AT operations); then the same work in one process,
    step by step (what each step costs, before it is shared out)."""
    from pipenet.backends.kernel import Kernel
    from pipenet.engine import inputs, live
    from pipenet.engine.records import recorded_ops
    from pipenet.engine.state import StateDir

    try:
        from pipenet.gcpause import gc_paused
        all_live = live.all_live
    except ImportError:  # pipenet before these changes (PYTHONPATH=OLD_TREE, for a comparison)
        from contextlib import nullcontext as gc_paused

        from pipenet.engine.status import drift

        def all_live(docs, view, state):
            return not drift(recorded_ops({"ops": docs}, state), view)
    try:
        from pipenet.engine import verified

        if hasattr(verified, "load_both"):
            def view_of(k, record, memo: bool):
                return live.LiveView(k, *verified.load_both(state, record)) if memo else live.LiveView(k, {})
        else:  # (before the host's ports were kept)
            def view_of(k, record, memo: bool):
                return live.LiveView(k, verified.load(state, record) if memo else {})
    except ImportError:  # (before the memo)
        def view_of(k, record, memo: bool):
            return live.LiveView(k)

    t0 = time.perf_counter()
    name = inputs.unchanged(path)
    if name is None or not inputs.still_unchanged(path, name):
        raise RuntimeError(f"{path}: the digest does not match (not converged?)")
    t1 = time.perf_counter()
    state = StateDir(name)
    with gc_paused():
        record = state.load()
    t2 = time.perf_counter()

    def checked(memo: bool) -> float:
        """The live check's time, with the memo of the last check or without it."""
        k = Kernel()
        try:
            with gc_paused():
                t = time.perf_counter()
                if not all_live(record["ops"], view_of(k, record, memo), state):
                    raise RuntimeError("the live system is not as recorded")
                return time.perf_counter() - t
        finally:
            k.close()

    out = {"digest": t1 - t0, "record": t2 - t1, "live": checked(True), "full": checked(False),
           "ops": len(record["ops"])}
    k = Kernel()  # the same work in one process, step by step
    try:
        with gc_paused():
            s0 = time.perf_counter()
            ops = recorded_ops(record, state)
            s1 = time.perf_counter()
            view = live.LiveView(k)
            view.want_sysctls(ops)  # (opens every namespace the ops name, in one visit)
            s2 = time.perf_counter()
            for ref in sorted({op.ns for op in ops if isinstance(getattr(op, "ns", None), str)}):
                view.namespace(ref)
            s3 = time.perf_counter()
            if not all(op.check(view).ok for op in ops):
                raise RuntimeError("the live system is not as recorded")
            s4 = time.perf_counter()
    finally:
        k.close()
    out.update({"s_ops": s1 - s0, "s_open": s2 - s1, "s_read": s3 - s2, "s_check": s4 - s3,
                "namespaces": len(view._ns)})
    out.update(raw_floor(sorted(r for r in view._ns if r)))
    return out


def raw_floor(refs: list[str]) -> dict[str, float]:
    """The least the live read can cost in this design, the kernel's part with as little Python as can
    be: the host's link dump, then every namespace opened (a descriptor, a `setns`, a socket) and its
    three dumps (links, addresses, IPv4 routes) received, nothing decoded, shared by two processes as
    `up` shares them; and the namespaces in one process."""
    import socket
    import struct

    from pipenet.backends import linux
    from pipenet.backends import nlmsg as M
    from pipenet.backends.netns import RUN_DIR

    dump = 0x301  # NLM_F_REQUEST | NLM_F_DUMP
    reqs = [M.frame(M.RTM_GETLINK, dump, 1, M.ifinfo() + M.u32(M.IFLA_EXT_MASK, M.RTEXT_FILTER_SKIP_STATS)),
            M.frame(M.RTM_GETADDR, dump, 2, M.ifaddr(0, 0, 0)),
            M.frame(M.RTM_GETROUTE, dump, 3, M.rtmsg(socket.AF_INET, 0, 0, 0, 0, 0))]
    buf = bytearray(1 << 16)
    header = struct.Struct("=IH")

    def receive(s, req) -> None:
        s.send(req)
        while True:
            n, off = s.recv_into(buf), 0
            while off < n:
                length, kind = header.unpack_from(buf, off)
                if kind in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
                    return
                off += (length + 3) & ~3

    root = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def read(names: list[str]) -> None:
        for name in names:
            fd = os.open(os.path.join(RUN_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
            linux.setns(fd, linux.CLONE_NEWNET)
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
            linux.setns(root, linux.CLONE_NEWNET)
            for req in reqs:
                receive(s, req)
            s.close()
            os.close(fd)

    t0 = time.perf_counter()
    host = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    host.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    receive(host, reqs[0])
    host.close()
    t1 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            read(refs[1::2])
        finally:
            os._exit(0)
    read(refs[0::2])
    os.waitpid(pid, 0)
    t2 = time.perf_counter()
    read(refs)
    t3 = time.perf_counter()
    os.close(root)
    return {"f_host": t1 - t0, "f_two": t2 - t1, "f_one": t3 - t2}


def inside(sizes: list[int], runs: int) -> dict:
    from engine import pipenet, quiesce, settle, settle_first

    results = {}
    tmp = tempfile.mkdtemp(prefix="pipenet-noop-")
    settle_first()  # (what an earlier run left for the kernel to free, freed: see engine.settle)
    for n in sizes:
        path = os.path.join(tmp, f"noop{n}.pn")
        with open(path, "w") as f:
            f.write(topology(n))
        rows: dict[str, list[float]] = {}
        rows["up"] = [pipenet(f"noop{n}", "up", path)]
        quiesce(60.0)
        rows["load"] = [os.getloadavg()[0]]
        rows["first"] = [pipenet(f"noop{n}", "up", path)]  # (with the memo `up` left, or without one)
        quiesce(10.0)
        for _ in range(runs):
            before = os.times()
            rows.setdefault("noop", []).append(pipenet(f"noop{n}", "up", path))
            after = os.times()
            rows.setdefault("noop_cpu", []).append(after.children_user + after.children_system
                                                   - before.children_user - before.children_system)
            rows.setdefault("noplan", []).append(pipenet(f"noop{n}", "plan", path))
            got = subprocess.run([PY, os.path.abspath(__file__), "--phases", path], capture_output=True, text=True,
                                 check=True)
            for k, v in json.loads(got.stdout).items():
                rows.setdefault(k, []).append(v)
        pipenet(f"noop{n}", "down", "noop")
        settle()
        med = {k: statistics.median(v) for k, v in rows.items()}
        med["start"] = med["noop"] - sum(med[p] for p in PHASES)
        sys.stderr.write(f"{n}: " + ", ".join(f"{k} {v:.3f}" for k, v in med.items()) + "\n")
        results[n] = med
    return results


def table(results: dict) -> str:
    lines = ["| N containers (bridges) | recorded operations | first no-op `up` after the `up` | no-op `up` | "
             "its CPU time (both processes) | "
             "no-op `plan` | digest | the record's JSON read | its operations made and checked live | "
             "start-up and the rest | made and checked live, per container | the same without the memo "
             "(everything decoded) | load average before |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, m in results.items():
        n = int(n)
        first = f"{m['first']:.2f} s" if "first" in m else "–"
        lines.append(f"| {n:,} ({(n + PER_BRIDGE - 1) // PER_BRIDGE}) | {int(m['ops']):,} | {first} | "
                     f"{m['noop']:.2f} s | "
                     f"{m['noop_cpu']:.2f} s | {m['noplan']:.2f} s | {1000 * m['digest']:.0f} ms | "
                     f"{1000 * m['record']:.0f} ms | {1000 * m['live']:.0f} ms | {1000 * m['start']:.0f} ms | "
                     f"{1e6 * m['live'] / n:.0f} us | {1000 * m['full']:.0f} ms | {m['load']:.1f} |")
    lines += ["", "The same work in one process, step by step (per namespace read):", "",
              "| N containers | operations from the record's JSON | open every namespace | read every namespace "
              "(links, addresses, routes) | check every operation | per namespace: open, read, check |",
              "|---|---|---|---|---|---|"]
    for n, m in results.items():
        per = 1e6 / m["namespaces"]
        lines.append(f"| {int(n):,} | {1000 * m['s_ops']:.0f} ms | {1000 * m['s_open']:.0f} ms | "
                     f"{1000 * m['s_read']:.0f} ms | {1000 * m['s_check']:.0f} ms | {per * m['s_open']:.0f}, "
                     f"{per * m['s_read']:.0f}, {per * m['s_check']:.0f} us |")
    lines += ["", "The least this read can cost (`raw_floor`: the kernel's part, nothing decoded, no operation "
              "made or checked):", "",
              "| N containers | the host's link dump | every namespace opened and its three dumps received, two "
              "processes | the same, one process | per namespace | host dump and two processes | no-op `up` / that |",
              "|---|---|---|---|---|---|---|"]
    for n, m in results.items():
        if "f_host" not in m:
            continue
        both = m["f_host"] + m["f_two"]
        lines.append(f"| {int(n):,} | {1000 * m['f_host']:.0f} ms | {1000 * m['f_two']:.0f} ms | "
                     f"{1000 * m['f_one']:.0f} ms | {1e6 * m['f_one'] / m['namespaces']:.0f} us | "
                     f"{1000 * both:.0f} ms | {m['noop'] / both:.1f}x |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,4000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", default=None)
    ap.add_argument("--write-docs", action="store_true", help="put the table into docs/performance.md")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--phases", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    if a.phases:
        print(json.dumps(phases(a.phases)))
        return
    if a.inside:
        print(json.dumps(inside(sizes, a.runs)))
        return
    from world import measure_inside, publish

    results = measure_inside(__file__, ["--sizes", a.sizes, "--runs", str(a.runs)])
    publish("noop", table(results), results, a.write_docs, a.json)


if __name__ == "__main__":
    main()
