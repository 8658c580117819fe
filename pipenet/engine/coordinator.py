"""One topology across several machines, as one transaction (docs/multi-host.md).

The coordinator compiles the whole file once, then holds one conversation
with each machine's `pipenet slice` (`pipenet.engine.agent` is the machine's
side; `pipenet.backends.ssh` carries it, over one master connection per
machine): every machine says its facts (reachable, the same pipenet version,
the MTU of the interface holding its underlay address), so the MTU rule is
checked and an unreachable machine is named before anything changes
anywhere; the machines that share a tunnel probe each other on the VXLAN
port; each plans its slice once (refusing, there, what that machine's own
`up` would: a name held by another topology or tool, a missing kernel
feature) and waits with its claim taken. Only when every machine can go are
they all told to apply exactly the plan they said, in parallel, each with its
own journal and rollback; and only when every one has applied are they told
to keep it. If one slice fails, every machine takes its slice down again
(a machine that loses the coordinator does so by itself): the whole `up` is
all or nothing.

Its own journal (`STATE/.machines/NAME.json`) names the machines a run
touches, written before the first slice is applied and removed when the
topology is down everywhere, so `down NAME` after a killed coordinator
finds every machine it may have changed.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pipenet.backends.ssh import Remotes, Result
from pipenet.engine.state import state_root
from pipenet.errors import ApplyFailed, Conflict, InvalidTopology, Leftovers, UsageError
from pipenet.fsutil import write_atomic

if TYPE_CHECKING:  # (every `down` and `up` asks this module whether a run spans machines: the IR and the
    from pipenet.ir import Topology  # validators are imported only by what needs them, 25 ms a command)

#: how long one machine may take to answer for its facts, and to apply or remove its slice
FACTS_SECONDS = 60
APPLY_SECONDS = 1800


# ---- the coordinator's journal ------------------------------------------------------------------------------
def journal_path(name: str) -> str:
    return os.path.join(state_root(), ".machines", f"{name}.json")


def journal(name: str) -> dict | None:
    """The machines a run of `name` touched, or None when no run is known here."""
    try:
        with open(journal_path(name)) as f:
            data = json.load(f)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None  # (none here, or another user's state, which that user coordinates)
    except (OSError, ValueError) as e:
        raise UsageError(f"the coordinator's journal {journal_path(name)} cannot be read ({e}); remove it "
                         f"after taking the topology down on each machine (pipenet down {name})") from None
    return data if isinstance(data, dict) and isinstance(data.get("machines"), dict) else None


def _write(name: str, data: dict) -> None:
    os.makedirs(os.path.dirname(journal_path(name)), mode=0o700, exist_ok=True)
    write_atomic(journal_path(name), json.dumps(data, sort_keys=True).encode())


def _forget(name: str) -> None:
    try:
        os.unlink(journal_path(name))
    except FileNotFoundError:
        pass


def spanned() -> list[str]:
    """Topologies this machine coordinates (a journal each)."""
    try:
        return sorted(n[:-5] for n in os.listdir(os.path.join(state_root(), ".machines")) if n.endswith(".json"))
    except OSError:
        return []


# ---- the machines -----------------------------------------------------------------------------------------
def machines_of(topo: Topology) -> dict[str, tuple[str | None, str | None]]:
    """{machine: (ssh destination, remote pipenet)} of every machine with a slice (`local`: no ssh)."""
    from pipenet.plan.slice import machines_used
    from pipenet.validate.machines import LOCAL

    declared = topo.machine_map
    return {m: (None, None) if m == LOCAL else (declared[m].ssh, declared[m].pipenet) for m in machines_used(topo)}


def _remotes(machines: dict) -> Remotes:
    """The machines' master connections, kept in STATE/.ssh for the next command (a second `up`, `test`,
    `status` or `down` soon after does not connect again)."""
    return Remotes(machines, keep_in=os.path.join(state_root(), ".ssh"))


def _each(remotes: Remotes, names, call) -> dict[str, Result]:
    """call(remote) on every machine at once; {machine: result}."""
    from concurrent.futures import ThreadPoolExecutor  # (not at import: it imports logging, whose exit
                                                       # handler keeps every command from ending at once)
    names = list(names)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = {m: pool.submit(call, remotes.by_name[m]) for m in names}
        return {m: f.result() for m, f in futures.items()}


def _who(remote) -> str:
    return f"machine {remote.name}" + (f" ({remote.dest})" if remote.dest else "")


def _down_slice(remote, name: str) -> Result:
    return remote.run(["slice"], _payload("down", name=name, machine=remote.name), APPLY_SECONDS)


def _payload(action: str, **kw) -> str:
    return json.dumps({"action": action, **kw})


# ---- up and plan: one conversation with each machine (pipenet.engine.agent) ----------------------------------
def _round(talks: dict, key: str, timeout: float) -> dict[str, dict | None]:
    """The next thing every machine still talking says, at once: {machine: it, or None when that machine
    ended instead (its Talk's result says why)}."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(talks))) as pool:
        futures = {m: pool.submit(t.receive, key, timeout) for m, t in talks.items() if t.open}
        return {m: f.result() for m, f in futures.items()}


def _why(rs: Remotes, talks: dict, m: str) -> str:
    return f"{_who(rs.by_name[m])}: {talks[m].finish(FACTS_SECONDS).last_line}"


def _checked(rs: Remotes, talks: dict, topo: Topology, text: str, file: str) -> dict[str, int]:
    """Every machine's facts, before any change: {machine: its underlay's MTU}; Conflict naming each
    machine that cannot be used, InvalidTopology for a declared MTU the underlay cannot carry."""
    from pipenet import __version__
    from pipenet.plan.slice import inner_mtus

    problems, mtus = [], {}
    for m, said in sorted(_round(talks, "facts", FACTS_SECONDS).items()):
        if said is None:
            problems.append(_why(rs, talks, m))
            continue
        got = said["facts"]
        if got.get("version") != __version__:
            problems.append(f"{_who(rs.by_name[m])} runs pipenet {got.get('version')}, this is {__version__}: "
                            f"run one version everywhere")
        if got.get("error"):
            problems.append(f"{_who(rs.by_name[m])}: {got['error']}")
        if got.get("mtu"):
            mtus[m] = int(got["mtu"])
    if problems:
        raise Conflict(problems)
    _, diags = inner_mtus(topo, mtus)
    if diags:
        from pipenet.source import SourceFile

        raise InvalidTopology(diags, {file: SourceFile(file, text)})
    return mtus


def _peers(topo: Topology) -> dict[str, set[str]]:
    """{machine: the machines it has a tunnel to}: each pair must reach each other on the VXLAN port."""
    from pipenet.plan.slice import with_wires
    from pipenet.validate.machines import spanning_bridges

    out: dict[str, set[str]] = {}
    for ms in spanning_bridges(with_wires(topo)).values():
        for m in ms:
            out.setdefault(m, set()).update(x for x in ms if x != m)
    return out


def _agreed(rs: Remotes, talks: dict, topo: Topology, text: str, file: str) -> tuple[dict, dict[str, dict]]:
    """Every machine's facts, the underlay probe between them and every machine's plan of its slice, in
    that order, before any change: (the underlay MTUs, {machine: its plan as JSON}). Each machine then
    waits, claims taken, for `go`; Conflict (or InvalidTopology) naming each machine that cannot go,
    every machine told to stop first."""
    from pipenet.kinds.vxlan import DEFAULT_PORT
    from pipenet.plan.slice import underlays

    try:
        mtus = _checked(rs, talks, topo, text, file)
        under, peers = underlays(topo), _peers(topo)
        probes, token = {}, os.urandom(8).hex()  # (a datagram of this run, not of an earlier one)
        for m, t in talks.items():
            ps = peers.get(m, set())
            t.send({"go": True, "mtus": mtus, "token": token,
                    "send": {p: str(under[p]) for p in sorted(ps) if p in under}, "listen": sorted(ps)})
        problems = []
        for m, said in sorted(_round(talks, "heard", APPLY_SECONDS).items()):  # (said with its plan)
            if said is None:
                problems.append(_why(rs, talks, m))
                continue
            probes[m] = said["heard"]
        dead = set(talks) - set(probes)  # (it refused, or went away: it may not have probed at all)
        for m in sorted(m for m, heard in probes.items() if heard is not None):  # (None: its tunnels hold the port)
            for p in sorted(peers.get(m, set()) - set(probes[m]) - dead):  # (a machine that failed is said)
                problems.append(f"{_who(rs.by_name[m])} does not hear machine {p} on the underlay, UDP port "
                                f"{DEFAULT_PORT} ({under.get(p)} to {under.get(m)}): a firewall or route between "
                                f"them drops VXLAN")
        plans = {}
        for m, said in sorted(_round(talks, "plan", APPLY_SECONDS).items()):
            if said is None:
                problems.append(_why(rs, talks, m))
            else:
                plans[m] = said["plan"]
        if problems:
            raise Conflict(problems)
    except BaseException:
        _stop(talks)
        raise
    return mtus, plans


def _answers(done: dict[str, Result]) -> dict[str, dict]:
    out = {}
    for m, res in done.items():
        try:
            out[m] = json.loads(res.out)
        except ValueError:
            out[m] = {}
    return out


def _stop(talks: dict) -> None:
    """Tell every machine still talking to stop (it drops its claim, or takes its slice down if it had
    applied it), and wait for each."""
    for t in talks.values():
        t.send({"go": False, "keep": False})
    for t in talks.values():
        t.finish(APPLY_SECONDS)


def _talks(rs: Remotes, topo: Topology, text: str, file: str, variables: dict, plan_only: bool = False) -> dict:
    from pipenet.plan.slice import underlays

    under = underlays(topo)
    talks = {m: r.start(["slice"]) for m, r in rs.by_name.items()}
    for m, t in talks.items():
        t.send({"action": "converse", "text": text, "file": file, "vars": variables, "machine": m,
                "underlay": str(under.get(m, "")), "plan_only": plan_only})
    return talks


def plan(topo: Topology, text: str, file: str, variables: dict) -> dict[str, dict]:
    """What `up` would do on each machine: {machine: its plan as JSON}; nothing changes anywhere."""
    with _remotes(machines_of(topo)) as rs:
        talks = _talks(rs, topo, text, file, variables, plan_only=True)
        _, plans = _agreed(rs, talks, topo, text, file)
        _stop(talks)
        return plans


def up(topo: Topology, text: str, file: str, variables: dict) -> dict[str, dict]:
    """Bring every machine's slice up, or none: {machine: its `up` as JSON}. A machine the previous `up`
    used and this one does not has its slice taken down after."""
    from pipenet.plan.slice import with_wires
    from pipenet.validate.machines import machine_of

    machines = machines_of(topo)
    before = (journal(topo.name) or {}).get("machines", {})
    with _remotes(machines) as rs:
        talks = _talks(rs, topo, text, file, variables)
        try:
            mtus, _ = _agreed(rs, talks, topo, text, file)
            wired = with_wires(topo)
            entry = {"machines": {**before, **{m: list(v) for m, v in machines.items()}}, "mtus": mtus,
                     "nodes": {c.name: machine_of(wired, c.name) for c in wired.containers}, "state": "applying"}
            _write(topo.name, entry)
            for t in talks.values():
                t.send({"go": True})
            done = _round(talks, "applied", APPLY_SECONDS)
            failed = {m: _why(rs, talks, m) for m, said in done.items() if said is None}
            kept = not failed
            if kept:
                for t in talks.values():
                    t.send({"keep": True})
                failed = {m: _why(rs, talks, m) for m, said in _round(talks, "kept", FACTS_SECONDS).items()
                          if said is None}
        except BaseException:
            _stop(talks)
            raise
        if failed:
            _undo(rs, talks, topo.name, failed, kept)
        for t in talks.values():
            t.finish(FACTS_SECONDS)
    gone = {m: tuple(v) for m, v in before.items() if m not in machines}
    if gone:  # (machines the file no longer uses: their slices go)
        with _remotes(gone) as rs:
            left = [f"{_who(rs.by_name[m])}: {res.last_line}" for m, res in
                    _each(rs, gone, lambda r: _down_slice(r, topo.name)).items() if res.rc != 0]
        if left:
            raise Leftovers(f"{topo.name} is up, but not yet down on machines it no longer uses", left)
    _write(topo.name, {**entry, "machines": {m: list(v) for m, v in machines.items()}, "state": "up"})
    return {m: said["applied"] for m, said in done.items()}


def _undo(rs: Remotes, talks: dict, name: str, failed: dict[str, str], kept: bool) -> None:
    """A slice failed: every other machine takes its own down (told so, or on losing the coordinator); a
    machine whose answer is not known (the connection broke) is taken down through a new connection, and
    so is every machine once some were told to keep theirs (`kept`). ApplyFailed, or Leftovers naming
    each machine that could not be reached."""
    _stop(talks)
    unsure = [m for m, t in talks.items() if kept or (t.finish().rc != 2 if m in failed else t.finish().rc != 0)]
    left = []
    for m, res in _each(rs, unsure, lambda r: _down_slice(r, name)).items():
        if res.rc != 0:
            left.append(f"{_who(rs.by_name[m])}: {res.last_line}")
    reasons = "; ".join(why for _, why in sorted(failed.items()))
    if left:
        raise Leftovers(f"{reasons}; rolling back left something on some machines "
                        f"(pipenet down {name} finishes it)", left)
    _forget(name)
    raise ApplyFailed(f"{reasons}; every machine's slice was rolled back")


# ---- down, and what goes to one machine ----------------------------------------------------------------------
def down(name: str) -> dict[str, dict]:
    """Take `name` down on every machine its journal names ({machine: its `down` as JSON}); the journal
    goes when all are clean."""
    data = journal(name)
    if data is None:
        return {}
    machines = {m: tuple(v) for m, v in data["machines"].items()}
    with _remotes(machines) as rs:
        done = _each(rs, machines, lambda r: _down_slice(r, name))
    left = [f"{_who(rs.by_name[m])}: {res.last_line}" for m, res in done.items() if res.rc != 0]
    if left:
        raise Leftovers(f"{name} is not down on every machine (run pipenet down {name} again)", left)
    _forget(name)
    return _answers(done)


def ask_every(name: str, request: dict) -> dict[str, dict]:
    """`pipenet slice` with `request` on every machine of `name` at once: {machine: its JSON answer}; a
    machine that fails is named, one line each."""
    data = journal(name)
    if data is None:
        raise UsageError(f"{name} is not up across machines here")
    machines = {m: tuple(v) for m, v in data["machines"].items()}
    body = {**request, "name": name, "mtus": data.get("mtus") or {}}
    with _remotes(machines) as rs:
        done = _each(rs, machines, lambda r: r.run(["slice"], json.dumps({**body, "machine": r.name}),
                                                   APPLY_SECONDS))
    out, problems = {}, []
    for m, res in sorted(done.items()):
        try:
            out[m] = json.loads(res.out) if res.rc in (0, 4) else None
        except ValueError:
            out[m] = None
        if out[m] is None:
            problems.append(f"{_who(rs.by_name[m])}: {res.last_line}")
    if problems:
        raise Conflict(problems)
    return out


@contextmanager
def listening(name: str, topo: Topology):
    """Inside: a temporary listener in each node whose port a probe from another machine aims at, held by
    the node's machine (`pipenet.engine.hold`); the probes on the source's machine find it there."""
    from pipenet.plan.slice import with_wires
    from pipenet.validate.machines import machine_of

    wired, ports = with_wires(topo), {}
    for e in topo.expectations:
        t = e.target
        if t is None or t.port is None or t.node is None or t.node == "host":
            continue
        m = machine_of(wired, t.node)
        if m != machine_of(wired, e.source):
            ports.setdefault(m, []).append([t.node, t.port.number, t.port.proto])
    machines = {m: tuple(v) for m, v in (journal(name) or {}).get("machines", {}).items() if m in ports}
    with _remotes(machines) as rs:
        talks = {m: r.start(["slice"]) for m, r in rs.by_name.items()}
        try:
            for m, t in talks.items():
                t.send({"action": "listen", "name": name, "ports": ports[m]})
            problems = [_why(rs, talks, m) for m, said in _round(talks, "listening", FACTS_SECONDS).items()
                        if said is None]
            if problems:
                raise Conflict(problems)
            yield
        finally:
            for t in talks.values():
                t.finish(FACTS_SECONDS)


def node_machine(node: str, topology: str | None) -> tuple[str, str, tuple] | None:
    """(topology, machine, (ssh destination, program)) of a node up on another machine, from the
    journals of the topologies this machine coordinates; None when no journal has it there."""
    from pipenet.validate.machines import LOCAL

    for name in [topology] if topology else spanned():
        data = journal(name) or {}
        m = (data.get("nodes") or {}).get(node)
        if m is not None and m != LOCAL and m in data["machines"]:
            return name, m, tuple(data["machines"][m])
    return None
