"""Benchmark: pipenet against the same kernel work done by `ip`, in one run, in a private namespace.

    .venv/bin/python bench/engine.py [--sizes 100,300] [--per-bridge 1000] [--runs 3] [--shell-max 300]
                                     [--chains 100,300] [--no-fopnp] [--no-floor] [--json OUT] [--write-docs]

For N containers spread over bridges of at most --per-bridge ports (a Linux
bridge holds at most 1,023: N = 4,000 is 4 bridges; each bridge k on
10.k.0.0/16, NAT'd and forwarded; each container: a namespace, a veth port
with a MAC, an address and a default route; its hosts, resolv.conf and
hostname files) it measures, median of --runs:
  floor   the ip-batch floor: one `ip -batch` for the host side and one
          `ip -n NS -batch` per namespace (the least a shell tool can do),
          plus one `iptables-restore` per table and the files; and the same
          with quiet links (`addrgenmode none`), as pipenet makes them;
  shell   a bash script with one `ip` process per operation, as hand-written
          scripts, the guide's recipe and pipework do: make the pair, move
          the peer, then `ip netns exec NS ip ...` for each setting there
          (one bridge only; skipped above --shell-max);
  up      `pipenet up` from nothing (the CLI, Python start-up included);
  noop    `pipenet up` of the converged topology (an unchanged file: its
          digest matches, and every recorded change is checked against the
          live system before "nothing to change");
  noplan  `pipenet plan` of the same unchanged file (the same live check);
  plan    `pipenet plan` of the converged topology, the file edited by a
          comment (so it is parsed, compiled and compared in full);
  edited  `pipenet up` of that edited file (the same full work, nothing to do);
  down    `pipenet down`, against the floor's own teardown (`ip -batch`: the
          ports deleted as one interface group, the namespaces, the bridges).
It reports medians, ratios, time per container (raw, and with the fixed cost
of an `up` subtracted: the median `up` of the same topology with no
container), pipenet's own CPU per container, and the peak memory (largest
resident set) of the `up` and of the `down` process; --write-docs puts the
tables into docs/performance.md.
Also a chain of N routers joined by /30 point-to-point links (each
forwarding; --chains), against the same work done by ip -batch, and the
Foundations playground (pipenet's own figures; --no-fopnp skips it).
--no-floor measures pipenet alone (no floor, no shell script: their
columns say "not run"), for quick runs while working on pipenet.
Everything runs inside a holder's private network and mount namespaces,
so the machine's network is never touched. Between runs it has the kernel
free the namespaces of the run before and waits until it has (`settle`).
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


def spread(n: int, per: int) -> list[tuple[int, int, int]]:
    """(bridge number, first container, last container) of N containers over bridges of at most `per`
    ports; at least one bridge (N = 0: an empty one, the fixed cost of an `up`)."""
    out = [(b, lo, min(n, lo + per - 1)) for b, lo in enumerate(range(1, n + 1, per))]
    return out or [(0, 1, 0)]


def topology(n: int, per: int = 1000, name: str = "bench") -> str:
    """N containers over bridges of at most `per` ports each, bridge k on 10.k.0.0/16."""
    text = f"topology {name}\n"
    for b, lo, hi in spread(n, per):
        text += f"bridge br{b} {{ address 10.{b}.0.1/16 }}\n"
        if hi >= lo:
            text += f"for i in {lo}..{hi} {{\n    container c${{i}} {{ net br{b} }}\n}}\n"
    return text


def _dot(v: int) -> str:
    return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))


def _addr(b: int, j: int) -> int:
    """The address of the j-th container (from 1) of bridge b."""
    return 0x0A000000 + (b << 16) + 1 + j


def mac(i: int, b: int = 0, j: int | None = None) -> str:
    ip = _addr(b, i if j is None else j)
    return "02:42:" + ":".join(f"{(ip >> s) & 255:02x}" for s in (24, 16, 8, 0))


def floor_batches(n: int, quiet: bool = False, per: int = 1000) -> tuple[str, dict[str, str]]:
    """The ip -batch scripts; `quiet`: no IPv6 autoconfiguration on the bridge and on both ends of each
    port (`addrgenmode none` before a link comes up), as pipenet does for segments without IPv6."""
    q = " addrgenmode none" if quiet else ""
    host, per_ns = [], {}
    for b, lo, hi in spread(n, per):
        host += [f"link add br{b} type bridge", f"link set dev br{b}{q} up", f"addr add 10.{b}.0.1/16 dev br{b}"]
        for i in range(lo, hi + 1):
            ns = f"fl{i}"
            host.append(f"netns add {ns}")
            host.append(f"link add vfl{i} group 7 master br{b} type veth peer name eth0 netns {ns} "
                        f"address {mac(i, b, i - lo + 1)}")
            host.append(f"link set dev vfl{i}{q} up")
            per_ns[ns] = (f"link set lo up\nlink set dev eth0{q} up\naddr add {_dot(_addr(b, i - lo + 1))}/16 dev eth0\n"
                          f"route add default via 10.{b}.0.1\n")
    return "\n".join(host) + "\n", per_ns


def floor_rules(bridges: int) -> dict[str, str]:
    """The firewall of the floor: each bridge forwarded and NAT'd, as pipenet does it."""
    fwd = "".join(f"-A FL-FWD -o br{b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
                  f"-A FL-FWD -i br{b} ! -o br{b} -j ACCEPT\n-A FL-FWD -i br{b} -o br{b} -j ACCEPT\n"
                  for b in range(bridges))
    nat = "".join(f"-A FL-POST -s 10.{b}.0.0/16 ! -o br{b} -j MASQUERADE\n" for b in range(bridges))
    return {"filter": "*filter\n:FL-FWD - [0:0]\n-I FORWARD 1 -j FL-FWD\n" + fwd + "COMMIT\n",
            "nat": "*nat\n:FL-POST - [0:0]\n-I POSTROUTING 1 -j FL-POST\n" + nat + "COMMIT\n"}


FLOOR_RULES = floor_rules(1)


def floor_files(n: int, prefix: str = "fl") -> None:
    """The /etc/netns files a hand-written script writes too (hosts, resolv.conf, hostname)."""
    for i in range(1, n + 1):
        d = f"/etc/netns/{prefix}{i}"
        os.makedirs(d, exist_ok=True)
        for name, text in (("hosts", f"127.0.0.1\tlocalhost\n10.{i // 65536}.{i // 256 % 256}.{i % 256}\tc{i}\n"),
                           ("resolv.conf", "nameserver 8.8.8.8\n"), ("hostname", f"c{i}\n")):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)


def run_floor(n: int, quiet: bool = False, per: int = 1000) -> float:
    """The same kernel work as pipenet's up: ip -batch, one iptables-restore per table, the files."""
    host, per_ns = floor_batches(n, quiet, per)
    t = time.perf_counter()
    subprocess.run(["ip", "-batch", "-"], input=host, text=True, check=True)
    for ns, batch in per_ns.items():
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=True)
    subprocess.run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], check=True)
    for rules in floor_rules(len(spread(n, per))).values():
        subprocess.run(["iptables-restore", "--noflush"], input=rules, text=True, check=True)
    floor_files(n)
    return time.perf_counter() - t


def floor_down(n: int, per: int = 1000) -> float:
    """The floor's teardown: the ports deleted as one interface group (one request, as pipenet does:
    one by one, each deletion waits for an RCU grace period), the namespaces, the bridges."""
    batch = "link del group 7\n" if n else ""
    batch += "".join(f"netns del fl{i}\n" for i in range(1, n + 1))
    batch += "".join(f"link del br{b}\n" for b, _lo, _hi in spread(n, per))
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
    `iptables` process per rule, and the files written by the shell. (The host ends are put in a group, a
    word more in the same command, so that the floor's teardown deletes them as it deletes its own.)"""
    lines = ["set -e", "ip link add br0 type bridge", "ip link set br0 up", "ip addr add 10.0.0.1/16 dev br0"]
    for i in range(1, n + 1):
        ns, a = f"fl{i}", 0x0A000000 + 1 + i
        addr = ".".join(str((a >> s) & 255) for s in (24, 16, 8, 0))
        x = f"ip netns exec {ns} ip"
        lines += [f"ip netns add {ns}", f"ip link add name vfl{i} group 7 type veth peer name pfl{i}",
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
PEAK_OF: dict[tuple[str, str], float] = {}  # the same per (topology, command): "up" (from nothing), "down"
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
    cmd = args[0] if args[0] != "up" or topo not in UP_DONE else "noop"
    PEAK_OF[topo, cmd] = max(PEAK_OF.get((topo, cmd), 0.0), usage.ru_maxrss / 1024)
    if args[0] == "up":
        UP_DONE.add(topo)
    elif args[0] == "down":
        UP_DONE.discard(topo)
    if args[0] == "up":
        USER.setdefault(topo, []).append(usage.ru_utime)
    return elapsed


UP_DONE: set[str] = set()  # topologies that are up (their next `up` is a no-op)


def namespaces_allocated() -> int | None:
    """Network namespaces the kernel holds, machine-wide, removed or not (the net_namespace slab's count
    of objects in use, close to exact); None when /proc/slabinfo does not say."""
    try:
        with open("/proc/slabinfo") as f:
            for line in f:
                if line.startswith("net_namespace "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


#: the kernel's count of namespaces when this benchmark's world was new (`settle` waits to be back there)
BASE: list[int] = []


def settle_first(limit: float = 60.0) -> None:
    """Before the first run: what an earlier run left for the kernel to free, freed (see `settle`),
    waiting until the kernel's count of namespaces has not fallen for a second; that count is `BASE`."""
    last, steady, deadline = namespaces_allocated(), time.monotonic(), time.monotonic() + limit
    if last is None:
        time.sleep(1.0)
        return
    while time.monotonic() - steady < 1.0 and time.monotonic() < deadline:
        _free_one()
        time.sleep(0.25)
        now = namespaces_allocated()
        if now < last:
            last, steady = now, time.monotonic()
    BASE[:] = [last]


def settle(n: int = 0, limit: float = 60.0) -> None:
    """Let the kernel finish tearing down the namespaces of the previous run, at least a second. Its
    cleanup is asynchronous, and after a `down` it may not start at all: the removed namespaces stay
    allocated until another namespace is freed anywhere on the machine (docs/performance.md, the ninth
    pass), and then the kernel's cleanup of thousands of them ran during the next measured command. So
    one is freed here (`_free_one`), again every quarter of a second until the kernel's count of
    namespaces is back to what it was when the world was new (at most `limit` seconds; without
    /proc/slabinfo, a second per thousand namespaces)."""
    start, deadline = time.monotonic(), time.monotonic() + limit
    if not BASE or namespaces_allocated() is None:
        time.sleep(max(1.0, n / 1000))
        return
    while namespaces_allocated() > BASE[0] + 50 and time.monotonic() < deadline:
        _free_one()  # (again and again: the kernel's cleanup of a thousand may stop halfway, until the next)
        time.sleep(0.25)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
    quiesce(first=0.0)  # and the machine idle: the kernel goes on with the freed interfaces after the count


def _free_one() -> None:
    """A namespace made and dropped at once (`unshare --net true`, in the benchmark's world): what has the
    kernel go on freeing the namespaces removed before it."""
    subprocess.run(["unshare", "--net", "true"], check=False)


def _cpu() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # total, idle + iowait


def quiesce(limit: float = 15.0, first: float = 1.0) -> None:
    """Wait (at least `first` seconds, at most `limit` more) until the machine is idle: after a large
    `up` the kernel keeps working on the new interfaces for seconds (bridge port states, IPv6 address
    configuration and its multicast flooded to every port), and after a large teardown on what it freed,
    slowing every process."""
    time.sleep(first)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        t0, i0 = _cpu()
        time.sleep(0.25)
        t1, i1 = _cpu()
        if t1 > t0 and (i1 - i0) / (t1 - t0) >= 0.9:
            break
    warm()


_WARM: list[str] = []


def warm() -> None:
    """Read the files every measured command loads (pipenet's modules and their dependencies, the
    Python binary, `ip` and `iptables-restore`) into the page cache: this project's machine reclaims
    pages unused for about a minute (DAMON `pageout`, docs/performance.md), so the first command after
    a minute of floors read its modules from the disk again (`up` of 100 containers: 0.49 s against
    0.33 s warm). Called by `quiesce`, before every measured command, pipenet's and the floors' alike."""
    if not _WARM:
        code = ("import sys, importlib.util\n"
                "import pipenet.cli.dispatch, pipenet.cli.app, pipenet.api, pipenet.engine.session, "
                "pipenet.engine.live, pipenet.backends.kernel, pipenet.lang.load, pipenet.plan.compile, "
                "pipenet.validate, pipenet.cli.render, rich.table, lark, netaddr\n"
                "for m in list(sys.modules.values()):\n"
                "    f = getattr(m, '__file__', None)\n"
                "    if f:\n"
                "        print(f)\n"
                "        if f.endswith('.py'):\n"
                "            print(importlib.util.cache_from_source(f))\n")
        out = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=REPO).stdout.split()
        binaries = [os.path.realpath(PY)] + [shutil.which(b) or "" for b in ("ip", "iptables-restore")]
        _WARM.extend(f for f in out + binaries if f and os.path.isfile(f))
    for f in _WARM:
        try:
            with open(f, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except OSError:
            pass


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
    med["peak_up_mb"] = PEAK_OF.get((label, "up"), 0.0)
    med["peak_down_mb"] = PEAK_OF.get((label, "down"), 0.0)
    sys.stderr.write(f"{label}: " + ", ".join(f"{k} {v:.3f}" for k, v in med.items()) + "\n")
    return med


def empty_up(tmp: str, runs: int, per: int) -> float:
    """The fixed cost of an `up` (Python's start-up, imports, the state, one bridge made and NAT'd):
    the median `up` of a topology of one bridge and no container."""
    path = os.path.join(tmp, "empty.pn")
    with open(path, "w") as f:
        f.write(topology(0, per))
    times = []
    for _ in range(max(runs, 3)):
        times.append(pipenet("empty", "up", path))
        pipenet("empty", "down", "bench")
        settle()
    return statistics.median(times)


def inside(sizes: list[int], runs: int, shell_max: int, chain_sizes: list[int] = (), per: int = 1000,
           fopnp: bool = True, floor: bool = True, state_on_disk: bool = False) -> dict:
    if state_on_disk:
        # pipenet's records and journals in a directory of the root filesystem, not the world's tmpfs
        # /run: as on a machine whose /run is no tmpfs (this project's is a directory of its ext4 root)
        state = tempfile.mkdtemp(prefix="pipenet-bench-state-", dir="/var/tmp")
        os.environ["PIPENET_STATE_DIR"] = state
        try:
            return inside(sizes, runs, shell_max, chain_sizes, per, fopnp, floor)
        finally:
            del os.environ["PIPENET_STATE_DIR"]
            shutil.rmtree(state, ignore_errors=True)
    results = {}
    tmp = tempfile.mkdtemp(prefix="pipenet-bench-")
    settle_first()
    if sizes:
        results["empty"] = {"up": empty_up(tmp, runs, per)}
    for n in sizes:
        path = os.path.join(tmp, f"bench{n}.pn")
        with open(path, "w") as f:
            f.write(topology(n, per))
        rows: dict[str, list[float]] = {k: [] for k in ("floor", "floor_quiet", "floor_down", "shell")}
        for _ in range(runs):
            if floor:
                rows["floor"].append(run_floor(n, per=per))
                rows["floor_down"].append(floor_down(n, per))
                settle(n)
                rows["floor_quiet"].append(run_floor(n, quiet=True, per=per))
                floor_down(n, per)
                settle(n)
            if floor and n <= shell_max and n <= per:
                rows["shell"].append(run_shell(n, os.path.join(tmp, f"shell{n}.sh")))
                floor_down(n, per)
                settle(n)
            pipenet_rows(rows, str(n), path, "bench")
            settle(n)
        results[n] = medians(str(n), rows)
        results[n]["bridges"] = len(spread(n, per))
    for n in chain_sizes:
        path = os.path.join(tmp, f"chain{n}.pn")
        with open(path, "w") as f:
            f.write(chain_topology(n))
        rows = {k: [] for k in ("floor", "floor_down")}
        for _ in range(runs):
            if floor:
                rows["floor"].append(chain_floor(n))
                rows["floor_down"].append(chain_floor_down(n))
                settle(n)
            pipenet_rows(rows, f"chain{n}", path, "bench")
            settle(n)
        results[f"chain{n}"] = medians(f"chain{n}", rows)
    if not fopnp:
        return results
    fopnp = os.path.join(tmp, "foundations.pn")  # a copy: the benchmark edits the file it measures
    with open(os.path.join(REPO, "examples", "foundations.pn")) as src, open(fopnp, "w") as dst:
        dst.write(src.read())
    rows = {}
    for _ in range(runs):
        pipenet_rows(rows, "fopnp", fopnp, "fopnp")
        settle()
    results["fopnp"] = medians("fopnp", rows)
    return results


def _s(m: dict, key: str) -> str:
    """A time in the table, or "(not run)" (--no-floor)."""
    return f"{m[key]:.2f} s" if key in m else "(not run)"


def _x(m: dict, key: str, floor: str) -> str:
    """A ratio to a floor, or nothing when the floor was not run."""
    return f"{m[key] / m[floor]:.2f}x" if floor in m else ""


def table(results: dict) -> str:
    empty = results.get("empty", {}).get("up")
    lines = ["| N containers | bridges | floor (ip -batch) | floor, quiet links | one ip per op | pipenet up | "
             "up / quiet floor | "
             "one ip per op / up | no-op up | no-op plan | no-op up, edited file | plan, edited file | down | "
             "floor teardown | down / floor teardown | "
             "up per container | up per container, start-up subtracted | pipenet's own CPU per container | "
             "peak memory, up | peak memory, down |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, m in results.items():
        if not str(n).isdigit():
            continue
        n = int(n)
        shell = m.get("shell")
        marginal = f"{1000 * (m['up'] - empty) / n:.2f} ms" if empty is not None else ""
        lines.append(f"| {n} | {m.get('bridges', 1)} | {_s(m, 'floor')} | {_s(m, 'floor_quiet')} | " +
                     (f"{shell:.2f} s" if shell else "(not run)") +
                     f" | {m['up']:.2f} s | {_x(m, 'up', 'floor_quiet')} | " +
                     (f"{shell / m['up']:.1f}x" if shell else "") +
                     f" | {m['noop']:.2f} s | {m['noplan']:.2f} s | {m['noop_full']:.2f} s | {m['plan']:.2f} s | "
                     f"{m['down']:.2f} s | {_s(m, 'floor_down')} | "
                     f"{_x(m, 'down', 'floor_down')} | {1000 * m['up'] / n:.2f} ms | {marginal} | "
                     f"{1e6 * m['up_user'] / n:.0f} us | {m['peak_up_mb']:.0f} MB | {m['peak_down_mb']:.0f} MB |")
    if empty is not None:
        lines += ["", f"Start-up subtracted: the median `up` of the same topology with no container (one bridge, "
                      f"NAT'd): {empty:.2f} s."]
    chains = [(k, m) for k, m in results.items() if str(k).startswith("chain")]
    if chains:
        lines += ["", "| chain of N routers (p2p /30 links, forwarding) | floor | pipenet up | up / floor | "
                      "no-op up | no-op up, edited file | plan | down | floor teardown | peak memory |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for k, m in chains:
            lines.append(f"| {k[5:]} | {_s(m, 'floor')} | {m['up']:.2f} s | {_x(m, 'up', 'floor')} | "
                         f"{m['noop']:.2f} s | {m['noop_full']:.2f} s | {m['plan']:.2f} s | {m['down']:.2f} s | "
                         f"{_s(m, 'floor_down')} | "
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
    ap.add_argument("--per-bridge", type=int, default=1000, help="containers per bridge (at most 1,023)")
    ap.add_argument("--no-fopnp", action="store_true", help="skip the Foundations playground")
    ap.add_argument("--no-floor", action="store_true", help="pipenet alone: no floor, no shell script")
    ap.add_argument("--state-on-disk", action="store_true",
                    help="pipenet's state directory on the root filesystem, not a tmpfs (its own docs section)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--write-docs", action="store_true", help="put the tables into docs/performance.md")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s]
    chains = [int(c) for c in a.chains.split(",") if c]
    if a.inside:
        print(json.dumps(inside(sizes, a.runs, a.shell_max, chains, a.per_bridge, not a.no_fopnp, not a.no_floor,
                                a.state_on_disk)))
        return
    from world import measure_inside, publish

    results = measure_inside(__file__, ["--sizes", a.sizes, "--runs", str(a.runs), "--shell-max", str(a.shell_max),
                                        "--chains", a.chains, "--per-bridge", str(a.per_bridge)]
                             + (["--no-fopnp"] if a.no_fopnp else []) + (["--no-floor"] if a.no_floor else [])
                             + (["--state-on-disk"] if a.state_on_disk else []))
    publish("engine", table(results), results, a.write_docs, a.json,
            "engine-disk" if a.state_on_disk else "engine")


if __name__ == "__main__":
    main()
