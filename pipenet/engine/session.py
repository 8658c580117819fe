"""What `plan`, `up` and `down` do, from file or record to kernel and back.

up:   front end -> resolve `address auto` and docker PIDs -> compile -> diff
      against the record -> checks (ownership, kernel features) -> execute
      (journaled, rolled back on failure) -> write the record.
down: the record's ops -> diff against nothing -> execute -> remove the record.
Both first finish off a journal left by a killed run (by undoing what it had
started), under the topology's lock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipenet.engine import inputs
from pipenet.engine.executor import execute, rollback
from pipenet.engine.journal import Journal, pending
from pipenet.engine.state import StateDir, all_topologies
from pipenet.errors import ApplyFailed, Leftovers, PipenetError, UsageError
from pipenet.plan.diff import Plan, diff
from pipenet.plan.ops import Op

if TYPE_CHECKING:
    from netaddr import IPSet

    from pipenet.ir import Topology

# The front end (parser, IR, netaddr) is imported where a file is read, not here: `down NAME` works
# from the record alone and should not pay for it.


@dataclass
class Prepared:
    topo: Topology
    plan: Plan
    record: dict | None
    ns: dict[str, str]
    resolved: dict[str, str]
    state: StateDir
    notes: list[str] = field(default_factory=list)
    ports: dict = field(default_factory=dict)
    published: list = field(default_factory=list)
    recorded_keys: set = field(default_factory=set)


def recorded_ops(record: dict | None) -> list[Op]:
    return [Op.from_json(o) for o in (record or {}).get("ops", [])]


def _taken_subnets(k, exclude: str) -> IPSet:
    """Subnets in use: the host's addresses and routes, and every other topology's bridges."""
    from netaddr import IPNetwork, IPSet

    taken = IPSet()
    for m in k.ns.root.nl.addrs():
        ip = m.get_attr("IFA_ADDRESS") or m.get_attr("IFA_LOCAL")
        if ip and ":" not in ip and not ip.startswith("127."):
            taken.add(IPNetwork(f"{ip}/{m['prefixlen']}").cidr)
    for m in k.ns.root.nl.routes():
        dst = m.get_attr("RTA_DST")
        if dst and m["dst_len"] > 0 and m.get_attr("RTA_TABLE") == 254:
            taken.add(IPNetwork(f"{dst}/{m['dst_len']}").cidr)
    for name in all_topologies():
        if name == exclude:
            continue
        rec = StateDir(name).load() or {}
        for text in rec.get("subnets", []):
            taken.add(IPNetwork(text).cidr)
    return taken


def docker_pid(name: str) -> int:
    docker = shutil.which("docker")
    if docker is None:
        raise UsageError(f"attach docker {name}: the docker command is not installed")
    try:
        r = subprocess.run([docker, "inspect", "-f", "{{.State.Pid}}", name], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UsageError(f"attach docker {name}: docker inspect failed: {e}") from None
    pid = r.stdout.strip()
    if r.returncode != 0 or not pid.isdigit() or pid == "0":
        why = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "it is not running"
        raise UsageError(f"attach docker {name}: {why}")
    return int(pid)


def prepare(path: str, k, loaded: tuple[str, Topology] | None = None) -> Prepared:
    """The plan for `path`; `loaded` is (text, topology) when the caller has read the file already."""
    from pipenet.engine import autoaddr
    from pipenet.lang.load import load_text, read
    from pipenet.plan.compile import compile_topology

    text, topo = loaded if loaded is not None else (None, None)
    if topo is None:
        text = read(path)
        topo = load_text(text, path)
    state = StateDir(topo.name)
    record = state.load()
    resolved = {}
    if any(b.auto for b in topo.bridges):
        chosen = autoaddr.choose(topo, (record or {}).get("resolved", {}), _taken_subnets(k, topo.name))
        resolved = {n: a.cidr for n, a in chosen.items()}
        topo = load_text(text, path, resolved=chosen)
    pids = {c.name: docker_pid(c.attach.value) for c in topo.containers
            if c.attach is not None and c.attach.kind == "docker"}
    from pipenet.engine import ports as host_ports
    from pipenet.plan.compile import auto_ports_needed, published

    chosen = {}
    needed = auto_ports_needed(topo)
    if needed:  # reading the host's sockets costs milliseconds: only when ports must be chosen
        explicit = {(p.host_port, p.proto) for c in topo.containers for p in c.publish if p.host_port is not None}
        mine = {(e["host_port"], e["proto"]) for e in (record or {}).get("published", [])}
        taken = (host_ports.listening() - mine) | set(host_ports.published_elsewhere(topo.name))
        chosen = host_ports.choose(needed, (record or {}).get("ports", {}), explicit, taken)
    desired, ns = compile_topology(topo, pids, chosen, inputs.host_resolv(), os.path.join(state.path, "logs"))
    before = recorded_ops(record)
    plan = diff(desired, before)
    p = Prepared(topo, plan, record, ns, resolved, state)
    p.recorded_keys = {o.key for o in before}
    p.ports = chosen
    p.published = published(topo, chosen)
    return p


def recover(state: StateDir, k) -> list[str]:
    """Undo the steps a killed run had started (its journal), so the record is true again."""
    started = pending(state.journal_path)
    if started is None:
        return []
    leftovers = rollback(started, k)
    state.refresh(remade(started))
    if leftovers:
        raise Leftovers(f"an interrupted run of {state.topology} could not be fully undone", leftovers)
    Journal(state.journal_path).finish()
    return [f"finished off an interrupted run of {state.topology} ({len(started)} steps undone)"]


#: how long a started process must stay alive for `up` to count it as started
SETTLE_SECONDS = 0.3


def verify_processes(plan: Plan, k, journal: Journal) -> None:
    """A `run` command that died straight after starting fails `up`, which rolls everything back."""
    from pipenet.backends.processes import alive
    from pipenet.plan.ops import StartProcess

    started = [s for s in plan.steps if s.action == "apply" and isinstance(s.op, StartProcess)]
    if not started:
        return
    time.sleep(SETTLE_SECONDS)
    dead = [s.op for s in started if not alive(s.op.saved)]
    if not dead:
        return
    journal.rollback()
    leftovers = rollback(plan.steps, k)
    op = dead[0]
    reason = f"`{' '.join(op.argv)}` in {op.node} exited just after it started (its log: {op.log})"
    if leftovers:
        raise Leftovers(f"{reason}; and the rollback could not undo everything", leftovers)
    journal.finish()
    raise ApplyFailed(f"{reason}; rolled back, the system is as it was before")


def check_ports(p: Prepared) -> None:
    """A published host port that something else listens on, or another topology publishes, is an error."""
    from pipenet.engine import ports as host_ports
    from pipenet.errors import Conflict

    mine = {(e["host_port"], e["proto"]) for e in (p.record or {}).get("published", [])}
    busy = host_ports.listening() if p.published else set()
    elsewhere = host_ports.published_elsewhere(p.topo.name)
    problems = []
    for x in p.published:
        key = (x.host_port, x.proto)
        if key in elsewhere:
            problems.append(f"host port {x.host_port}/{x.proto} of {x.node} is already published by topology "
                            f"{elsewhere[key]}")
        elif key in busy and key not in mine:
            problems.append(f"host port {x.host_port}/{x.proto} of {x.node} is already in use on the host "
                            f"by a program pipenet did not start")
    if any(op.kind == "firewall" for op in p.plan.final):
        import shutil

        if shutil.which("iptables-restore") is None:
            problems.append("this topology needs firewall rules, but iptables is not installed "
                            "(apt-get install iptables)")
    if problems:
        raise Conflict(problems)


def remade(steps) -> list:
    """The recorded ops a rollback made again: undone removals and what went with them."""
    out = []
    for s in steps:
        if s.action == "remove":
            out.append(s.op)
            out.extend(s.implied)
    return out


def record_for(p: Prepared, plan: Plan, path: str) -> dict:
    subnets = [str(b.subnet) for b in p.topo.bridges if b.subnet is not None]
    return {"topology": p.topo.name, "file": os.path.abspath(path), "ops": [o.to_json() for o in plan.final],
            "ns": p.ns, "resolved": p.resolved, "subnets": subnets, "ports": p.ports,
            "published": [{"node": x.node, "host_ip": x.host_ip, "host_port": x.host_port, "proto": x.proto,
                           "ip": x.ip, "port": x.port} for x in p.published],
            "hostnames": {c.name: c.hostname for c in p.topo.containers},
            "bridges": sorted(b.name for b in p.topo.bridges if not b.external)}


def up(path: str, k, progress=None, loaded: tuple[str, Topology] | None = None) -> tuple[Prepared, float]:
    from pipenet.engine.checks import check_features, check_ownership
    from pipenet.lang.load import load_text, read

    if loaded is None:
        text = read(path)
        loaded = (text, load_text(text, path))
    from pipenet.engine import claims

    state = StateDir(loaded[1].name)
    with state.lock():
        notes = recover(state, k)
        with claims.root_lock():  # plan, check and claim while no other up can claim the same things
            p = prepare(path, k, loaded)
            p.notes = notes
            try:
                check_features(p.plan, k)
                claims.check(p)  # first: it names the topology that owns what is in the way
                check_ports(p)
                check_ownership(p.plan, p.topo, k, p.recorded_keys)
            except PipenetError:
                if p.record is None:
                    state.remove()
                raise
            if not p.plan.empty:
                claims.write(p)
        t0 = time.perf_counter()
        if not p.plan.empty:
            journal = Journal(state.journal_path)
            try:
                execute(p.plan, k, journal, p.record, progress)
                verify_processes(p.plan, k, journal)
            except ApplyFailed:
                claims.drop(p.topo.name)
                if p.record is None:
                    state.remove()  # rolled back to nothing: leave no trace
                else:
                    state.refresh(remade(p.plan.steps))
                raise
            state.save(record_for(p, p.plan, path))
            claims.drop(p.topo.name)
            journal.finish()
        elif p.record is None:
            state.save(record_for(p, p.plan, path))
        inputs.remember(path, loaded[0], loaded[1])  # the record now matches this text
        return p, time.perf_counter() - t0


def topology_name(arg: str) -> str:
    """`down FILE|TOPOLOGY`: a path to a .pn file names its topology; anything else is a name."""
    if arg.endswith(".pn") or os.path.sep in arg:
        if os.path.exists(arg):
            from pipenet.lang.load import load_text, read

            try:
                return load_text(read(arg), arg).name
            except PipenetError:
                base = os.path.basename(arg)
                return base[:-3] if base.endswith(".pn") else base
        base = os.path.basename(arg)
        return base[:-3] if base.endswith(".pn") else base
    return arg


def down(name: str, k, progress=None) -> tuple[Plan, bool]:
    state = StateDir(name)
    if not os.path.isdir(state.path):
        return Plan([], []), False
    with state.lock():
        recover(state, k)
        record = state.load()
        plan = diff([], recorded_ops(record))
        if not plan.empty:
            journal = Journal(state.journal_path)
            execute(plan, k, journal, record, progress)
            journal.finish()
        state.remove()
        return plan, True
