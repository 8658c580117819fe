"""Benchmark: pipenet against the same kernel work done by `ip`, in one run, in a private namespace.

    .venv/bin/python bench/engine.py [--sizes 100,300] [--runs 3] [--shell-max 300] [--chains 100,300]
                                     [--json OUT] [--write-docs]

For N containers on one bridge (each: a namespace, a veth port with a MAC,
an address and a default route; the bridge NAT'd and forwarded; each
namespace's hosts, resolv.conf and hostname files) it measures, median of --runs:
  floor   the ip-batch floor: one `ip -batch` for the host side and one
          `ip -n NS -batch` per namespace (the least a shell tool can do),
          plus one `iptables-restore` per table and the files;
  shell   a bash script with one `ip` process per operation, as hand-written
          scripts, the guide's recipe and pipework do: make the pair, move
          the peer, then `ip netns exec NS ip ...` for each setting there
          (skipped above --shell-max);
  up      `pipenet up` from nothing (the CLI, Python start-up included);
  noop    `pipenet up` of the converged topology (an unchanged file: its
          digest matches, and every recorded change is checked against the
          live system before "nothing to change");
  noplan  `pipenet plan` of the same unchanged file (the same live check);
  plan    `pipenet plan` of the converged topology, the file edited by a
          comment (so it is parsed, compiled and compared in full);
  edited  `pipenet up` of that edited file (the same full work, nothing to do);
  down    `pipenet down`, against the floor's own teardown (`ip -batch`).
It reports medians, ratios, time per container and each topology's peak
memory (the largest resident set of one pipenet command); --write-docs puts
the tables into docs/performance.md.
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
import shutil
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


def floor_batches(n: int, quiet: bool = False) -> tuple[str, dict[str, str]]:
    """The ip -batch scripts; `quiet`: no IPv6 autoconfiguration on the bridge and on both ends of each
    port (`addrgenmode none` before a link comes up), as pipenet does for segments without IPv6."""
    q = " addrgenmode none" if quiet else ""
    host = ["link add br0 type bridge", f"link set dev br0{q} up", "addr add 10.0.0.1/16 dev br0"]
    per_ns = {}
    for i in range(1, n + 1):
        ns = f"fl{i}"
        host.append(f"netns add {ns}")
        host.append(f"link add vfl{i} master br0 type veth peer name eth0 netns {ns} address {mac(i)}")
        host.append(f"link set dev vfl{i}{q} up")
        a = 0x0A000000 + 1 + i
        addr = ".".join(str((a >> s) & 255) for s in (24, 16, 8, 0))
        per_ns[ns] = (f"link set lo up\nlink set dev eth0{q} up\naddr add {addr}/16 dev eth0\n"
                      f"route add default via 10.0.0.1\n")
    return "\n".join(host) + "\n", per_ns


FLOOR_RULES = {
    "filter": "*filter\n:FL-FWD - [0:0]\n-I FORWARD 1 -j FL-FWD\n"
              "-A FL-FWD -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
              "-A FL-FWD -i br0 ! -o br0 -j ACCEPT\n-A FL-FWD -i br0 -o br0 -j ACCEPT\nCOMMIT\n",
    "nat": "*nat\n:FL-POST - [0:0]\n-I POSTROUTING 1 -j FL-POST\n"
           "-A FL-POST -s 10.0.0.0/16 ! -o br0 -j MASQUERADE\nCOMMIT\n",
}


def floor_files(n: int, prefix: str = "fl") -> None:
    """The /etc/netns files a hand-written script writes too (hosts, resolv.conf, hostname)."""
    for i in range(1, n + 1):
        d = f"/etc/netns/{prefix}{i}"
        os.makedirs(d, exist_ok=True)
        for name, text in (("hosts", f"127.0.0.1\tlocalhost\n10.0.{i // 256}.{i % 256}\tc{i}\n"),
                           ("resolv.conf", "nameserver 8.8.8.8\n"), ("hostname", f"c{i}\n")):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)


def run_floor(n: int, quiet: bool = False) -> float:
    """The same kernel work as pipenet's up: ip -batch, one iptables-restore per table, the files."""
    host, per_ns = floor_batches(n, quiet)
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
    for i in range(1, n + 1):
        shutil.rmtree(f"/etc/netns/fl{i}", ignore_errors=True)
    return time.perf_counter() - t


def shell_script(n: int) -> str:
    """The same work as a hand-written script does it: one `ip` process per operation, in the order of
    the guide's point-to-point recipe and pipework (make the pair, attach and raise the host end, move
    the peer into the namespace, then rename, address and raise it there with `ip netns exec`), one
    `iptables` process per rule, and the files written by the shell."""
    lines = ["set -e", "ip link add br0 type bridge", "ip link set br0 up", "ip addr add 10.0.0.1/16 dev br0"]
    for i in range(1, n + 1):
        ns, a = f"fl{i}", 0x0A000000 + 1 + i
        addr = ".".join(str((a >> s) & 255) for s in (24, 16, 8, 0))
        x = f"ip netns exec {ns} ip"
        lines += [f"ip netns add {ns}", f"ip link add name vfl{i} type veth peer name pfl{i}",
                  f"ip link set vfl{i} master br0", f"ip link set vfl{i} up", f"ip link set pfl{i} netns {ns}",
                  f"{x} link set pfl{i} name eth0", f"{x} link set eth0 address {mac(i)}",
                  f"{x} addr add {addr}/16 dev eth0", f"{x} link set eth0 up", f"{x} link set lo up",
                  f"{x} route add default via 10.0.0.1",
                  f"mkdir -p /etc/netns/{ns}",
                  f"printf '127.0.0.1\\tlocalhost\\n{addr}\\tc{i}\\n' > /etc/netns/{ns}/hosts",
                  f"echo 'nameserver 8.8.8.8' > /etc/netns/{ns}/resolv.conf", f"echo c{i} > /etc/netns/{ns}/hostname"]
    lines.append("sysctl -q -w net.ipv4.ip_forward=1")
    for table, rules in FLOOR_RULES.items():
        for line in rules.splitlines():
            if line.startswith(":"):
                lines.append(f"iptables -t {table} -N {line[1:].split()[0]}")
            elif line.startswith("-"):
                lines.append(f"iptables -t {table} {line}")
    return "\n".join(lines) + "\n"


def run_shell(n: int, path: str) -> float:
    with open(path, "w") as f:
        f.write(shell_script(n))
    t = time.perf_counter()
    subprocess.run(["bash", path], check=True)
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
    floor_files(n, "cf")  # pipenet writes each router's hosts, resolv.conf and hostname too
    return time.perf_counter() - t


def chain_floor_down(n: int) -> float:
    t = time.perf_counter()
    subprocess.run(["ip", "-batch", "-"], input="".join(f"netns del cf{i}\n" for i in range(1, n + 1)), text=True,
                   check=True)
    for i in range(1, n + 1):
        shutil.rmtree(f"/etc/netns/cf{i}", ignore_errors=True)
    return time.perf_counter() - t


PEAK: dict[str, float] = {}  # the largest resident set of a pipenet command, per topology
USER: dict[str, list[float]] = {}  # user CPU seconds of each `up` from nothing, per topology


def pipenet(topo: str, *args) -> float:
    """Run one pipenet command (the CLI, Python start-up included); its wall time, and its peak memory
    noted under `topo` (and the user CPU time of an `up`: pipenet's own work, without the kernel's)."""
    t = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "pipenet", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"pipenet {' '.join(args)} failed: {err.decode(errors='replace')}")
    PEAK[topo] = max(PEAK.get(topo, 0.0), usage.ru_maxrss / 1024)
    if args[0] == "up":
        USER.setdefault(topo, []).append(usage.ru_utime)
    return elapsed


def settle() -> None:
    """Let the kernel finish tearing down the namespaces of the previous run."""
    time.sleep(1.0)


def _cpu() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # total, idle + iowait


def quiesce(limit: float = 15.0) -> None:
    """Wait (at least a second, at most `limit`) until the machine is idle: after a large `up` the
    kernel keeps working on the new interfaces for seconds (bridge port states, IPv6 address
    configuration and its multicast flooded to every port), slowing every process."""
    time.sleep(1.0)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        t0, i0 = _cpu()
        time.sleep(0.25)
        t1, i1 = _cpu()
        if t1 > t0 and (i1 - i0) / (t1 - t0) >= 0.9:
            return


def pipenet_rows(rows: dict, topo: str, path: str, name: str) -> None:
    rows.setdefault("up", []).append(pipenet(topo, "up", path))
    rows.setdefault("up_user", []).append(USER[topo].pop())
    quiesce()  # a no-op `up` and `plan` are measured on the settled system
    rows.setdefault("noop", []).append(pipenet(topo, "up", path))
    rows.setdefault("noplan", []).append(pipenet(topo, "plan", path))
    # An edited file whose edit changes nothing (a comment): `plan` and `up` parse, compile and
    # compare in full, where an unchanged file is answered from the digest of its inputs.
    with open(path) as f:
        text = f.read()
    with open(path, "a") as f:
        f.write("# edited\n")
    rows.setdefault("plan", []).append(pipenet(topo, "plan", path))
    rows.setdefault("noop_full", []).append(pipenet(topo, "up", path))
    with open(path, "w") as f:
        f.write(text)
    rows.setdefault("down", []).append(pipenet(topo, "down", name))


def medians(label: str, rows: dict) -> dict:
    med = {k: statistics.median(v) for k, v in rows.items() if v}
    med["peak_mb"] = PEAK.get(label, 0.0)
    sys.stderr.write(f"{label}: " + ", ".join(f"{k} {v:.3f}" for k, v in med.items()) + "\n")
    return med


def inside(sizes: list[int], runs: int, shell_max: int, chain_sizes: list[int] = ()) -> dict:
    results = {}
    tmp = tempfile.mkdtemp(prefix="pipenet-bench-")
    for n in sizes:
        path = os.path.join(tmp, f"bench{n}.pn")
        with open(path, "w") as f:
            f.write(topology(n))
        rows: dict[str, list[float]] = {k: [] for k in ("floor", "floor_quiet", "floor_down", "shell")}
        for _ in range(runs):
            rows["floor"].append(run_floor(n))
            rows["floor_down"].append(floor_down(n))
            settle()
            rows["floor_quiet"].append(run_floor(n, quiet=True))
            floor_down(n)
            settle()
            if n <= shell_max:
                rows["shell"].append(run_shell(n, os.path.join(tmp, f"shell{n}.sh")))
                floor_down(n)
                settle()
            pipenet_rows(rows, str(n), path, "bench")
            settle()
        results[n] = medians(str(n), rows)
    for n in chain_sizes:
        path = os.path.join(tmp, f"chain{n}.pn")
        with open(path, "w") as f:
            f.write(chain_topology(n))
        rows = {k: [] for k in ("floor", "floor_down")}
        for _ in range(runs):
            rows["floor"].append(chain_floor(n))
            rows["floor_down"].append(chain_floor_down(n))
            settle()
            pipenet_rows(rows, f"chain{n}", path, "bench")
            settle()
        results[f"chain{n}"] = medians(f"chain{n}", rows)
    fopnp = os.path.join(tmp, "foundations.pn")  # a copy: the benchmark edits the file it measures
    with open(os.path.join(REPO, "examples", "foundations.pn")) as src, open(fopnp, "w") as dst:
        dst.write(src.read())
    rows = {}
    for _ in range(runs):
        pipenet_rows(rows, "fopnp", fopnp, "fopnp")
        settle()
    results["fopnp"] = medians("fopnp", rows)
    return results


def table(results: dict) -> str:
    lines = ["| N containers on one bridge | floor (ip -batch) | floor, quiet links | one ip per op | pipenet up | "
             "up / quiet floor | "
             "one ip per op / up | no-op up | no-op plan | no-op up, edited file | plan, edited file | down | "
             "floor teardown | down / floor teardown | "
             "up per container | pipenet's own CPU per container | peak memory |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, m in results.items():
        if not str(n).isdigit():
            continue
        n = int(n)
        shell = m.get("shell")
        lines.append(f"| {n} | {m['floor']:.2f} s | {m['floor_quiet']:.2f} s | " +
                     (f"{shell:.2f} s" if shell else "(not run)") +
                     f" | {m['up']:.2f} s | {m['up'] / m['floor_quiet']:.2f}x | " +
                     (f"{shell / m['up']:.1f}x" if shell else "") +
                     f" | {m['noop']:.2f} s | {m['noplan']:.2f} s | {m['noop_full']:.2f} s | {m['plan']:.2f} s | "
                     f"{m['down']:.2f} s | {m['floor_down']:.2f} s | "
                     f"{m['down'] / m['floor_down']:.2f}x | {1000 * m['up'] / n:.2f} ms | "
                     f"{1e6 * m['up_user'] / n:.0f} us | {m['peak_mb']:.0f} MB |")
    chains = [(k, m) for k, m in results.items() if str(k).startswith("chain")]
    if chains:
        lines += ["", "| chain of N routers (p2p /30 links, forwarding) | floor | pipenet up | up / floor | "
                      "no-op up | no-op up, edited file | plan | down | floor teardown | peak memory |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for k, m in chains:
            lines.append(f"| {k[5:]} | {m['floor']:.2f} s | {m['up']:.2f} s | {m['up'] / m['floor']:.2f}x | "
                         f"{m['noop']:.2f} s | {m['noop_full']:.2f} s | {m['plan']:.2f} s | {m['down']:.2f} s | "
                         f"{m['floor_down']:.2f} s | "
                         f"{m['peak_mb']:.0f} MB |")
    if "fopnp" in results:
        m = results["fopnp"]
        lines += ["", "| the Foundations playground (12 nodes, 95 steps, 9 processes) | up | no-op up | "
                      "no-op up, edited file | plan | down | peak memory |",
                  "|---|---|---|---|---|---|---|",
                  f"| pipenet | {m['up']:.2f} s | {m['noop']:.2f} s | {m['noop_full']:.2f} s | {m['plan']:.2f} s | "
                  f"{m['down']:.2f} s | {m['peak_mb']:.0f} MB |"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,300")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shell-max", type=int, default=300)
    ap.add_argument("--chains", default="100,300", help="sizes of the chain-of-routers topology")
    ap.add_argument("--json", default=None)
    ap.add_argument("--write-docs", action="store_true", help="put the tables into docs/performance.md")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    chains = [int(c) for c in a.chains.split(",") if c]
    if a.inside:
        print(json.dumps(inside(sizes, a.runs, a.shell_max, chains)))
        return
    sys.path.insert(0, REPO)
    from tests.harness import Netns

    # pipenet's own bytecode, as an installed copy has it (PYTHONDONTWRITEBYTECODE would otherwise make
    # every command compile pipenet from source)
    subprocess.run([PY, "-m", "compileall", "-q", os.path.join(REPO, "pipenet")], check=True)

    ns = Netns()
    try:
        r = ns.run([PY, os.path.abspath(__file__), "--inside", "--sizes", a.sizes, "--runs", str(a.runs),
                    "--shell-max", str(a.shell_max), "--chains", a.chains], timeout=7200)
        sys.stderr.write(r.stderr)
        results = json.loads(r.stdout)
    finally:
        ns.close()
    print(table(results))
    if a.write_docs:
        from report import write_section

        args = [a for i, a in enumerate(sys.argv[1:]) if a != "--json" and sys.argv[i] != "--json"]
        write_section("engine", ".venv/bin/python bench/engine.py " + " ".join(args), table(results))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
