"""What `plan`, `up` and `down` do, from file or record to kernel and back.

plan: front end -> resolve `address auto`, external bridges and docker PIDs
      -> compile -> read the live system -> diff against record and live
      -> preflight (preconditions, ownership, kernel features, the host
      ledger, other topologies' claims): every refusal before any change.
up:   under the topology's lock, take over an interrupted run if there is
      one, then plan -> execute (journaled, rolled back on failure) -> write
      the record (its generation one higher). Overrides set at runtime
      (`pipenet link`, `pipenet shape`) are reset to the file's state.
down: the record's ops, checked against the live system -> remove what is
      there and pipenet's -> remove the record. `down --force` works from the
      marks on the live system alone, for a record that cannot be trusted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipenet.engine import inputs
from pipenet.engine import journal as journals
from pipenet.engine.executor import batch_at, execute, in_background, rollback
from pipenet.engine.journal import Journal
from pipenet.engine.live import LiveView
from pipenet.engine.records import recorded_ops
from pipenet.engine.state import StateDir, all_topologies
from pipenet.engine.vouch import Vouching, last_changing
from pipenet.errors import ApplyFailed, Conflict, CorruptState, Leftovers, PipenetError, UsageError
from pipenet.gcpause import keep
from pipenet.plan.diff import Plan, diff
from pipenet.plan.ops import Op

if TYPE_CHECKING:
    from netaddr import IPSet

    from pipenet.ir import Topology

# The front end (parser, IR, netaddr) is imported where a file is read, not here: `down NAME` works
# from the record alone and should not pay for it.

#: the record's keys besides its operations, and how two of them are merged after an interrupted run
_META_UNION = ("ns", "hostnames", "resolved", "ports")
_META_LISTS = ("subnets", "bridges", "published")


@dataclass
class Prepared:
    topo: Topology
    plan: Plan
    record: dict | None
    ns: dict[str, str]
    resolved: dict[str, str]
    state: StateDir
    view: LiveView
    notes: list[str] = field(default_factory=list)
    #: (action, kind) of each change `up` made beyond its plan (a shaping set at runtime, removed), counted
    #: with the plan's steps in what `up` says, as `plan` shows them among its steps
    beyond: list = field(default_factory=list)
    ports: dict = field(default_factory=dict)
    published: list = field(default_factory=list)
    recorded_keys: set = field(default_factory=set)
    vouching: object = None  # (`engine.vouch`: the check of what `up` made, under way)
    saved: dict | None = None  # (the record as `up` wrote it)

    @property
    def generation(self) -> int:
        return (self.record or {}).get("generation", 0)


def _taken_subnets(view: LiveView, exclude: str) -> IPSet:
    """Subnets in use: the host's addresses and routes, and every other topology's bridges."""
    from netaddr import IPNetwork, IPSet

    taken = IPSet()
    host = view.namespace("")
    for a in host.addresses:
        if ":" not in a.ip and not a.ip.startswith("127."):
            taken.add(IPNetwork(f"{a.ip}/{a.prefixlen}").cidr)
    for r in host.routes:
        if r.dest != "default" and r.family == 4:
            taken.add(IPNetwork(r.dest).cidr)
    for name in all_topologies():
        if name == exclude:
            continue
        try:
            rec = StateDir(name).load() or {}
        except PipenetError:
            continue
        for text in rec.get("subnets", []):
            taken.add(IPNetwork(text).cidr)
    return taken


def _external_addresses(topo: Topology, view: LiveView) -> tuple[dict, list[str]]:
    """An external bridge uses the address it has, as Docker's `-b` does: (resolved, conflicts).
    Declaring an address it does not have, while it has another, is a conflict."""
    from netaddr import IPNetwork

    from pipenet.ir import IfAddr

    resolved, problems = {}, []
    host = view.namespace("")
    for b in topo.bridges:
        if not b.external or b.name not in host.links:
            continue
        live = [a for a in host.addresses_of(b.name) if ":" not in a.ip]
        if b.address is None:
            if live:
                net = IPNetwork(live[0].cidr)
                resolved[b.name] = IfAddr(net.ip, net.prefixlen)
        elif live and not any(a.ip == str(b.address.ip) and a.prefixlen == b.address.prefixlen for a in live):
            have = ", ".join(a.cidr for a in live)
            problems.append(f"bridge {b.name} is external and has {have}, but the file says address {b.address}: "
                            f"drop the address to use the bridge's own, or change it to match")
    return resolved, problems


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
    """The plan for `path` against the record and the live system; every refusal is raised here,
    before any change (plan and up refuse alike)."""
    from pipenet.engine import autoaddr
    from pipenet.engine import ports as host_ports
    from pipenet.lang.load import load_text, read
    from pipenet.plan.compile import auto_ports_needed, compile_topology, published

    text, topo = loaded if loaded is not None else (None, None)
    if topo is None:
        text = read(path)
        topo = load_text(text, path)
    state = StateDir(topo.name)
    record = state.load()
    view = LiveView(k)
    problems: list[str] = []
    resolved: dict = {}
    if any(b.auto for b in topo.bridges):
        chosen = autoaddr.choose(topo, (record or {}).get("resolved", {}), _taken_subnets(view, topo.name))
        resolved.update(chosen)
    if any(b.external for b in topo.bridges):
        external, problems = _external_addresses(topo, view)
        resolved.update(external)
    if resolved:
        topo = load_text(text, path, resolved=resolved)
    pids = {c.name: docker_pid(c.attach.value) for c in topo.containers
            if c.attach is not None and c.attach.kind == "docker"}
    chosen_ports = {}
    needed = auto_ports_needed(topo)
    if needed:  # reading the host's sockets costs milliseconds: only when ports must be chosen
        explicit = {(p.host_port, p.proto) for c in topo.containers for p in c.publish if p.host_port is not None}
        mine = {(e["host_port"], e["proto"]) for e in (record or {}).get("published", [])}
        taken = (host_ports.listening() - mine) | set(host_ports.published_elsewhere(topo.name))
        chosen_ports = host_ports.choose(needed, (record or {}).get("ports", {}), explicit, taken)
    desired, ns = compile_topology(topo, pids, chosen_ports, inputs.host_resolv(), os.path.join(state.path, "logs"))
    before = recorded_ops(record, state)
    view.want_sysctls(desired + before)
    problems += _preconditions(topo, desired, view, before)
    if problems:
        raise Conflict(problems)
    plan = diff(desired, before, view)
    p = Prepared(topo, plan, record, ns, {n: a.cidr for n, a in resolved.items() if n in
                                           {b.name for b in topo.bridges if b.auto}}, state, view)
    p.recorded_keys = {o.key for o in before}
    p.ports = chosen_ports
    p.published = published(topo, chosen_ports)
    return p


def _preconditions(topo: Topology, desired: list[Op], view: LiveView, before: list[Op] = ()) -> list[str]:
    """What must already exist for `up` to work: attached namespaces, host interfaces, external bridges."""
    problems = []
    host = view.namespace("")
    for op in desired:
        if op.kind == "use-netns" and not view.exists(op.ns):
            problems.append(f"{op.node} attaches to {op.ns}, which does not exist (is the process running?)")
        elif op.kind == "link" and op.parent_node == "host" and op.parent not in host.links:
            problems.append(f"{op.node}:{op.name} is a {op.link_kind} of host:{op.parent}, which does not exist")
    for b in topo.bridges:
        if b.external and b.name not in host.links:
            problems.append(f"bridge {b.name} is declared external but does not exist; create it first "
                            f"(ip link add name {b.name} type bridge) or drop `external`")
        elif b.external and host.links[b.name].kind != "bridge":
            problems.append(f"bridge {b.name} is declared external, but {b.name} is a "
                            f"{host.links[b.name].kind or 'device'}, not a bridge")
        elif b.external:
            problems += _room_on(b.name, desired, before, host)
    return problems


def _room_on(bridge: str, desired: list[Op], before: list[Op], host) -> list[str]:
    """An external bridge's ports already there (someone else's among them), with those this topology
    will have, within the kernel's 1,023: the file's own count is checked before (`validate.hostside`),
    but only `up` sees the others, which the kernel would refuse one port in with "Exchange full". This
    topology's own ports there now (`before`, its record) are counted as the plan leaves them."""
    from pipenet.validate.hostside import MAX_BRIDGE_PORTS

    def ports(ops) -> set[str]:
        return {op.name for op in ops if getattr(op, "master", None) == bridge and getattr(op, "ns", None) == ""}

    ours = ports(desired)
    others = {name for name, link in host.links.items() if link.master == bridge} - ports(before)
    if len(others | ours) <= MAX_BRIDGE_PORTS:
        return []
    return [f"bridge {bridge} has {len(others):,} ports of others, and the {len(ours):,} of this topology would "
            f"make {len(others | ours):,}; a Linux bridge holds at most {MAX_BRIDGE_PORTS:,}: put some of the "
            f"containers on a bridge of their own (joined to {bridge} by a p2p link or a router container)"]


def preflight(p: Prepared, k) -> None:
    """Every refusal that needs more than the plan: kernel features, ports, the host-settings ledger,
    other topologies' claims, rules that block a removal, iptables being installed."""
    from pipenet.engine import claims
    from pipenet.engine.checks import check_features

    check_features(p.plan, k)
    claims.check(p)  # first: it names the topology that owns what is in the way
    check_ports(p)
    from pipenet.backends.ledger import LedgerError

    try:
        problems = k.ledger().conflicts(p.topo.name, {op.name: op.value for op in p.plan.final
                                                      if op.kind == "host-setting"})
    except LedgerError as e:
        raise CorruptState(e.strerror or str(e)) from None
    for step in p.plan.steps:
        if step.action == "remove" and step.op.kind == "firewall":
            problems += step.op.blockers(p.view)
        elif step.action == "apply" and step.op.kind in ("link", "tunnel") and p.view is not None:
            held = step.op.held(p.view)  # (a VXLAN id and port another's tunnel holds where it is made)
            if held:
                problems.append(held)
    if problems:
        raise Conflict(problems)


def recover(state: StateDir) -> list[str]:
    """Take over what a killed run left: a journal whose base is the record's generation belongs to a
    run that died before writing its record. Every step it started may have changed the kernel, so
    each goes into the record (with what it saved); nothing is undone here. The next `up` then
    brings the live system to the file, and the next `down` removes whatever of it is live and
    pipenet's. A journal of a run that had written its record is simply removed."""
    pending = journals.read(state.journal_path)
    if pending is None:
        return []
    record = state.load()
    generation = (record or {}).get("generation", 0)
    if pending.base != generation or not pending.started:
        Journal(state.journal_path).finish()
        return []
    ops = {o.key: o for o in recorded_ops(record, state)}
    order = list(ops)
    for step in pending.started:
        for op in [step.op] + list(step.implied):
            if op.key not in ops:
                order.append(op.key)
            if step.action != "remove" or op.key not in ops:
                ops[op.key] = op
    merged = dict(record or {"topology": state.topology})
    meta = pending.meta
    for key in _META_UNION:
        merged[key] = dict(merged.get(key) or {}, **(meta.get(key) or {}))
    for key in _META_LISTS:
        seen = [x for x in (merged.get(key) or [])]
        seen += [x for x in (meta.get(key) or []) if x not in seen]
        merged[key] = seen
    if meta.get("file"):
        merged["file"] = meta["file"]
    merged["ops"] = [ops[key].to_json() for key in order]
    merged["generation"] = generation + 1
    merged.pop("down", None)
    try:
        state.save(merged)
    except OSError as e:
        raise CorruptState(f"an interrupted run of {state.topology} left a journal, and the record that takes it "
                           f"over cannot be written ({e.strerror or e}); free some room in {state.root} and run "
                           f"the command again") from None
    Journal(state.journal_path).finish()
    verb = "down" if pending.command == "down" else "up"
    return [f"took over an interrupted run ({verb}) of {state.topology}: the {len(pending.started)} steps it had "
            f"started are in the record, and this run goes on from the live system"]


#: how long a started process must stay alive for `up` to count it as started
SETTLE_SECONDS = 0.3
#: how many lines of a dead process's log a failed `up` prints
LOG_TAIL = 8


def verify_processes(p: Prepared, k, journal: Journal) -> None:
    """A `run` command that died straight after starting fails `up`, which rolls everything back; its
    log is kept where the rollback does not remove it, and its last lines are printed."""
    from pipenet.backends.processes import alive

    started = [s for s in p.plan.steps if s.action == "apply" and s.op.kind == "process"]
    if not started:
        return
    time.sleep(SETTLE_SECONDS)
    dead = [s.op for s in started if not alive(s.op.saved)]
    if not dead:
        return
    op = dead[0]
    kept = keep_log(p.state, op.log)
    if p.vouching is not None:
        p.vouching.drop()  # (before the rollback)
    try:
        journal.rollback()
    except OSError:
        pass
    leftovers = rollback(p.plan.steps, k)
    tail = _tail(kept)
    reason = (f"`{' '.join(op.argv)}` in {op.node} exited just after it started; the end of its log"
              + (":\n" + "\n".join(f"    {line}" for line in tail) if tail else " is empty")
              + f"\n  (the whole log is kept in {kept})")
    if leftovers:
        raise Leftovers(f"{reason}\nand the rollback could not undo everything", leftovers)
    journal.finish()
    raise ApplyFailed(f"{reason}\nrolled back, the system is as it was before")


def keep_log(state: StateDir, log: str) -> str:
    """Copy a failed process's log out of the topology's directory (a rollback removes that)."""
    where = os.path.join(state.root, ".failed")
    try:
        from pipenet.fsutil import make_private_dir, write_atomic

        make_private_dir(where)
        with open(log, "rb") as f:
            data = f.read()[-(1 << 20):]
        target = os.path.join(where, f"{state.topology}.{os.path.basename(log)}")
        write_atomic(target, data, 0o600, durable=False)
        return target
    except OSError:
        return log


def forget_failed_logs(state: StateDir) -> None:
    """The logs kept from this topology's failed `up`s go once it is up (or down)."""
    where = os.path.join(state.root, ".failed")
    try:
        names = os.listdir(where)
    except OSError:
        return
    for name in names:
        if name.startswith(state.topology + "."):
            try:
                os.unlink(os.path.join(where, name))
            except OSError:
                pass
    try:
        os.rmdir(where)
    except OSError:
        pass


def _tail(path: str) -> list[str]:
    try:
        with open(path, errors="replace") as f:
            lines = [l.rstrip("\n") for l in f.readlines() if not l.startswith("--- pipenet: starting")]
    except OSError:
        return []
    return lines[-LOG_TAIL:]


def check_ports(p: Prepared) -> None:
    """A published host port that something else listens on, or another topology publishes, is an error."""
    from pipenet.engine import ports as host_ports

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
        from pipenet.backends import iptables

        if iptables.binary() is None:
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


def meta_for(p: Prepared, path: str) -> dict:
    """Everything the record says besides its operations."""
    from pipenet.plan.firewall import chain_base

    subnets = [str(s) for b in p.topo.bridges for s in (b.subnet, b.subnet6) if s is not None]  # (both families)
    return {"topology": p.topo.name, "file": None if path.startswith("<") else os.path.abspath(path),
            "ns": p.ns, "resolved": p.resolved, "subnets": subnets, "ports": p.ports,
            "published": [{"node": x.node, "host_ip": x.host_ip, "host_port": x.host_port, "proto": x.proto,
                           "ip": x.ip, "port": x.port} for x in p.published],
            "hostnames": {c.name: c.uts_hostname for c in p.topo.containers},
            "bridges": sorted(b.name for b in p.topo.bridges if not b.external),
            "chains": chain_base(p.topo.name)}


def record_for(p: Prepared, plan: Plan, path: str) -> dict:
    return dict(meta_for(p, path), ops=[o.to_json() for o in plan.final], generation=p.generation + 1)


def up(path: str, k, progress=None, loaded: tuple[str, Topology] | None = None,
       agreed=None) -> tuple[Prepared, float] | None:
    """Plan, check and claim, then apply. `agreed(p)`, when given, is asked between the two (the plan is
    made and claimed, nothing changed yet): a machine of a topology across machines waits there for the
    coordinator's word; False leaves everything as it was and returns None."""
    from pipenet.engine import claims, runtime
    from pipenet.lang.load import load_text, read

    if loaded is None:
        text = read(path)
        loaded = (text, load_text(text, path))
    state = StateDir(loaded[1].name)
    with state.lock():
        notes = recover(state)
        with claims.root_lock():  # plan, check and claim while no other up can claim the same things
            try:
                p = prepare(path, k, loaded)
                p.notes = notes
                preflight(p, k)
            except PipenetError:
                if state.load() is None:
                    state.remove()
                raise
            if not p.plan.empty:
                try:
                    claims.write(p)
                except OSError as e:
                    if state.load() is None:
                        state.remove()
                    raise UsageError(f"cannot write {p.topo.name}'s claim in {state.path} ({e.strerror or e}); "
                                     f"nothing was changed") from None
        if agreed is not None and not agreed(p):
            claims.drop(p.topo.name)
            if state.load() is None:
                state.remove()
            return None
        t0 = time.perf_counter()
        reset, removed = runtime.reset(p.record, p.plan.final, k)  # (what the plan does not put right itself)
        p.notes += reset
        p.beyond += [("remove", "shape")] * removed
        if not p.plan.empty:
            _apply(p, k, path, progress)
        elif reset:  # the record, without its overrides
            state.save({key: value for key, value in p.record.items() if key != "runtime"})
        elif p.record is None:
            try:
                state.save(record_for(p, p.plan, path))
            except OSError as e:
                state.remove()
                raise UsageError(f"cannot write {p.topo.name}'s record in {state.path} ({e.strerror or e}); "
                                 f"nothing was changed") from None
        try:
            claims.drop(p.topo.name)
            forget_failed_logs(state)
            inputs.remember(path, loaded[0], loaded[1], k)  # the record now matches this text
        except BaseException:
            if p.vouching is not None:
                p.vouching.drop()
            raise
        if p.vouching is not None and p.saved is not None:
            p.vouching.finish(p.state, p.saved)  # (the memo of what this run made: `engine.vouch`)
        keep(p, k)
        return p, time.perf_counter() - t0


def _apply(p: Prepared, k, path: str, progress) -> None:
    """Execute the plan, then commit: the record (one generation up) is written before the journal
    goes, so a run killed in between is recognised as committed."""
    from pipenet.engine import claims

    state = p.state
    record = record_for(p, p.plan, path)
    try:
        state.reserve(len(str(record)) * 2 + 65536)
    except OSError as e:
        claims.drop(p.topo.name)
        if p.record is None:
            state.remove()
        raise UsageError(f"no room to keep {p.topo.name}'s state in {state.path} ({e.strerror}); "
                         f"nothing was changed") from None
    journal = Journal(state.journal_path)
    vouching = p.vouching = Vouching(p.plan, k)  # (the memo of what this run makes: `engine.vouch`)
    try:
        try:
            execute(p.plan, k, journal, p.generation, meta_for(p, path), "up", progress,
                    after=(last_changing(p.plan.steps), vouching.start, vouching.drop))
        except OSError as e:  # the journal could not even be started: nothing was changed
            claims.drop(p.topo.name)
            state.release_reserve()
            if p.record is None:
                state.remove()
            raise UsageError(f"cannot write the journal {journal.path} ({e.strerror}); nothing was changed") from None
        verify_processes(p, k, journal)
        state.release_reserve()
        record = record_for(p, p.plan, path)  # with what the steps learned (pids, inodes)
        try:
            p.saved = state.save(record)
        except OSError as e:
            vouching.drop()
            try:
                journal.rollback()
            except OSError:
                pass
            leftovers = rollback(p.plan.steps, k)
            if leftovers:
                raise Leftovers(f"the record of {p.topo.name} could not be written ({e.strerror}), and the "
                                f"rollback could not undo everything", leftovers) from None
            journal.finish()
            raise ApplyFailed(f"the record of {p.topo.name} could not be written ({e.strerror}); rolled back, "
                              f"the system is as it was before") from None
        journal.finish()
    except ApplyFailed as e:
        vouching.drop()
        died = getattr(e.__cause__, "log", None)  # a `run` process that exited at once: its log is wanted
        if died:
            kept = keep_log(state, died)
            tail = _tail(kept)
            e = ApplyFailed(f"{e}\n  the end of its log:\n" + "\n".join(f"    {line}" for line in tail)
                            + f"\n  (the whole log is kept in {kept})")
        claims.drop(p.topo.name)
        state.release_reserve()
        if p.record is None:
            state.remove()  # rolled back to nothing: leave no trace
        else:
            _refresh(state, remade(p.plan.steps))
        raise e from None
    except BaseException:
        vouching.drop()
        raise


def _refresh(state: StateDir, ops) -> None:
    """Write back the saved state of recorded ops that were re-made by a rollback (a process started
    again has a new pid), so the record stays true. (If it cannot be written, the record still names
    every object; `status` then shows the process as not running and `up` starts it again.)"""
    try:
        record = state.load()
        if record is None or not ops:
            return
        fresh = {op.key: op.to_json() for op in ops}
        record["ops"] = [fresh.get(Op.from_json(o).key, o) for o in record.get("ops", [])]
        state.save(record)
    except (OSError, PipenetError):
        pass


def topology_name(arg: str) -> str:
    """`down FILE|TOPOLOGY`: a path to a .pn file names its topology; anything else is a name."""
    if arg.endswith(".pn") or os.path.sep in arg:
        if os.path.isfile(arg):
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
        notes = recover(state)
        record = state.load()
        if record is None or record.get("down"):
            state.remove()
            return Plan([], []), bool(notes)
        view = LiveView(k)
        before = recorded_ops(record, state)
        # every mark (two processes), the /etc files' checks made meanwhile, 250 at a time
        etc = [op for op in before if op.kind == "etc"]
        files = view.read_marks_of(["", *(op.ns for op in before if op.kind == "netns")],
                                   meanwhile=[lambda some=etc[i:i + 250]: {op.key: op.check(view) for op in some}
                                              for i in range(0, len(etc), 250)])
        view.want_sysctls(before)
        plan = diff([], before, view, read_children=False, known=files)  # (a namespace's mark, not its inside)
        plan.steps = host_ends_first(plan.steps)
        blockers = [b for s in plan.steps if s.action == "remove" and s.op.kind == "firewall"
                    for b in s.op.blockers(view)]
        if blockers:
            raise Conflict(blockers)
        generation = record.get("generation", 0)
        if any(s.op.kind == "host-setting" for s in plan.steps):
            from pipenet.backends.ledger import LedgerError

            try:
                k.ledger().load()  # a ledger that cannot be read is found before any change
            except LedgerError as e:
                raise CorruptState(e.strerror or str(e)) from None
        if not plan.empty:
            journal = Journal(state.journal_path)
            meta = {key: record.get(key) for key in _META_UNION + _META_LISTS + ("file",)}
            try:
                execute(plan, k, journal, generation, meta, "down", progress)
            except OSError as e:  # the journal could not be started: nothing was changed
                raise UsageError(f"cannot write the journal {journal.path} ({e.strerror or e}); nothing was "
                                 f"changed") from None
            except ApplyFailed:
                _refresh(state, remade(plan.steps))  # what the rollback made again (a process's new pid)
                raise
            try:  # committed: a run killed from here on finds the record says so, then it is cleaned
                state.save(dict(record, ops=[], generation=generation + 1, down=True))
            except OSError:
                pass  # (a full disk: removing needs no room)
            journal.finish()
        state.remove()
        forget_failed_logs(state)
        keep(record, before, view, plan, k)
        return plan, True


#: removals that a topology's host interfaces may move before, in a `down`
_BEFORE_FILES = frozenset({"etc", "firewall", "host-setting"})


def host_ends_first(steps: list) -> list:
    """A `down`'s steps, with the removal of the topology's host interfaces (its bridge ports and
    bridges, one request) moved before the removal of its /etc files and firewall rules when only
    files, firewall rules and host settings come between: the executor makes the interfaces' request
    in a thread and removes the files, rules and namespaces while the kernel works (half a second at
    4,000 containers). Host settings go before it (a sysctl may name one of the topology's bridges, and one
    such as ip_forward waits for the RTNL lock that request holds); processes are still stopped first.
    The namespaces, after the files and rules, go while the request runs too (an unmount needs no RTNL
    lock): this run keeps a descriptor on each, so if the request fails the rollback mounts the very
    namespaces back (`CreateNamespace.remake`). The request is the executor's own batch
    (`in_background`, `batch_at`)."""
    at = next((n for n, s in enumerate(steps) if in_background([s]) and s.op.batch_key()), None)
    if at is None:
        return steps
    end = at + len(batch_at(steps, at))
    first = at
    while first > 0 and steps[first - 1].op.kind in _BEFORE_FILES:
        first -= 1
    between = steps[first:at]
    settings = [s for s in between if s.op.kind == "host-setting"]
    others = [s for s in between if s.op.kind != "host-setting"]
    return steps[:first] + settings + steps[at:end] + others + steps[end:]


def force_down(name: str, k, progress=None) -> tuple[Plan, bool]:
    """`down --force`: the record cannot be trusted (or is gone), so what to remove is found on the live
    system by pipenet's marks alone (`discover`): namespaces whose loopback carries the topology's
    mark, host interfaces whose alias does, its firewall chains (every rule tagged), the /etc files of
    its namespaces, processes carrying its marker, and its entries in the host-settings ledger. Then
    the state directory goes, whatever is in it."""
    from pipenet.engine.discover import discover

    state = StateDir(name)
    ops = discover(name, k, state)
    existed = bool(ops) or os.path.lexists(state.path)
    clear_state(state)
    plan = Plan([], [])
    if ops:
        view = LiveView(k)
        view.want_sysctls(ops)
        plan = diff([], ops, view)
        if not plan.empty:
            state.ensure()
            execute(plan, k, Journal(state.journal_path), -1, {}, "down", progress)
            Journal(state.journal_path).finish()
    clear_state(state)
    return plan, existed


def clear_state(state: StateDir) -> None:
    """Remove a topology's state directory and whatever is in it (files, or a directory planted where
    the lock or the record should be): everything under the state root is pipenet's own."""
    path = state.path
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
        return
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
