"""Benchmark: pipenet against the same kernel work done by `ip`, in one run, in a private namespace.

    .venv/bin/python bench/engine.py [--sizes 100,300] [--runs 3] [--shell-max 300] [--json OUT]

For N containers on one bridge (each: a namespace, a veth port with a MAC,
an address and a default route; the bridge NAT'd and forwarded; each
namespace's hosts, resolv.conf and hostname files) it measures, median of --runs:
  floor   the ip-batch floor: one `ip -batch` for the host side and one
          `ip -n NS -batch` per namespace (the least a shell tool can do),
          plus one `iptables-restore` per table and the files;
  shell   one `ip` process per operation, as hand-written scripts and
          pipework do (skipped above --shell-max);
  up      `pipenet up` from nothing (the CLI, Python start-up included);
  noop    `pipenet up` of the converged topology;
  plan    `pipenet plan` of the converged topology;
  down    `pipenet down`, against the floor's own teardown (`ip -batch`).
Also a chain of N routers joined by /30 point-to-point links (each
forwarding; --chains), against the same work done by ip -batch, and the
Foundations playground (pipenet's own figures).
Everything runs inside a holder's private network and mount namespaces,
so the machine's network is never touched. Between runs it waits for the
kernel's asynchronous namespace cleanup to settle.
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

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = sys.executable


def topology(n: int) -> str:
    return ("topology bench\nbridge br0 { address 10.0.0.1/16 }\n"
            f"for i in 1..{n} {{\n    container c${{i}} {{ net br0 }}\n}}\n")


def mac(i: int) -> str:
    ip = 0x0A000000 + 1 + i
    return "02:42:" + ":".join(f"{(ip >> s) & 255:02x}" for s in (24, 16, 8, 0))


def floor_batches(n: int) -> tuple[str, dict[str, str]]:
    host = ["link add br0 type bridge", "link set br0 up", "addr add 10.0.0.1/16 dev br0"]
    per_ns = {}
    for i in range(1, n + 1):
        ns = f"fl{i}"
        host.append(f"netns add {ns}")
        host.append(f"link add vfl{i} master br0 up type veth peer name eth0 netns {ns} address {mac(i)}")
        a = 0x0A000000 + 1 + i
        addr = ".".join(str((a >> s) & 255) for s in (24, 16, 8, 0))
        per_ns[ns] = f"link set lo up\nlink set eth0 up\naddr add {addr}/16 dev eth0\nroute add default via 10.0.0.1\n"
    return "\n".join(host) + "\n", per_ns


FLOOR_RULES = {
    "filter": "*filter\n:FL-FWD - [0:0]\n-I FORWARD 1 -j FL-FWD\n"
              "-A FL-FWD -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
              "-A FL-FWD -i br0 ! -o br0 -j ACCEPT\n-A FL-FWD -i br0 -o br0 -j ACCEPT\nCOMMIT\n",
    "nat": "*nat\n:FL-POST - [0:0]\n-I POSTROUTING 1 -j FL-POST\n"
           "-A FL-POST -s 10.0.0.0/16 ! -o br0 -j MASQUERADE\nCOMMIT\n",
}


def floor_files(n: int) -> None:
    """The /etc/netns files a hand-written script writes too (hosts, resolv.conf, hostname)."""
    for i in range(1, n + 1):
        d = f"/etc/netns/fl{i}"
        os.makedirs(d, exist_ok=True)
        for name, text in (("hosts", f"127.0.0.1\tlocalhost\n10.0.{i // 256}.{i % 256}\tc{i}\n"),
                           ("resolv.conf", "nameserver 8.8.8.8\n"), ("hostname", f"c{i}\n")):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)


def run_floor(n: int) -> float:
    """The same kernel work as pipenet's up: ip -batch, one iptables-restore per table, the files."""
    host, per_ns = floor_batches(n)
    t = time.perf_counter()
    subprocess.run(["ip", "-batch", "-"], input=host, text=True, check=True)
    for ns, batch in per_ns.items():
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=True)
    subprocess.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], check=True)
    for rules in FLOOR_RULES.values():
        subprocess.run(["iptables-restore", "--noflush"], input=rules, text=True, check=True)
    floor_files(n)
    return time.perf_counter() - t


def floor_down(n: int) -> float:
    batch = "".join(f"link del vfl{i}\nnetns del fl{i}\n" for i in range(1, n + 1)) + "link del br0\n"
    t = time.perf_counter()
    subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
    subprocess.run(["iptables-restore", "--noflush"], text=True, check=True,
                   input="*filter\n-D FORWARD -j FL-FWD\n:FL-FWD - [0:0]\n-X FL-FWD\nCOMMIT\n"
                         "*nat\n-D POSTROUTING -j FL-POST\n:FL-POST - [0:0]\n-X FL-POST\nCOMMIT\n")
    import shutil

    for i in range(1, n + 1):
        shutil.rmtree(f"/etc/netns/fl{i}", ignore_errors=True)
    return time.perf_counter() - t


def run_shell(n: int) -> float:
    host, per_ns = floor_batches(n)
    t = time.perf_counter()
    for line in host.splitlines():
        subprocess.run(["ip", *line.split()], check=True)
    for ns, batch in per_ns.items():
        for line in batch.splitlines():
            subprocess.run(["ip", "-n", ns, *line.split()], check=True)
    subprocess.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], check=True)
    for table, rules in FLOOR_RULES.items():  # one iptables process per rule
        for line in rules.splitlines():
            if line.startswith(":"):
                subprocess.run(["iptables", "-t", table, "-N", line[1:].split()[0]], check=True)
            elif line.startswith("-"):
                subprocess.run(["iptables", "-t", table, *line.split()], check=True)
    floor_files(n)
    return time.perf_counter() - t


def chain_topology(n: int) -> str:
    """n routers in a line, each joined to the next by a /30 point-to-point link, all forwarding."""
    lines = ["topology bench", f"for i in 1..{n} {{", "    container r${i} { forwarding on }", "}"]
    for i in range(1, n):
        a, b = _chain_addrs(i)
        lines.append(f"p2p r{i}:eth1 {a}/30 -- r{i + 1}:eth0 {b}/30")
    return "\n".join(lines) + "\n"


def _chain_addrs(i: int) -> tuple[str, str]:
    base = 0x0A000000 + 4 * i
    dot = lambda v: ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))  # noqa: E731
    return dot(base + 1), dot(base + 2)


def chain_floor(n: int) -> float:
    host = [f"netns add cf{i}" for i in range(1, n + 1)]
    per_ns = {f"cf{i}": ["link set lo up"] for i in range(1, n + 1)}
    for i in range(1, n):
        a, b = _chain_addrs(i)
        host.append(f"link add name eth1 netns cf{i} type veth peer name eth0 netns cf{i + 1}")
        per_ns[f"cf{i}"] += ["link set eth1 up", f"addr add {a}/30 dev eth1"]
        per_ns[f"cf{i + 1}"] += ["link set eth0 up", f"addr add {b}/30 dev eth0"]
    t = time.perf_counter()
    subprocess.run(["ip", "-batch", "-"], input="\n".join(host) + "\n", text=True, check=True)
    for ns, batch in per_ns.items():
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(batch) + "\n", text=True, check=True)
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], check=True)
    return time.perf_counter() - t


def chain_floor_down(n: int) -> float:
    t = time.perf_counter()
    subprocess.run(["ip", "-batch", "-"], input="".join(f"netns del cf{i}\n" for i in range(1, n + 1)), text=True,
                   check=True)
    return time.perf_counter() - t


def pipenet(*args) -> float:
    t = time.perf_counter()
    r = subprocess.run([PY, "-m", "pipenet", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"pipenet {' '.join(args)} failed: {r.stderr}")
    return time.perf_counter() - t


def settle() -> None:
    """Let the kernel finish tearing down the namespaces of the previous run."""
    time.sleep(1.0)


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def inside(sizes: list[int], runs: int, shell_max: int, chain_sizes: list[int] = ()) -> dict:
    results = {}
    tmp = tempfile.mkdtemp(prefix="pipenet-bench-")
    for n in sizes:
        path = os.path.join(tmp, f"bench{n}.pn")
        with open(path, "w") as f:
            f.write(topology(n))
        rows: dict[str, list[float]] = {k: [] for k in ("floor", "floor_down", "shell", "up", "noop", "plan", "down")}
        for _ in range(runs):
            rows["floor"].append(run_floor(n))
            rows["floor_down"].append(floor_down(n))
            settle()
            if n <= shell_max:
                rows["shell"].append(run_shell(n))
                floor_down(n)
                settle()
            rows["up"].append(pipenet("up", path))
            rows["noop"].append(pipenet("up", path))
            rows["plan"].append(pipenet("plan", path))
            rows["down"].append(pipenet("down", "bench"))
            settle()
        med = {k: statistics.median(v) for k, v in rows.items() if v}
        results[n] = med
        sys.stderr.write(f"N={n}: " + ", ".join(f"{k} {v:.3f}s" for k, v in med.items()) + "\n")
    for n in chain_sizes:
        path = os.path.join(tmp, f"chain{n}.pn")
        with open(path, "w") as f:
            f.write(chain_topology(n))
        rows = {k: [] for k in ("floor", "floor_down", "up", "noop", "plan", "down")}
        for _ in range(runs):
            rows["floor"].append(chain_floor(n))
            rows["floor_down"].append(chain_floor_down(n))
            settle()
            rows["up"].append(pipenet("up", path))
            rows["noop"].append(pipenet("up", path))
            rows["plan"].append(pipenet("plan", path))
            rows["down"].append(pipenet("down", "bench"))
            settle()
        results[f"chain{n}"] = {k: statistics.median(v) for k, v in rows.items()}
        sys.stderr.write(f"chain N={n}: " + ", ".join(f"{k} {v:.3f}s" for k, v in results[f'chain{n}'].items())
                         + "\n")
    fopnp = os.path.join(REPO, "examples", "foundations.pn")
    rows = {k: [] for k in ("up", "noop", "plan", "down")}
    for _ in range(runs):
        rows["up"].append(pipenet("up", fopnp))
        rows["noop"].append(pipenet("up", fopnp))
        rows["plan"].append(pipenet("plan", fopnp))
        rows["down"].append(pipenet("down", "fopnp"))
        settle()
    results["fopnp"] = {k: statistics.median(v) for k, v in rows.items()}
    sys.stderr.write("foundations: " + ", ".join(f"{k} {v:.3f}s" for k, v in results["fopnp"].items()) + "\n")
    results["peak_rss_mb"] = peak_rss_mb()
    return results


def table(results: dict) -> str:
    lines = ["| N | floor (ip -batch) | one ip per op | pipenet up | up / floor | shell / up | no-op up | plan | "
             "down | floor down | down / floor down | up per container |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, m in results.items():
        if not str(n).isdigit():
            continue
        n = int(n)
        shell = m.get("shell")
        lines.append(
            f"| {n} | {m['floor']:.2f} s | {shell:.2f} s | " if shell else f"| {n} | {m['floor']:.2f} s | (skipped) | ")
        lines[-1] += (f"{m['up']:.2f} s | {m['up'] / m['floor']:.2f}x | "
                      f"{(shell / m['up']) if shell else float('nan'):.1f}x | {m['noop']:.2f} s | {m['plan']:.2f} s | "
                      f"{m['down']:.2f} s | {m['floor_down']:.2f} s | {m['down'] / m['floor_down']:.2f}x | "
                      f"{1000 * m['up'] / n:.2f} ms |")
    chains = [(k, m) for k, m in results.items() if str(k).startswith("chain")]
    if chains:
        lines += ["", "| chain of N routers | floor | pipenet up | up / floor | no-op up | plan | down | floor teardown |",
                  "|---|---|---|---|---|---|---|---|"]
        for k, m in chains:
            lines.append(f"| {k[5:]} | {m['floor']:.2f} s | {m['up']:.2f} s | {m['up'] / m['floor']:.2f}x | "
                         f"{m['noop']:.2f} s | {m['plan']:.2f} s | {m['down']:.2f} s | {m['floor_down']:.2f} s |")
    if "fopnp" in results:
        m = results["fopnp"]
        lines += ["", "| the Foundations playground (12 nodes, 95 steps, 9 processes) | up | no-op up | plan | down |",
                  "|---|---|---|---|---|",
                  f"| pipenet | {m['up']:.2f} s | {m['noop']:.2f} s | {m['plan']:.2f} s | {m['down']:.2f} s |"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,300")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shell-max", type=int, default=300)
    ap.add_argument("--chains", default="100,300", help="sizes of the chain-of-routers topology")
    ap.add_argument("--json", default=None)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    chains = [int(c) for c in a.chains.split(",") if c]
    if a.inside:
        print(json.dumps(inside(sizes, a.runs, a.shell_max, chains)))
        return
    sys.path.insert(0, REPO)
    from tests.harness import Netns

    ns = Netns()
    try:
        r = ns.run([PY, os.path.abspath(__file__), "--inside", "--sizes", a.sizes, "--runs", str(a.runs),
                    "--shell-max", str(a.shell_max), "--chains", a.chains], timeout=7200)
        sys.stderr.write(r.stderr)
        results = json.loads(r.stdout)
    finally:
        ns.close()
    print(table(results))
    print(f"\npeak memory of a pipenet process: {results['peak_rss_mb']:.0f} MB")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
