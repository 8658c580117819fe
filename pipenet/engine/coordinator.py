"""One topology across several machines, as one transaction (docs/multi-host.md).

The coordinator compiles the whole file once, then works machine by
machine through `pipenet slice` (the hidden command a machine runs its
share with; `pipenet.backends.ssh` carries it): it first asks every machine
for its facts (reachable, the same pipenet version, the MTU of the
interface holding its underlay address), so the MTU rule is checked and an
unreachable machine is named before anything changes anywhere, then for
the plan of its slice (which refuses, there, what that machine's own `up`
would: a name held by another topology or tool, a missing kernel feature);
then it applies every slice in parallel, each with its machine's own journal and
rollback. If one slice fails, every machine takes its slice down again: the
whole `up` is all or nothing.

Its own journal (`STATE/.machines/NAME.json`) names the machines a run
touches, written before the first slice is applied and removed when the
topology is down everywhere, so `down NAME` after a killed coordinator
finds every machine it may have changed.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

from pipenet.backends.ssh import Remotes, Result
from pipenet.engine.state import state_root
from pipenet.errors import ApplyFailed, Conflict, InvalidTopology, Leftovers, UsageError
from pipenet.fsutil import write_atomic
from pipenet.ir import Topology
from pipenet.validate.machines import LOCAL

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

    declared = topo.machine_map
    return {m: (None, None) if m == LOCAL else (declared[m].ssh, declared[m].pipenet) for m in machines_used(topo)}


def _each(remotes: Remotes, names, call) -> dict[str, Result]:
    """call(remote) on every machine at once; {machine: result}."""
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


# ---- up -----------------------------------------------------------------------------------------------------
def _checked(rs: Remotes, topo: Topology, text: str, file: str) -> dict[str, int]:
    """Every machine's facts, before any change: {machine: its underlay's MTU}; Conflict naming each
    machine that cannot be used, InvalidTopology for a declared MTU the underlay cannot carry."""
    from pipenet import __version__
    from pipenet.plan.slice import inner_mtus, underlays

    under = underlays(topo)
    answers = _each(rs, rs.by_name, lambda r: r.run(["slice"], _payload("facts", underlay=str(under.get(r.name, ""))),
                                                    FACTS_SECONDS))
    problems, mtus = [], {}
    for m, res in answers.items():
        r = rs.by_name[m]
        if res.rc != 0:
            problems.append(f"{_who(r)}: {res.last_line}")
            continue
        try:
            got = json.loads(res.out)
        except ValueError:
            problems.append(f"{_who(r)}: an answer that is not pipenet's ({res.out[:60]!r})")
            continue
        if got.get("version") != __version__:
            problems.append(f"{_who(r)} runs pipenet {got.get('version')}, this is {__version__}: run one "
                            f"version everywhere")
        if got.get("error"):
            problems.append(f"{_who(r)}: {got['error']}")
        if got.get("mtu"):
            mtus[m] = int(got["mtu"])
    if problems:
        raise Conflict(problems)
    _, diags = inner_mtus(topo, mtus)
    if diags:
        from pipenet.source import SourceFile

        raise InvalidTopology(diags, {file: SourceFile(file, text)})
    return mtus


def _answers(done: dict[str, Result]) -> dict[str, dict]:
    out = {}
    for m, res in done.items():
        try:
            out[m] = json.loads(res.out)
        except ValueError:
            out[m] = {}
    return out


def _planned(rs: Remotes, text: str, file: str, variables: dict, mtus: dict) -> dict[str, dict]:
    """Every machine's plan of its slice (what its own `up` would refuse, it refuses here: a name another
    topology or tool holds, a kernel without a feature), before any change; Conflict naming each machine
    that refuses."""
    body = {"action": "plan", "text": text, "file": file, "vars": variables, "mtus": mtus}
    done = _each(rs, rs.by_name, lambda r: r.run(["slice"], json.dumps({**body, "machine": r.name}), APPLY_SECONDS))
    failed = [f"{_who(rs.by_name[m])}: {res.last_line}" for m, res in sorted(done.items()) if res.rc != 0]
    if failed:
        raise Conflict(failed)
    return _answers(done)


def plan(topo: Topology, text: str, file: str, variables: dict) -> dict[str, dict]:
    """What `up` would do on each machine: {machine: its plan as JSON}; nothing changes anywhere."""
    with Remotes(machines_of(topo)) as rs:
        return _planned(rs, text, file, variables, _checked(rs, topo, text, file))


def up(topo: Topology, text: str, file: str, variables: dict) -> dict[str, dict]:
    """Bring every machine's slice up, or none: {machine: its `up` as JSON}. A machine the previous `up`
    used and this one does not has its slice taken down after."""
    from pipenet.plan.slice import with_wires
    from pipenet.validate.machines import machine_of

    machines = machines_of(topo)
    before = (journal(topo.name) or {}).get("machines", {})
    with Remotes(machines) as rs:
        mtus = _checked(rs, topo, text, file)
        _planned(rs, text, file, variables, mtus)
        wired = with_wires(topo)
        entry = {"machines": {**before, **{m: list(v) for m, v in machines.items()}}, "mtus": mtus,
                 "nodes": {c.name: machine_of(wired, c.name) for c in wired.containers}, "state": "applying"}
        _write(topo.name, entry)
        body = {"action": "up", "text": text, "file": file, "vars": variables, "mtus": mtus}
        done = _each(rs, machines, lambda r: r.run(["slice"], json.dumps({**body, "machine": r.name}),
                                                   APPLY_SECONDS))
        failed = {m: res for m, res in done.items() if res.rc != 0}
        if failed:
            undone = _each(rs, machines, lambda r: _down_slice(r, topo.name))
            left = [f"{_who(rs.by_name[m])}: {res.last_line}" for m, res in undone.items() if res.rc != 0]
            reasons = "; ".join(f"{_who(rs.by_name[m])}: {res.last_line}" for m, res in sorted(failed.items()))
            if left:
                raise Leftovers(f"{reasons}; rolling back left something on some machines "
                                f"(pipenet down {topo.name} finishes it)", left)
            _forget(topo.name)
            raise ApplyFailed(f"{reasons}; every machine's slice was rolled back")
    gone = {m: tuple(v) for m, v in before.items() if m not in machines}
    if gone:  # (machines the file no longer uses: their slices go)
        with Remotes(gone) as rs:
            left = [f"{_who(rs.by_name[m])}: {res.last_line}" for m, res in
                    _each(rs, gone, lambda r: _down_slice(r, topo.name)).items() if res.rc != 0]
        if left:
            raise Leftovers(f"{topo.name} is up, but not yet down on machines it no longer uses", left)
    _write(topo.name, {**entry, "machines": {m: list(v) for m, v in machines.items()}, "state": "up"})
    return _answers(done)


def facts(underlay: str) -> dict:
    """What the coordinator asks a machine before any change (`pipenet slice` with action `facts`): its
    pipenet's version and the MTU of the interface that holds its underlay address."""
    import subprocess

    from pipenet import __version__

    out: dict = {"version": __version__, "mtu": None}
    if not underlay:
        return out
    p = subprocess.run(["ip", "-o", "addr", "show", "to", underlay], capture_output=True, text=True)
    words = p.stdout.split()
    if p.returncode != 0 or len(words) < 2:
        out["error"] = f"no interface here has the underlay address {underlay}"
        return out
    # (`ip link`, not /sys/class/net: sysfs shows the namespace that mounted it, not necessarily this one)
    link = subprocess.run(["ip", "-o", "link", "show", "dev", words[1].split("@")[0]], capture_output=True,
                          text=True).stdout.split()
    if "mtu" in link[:-1]:
        out["mtu"] = int(link[link.index("mtu") + 1])
    return out


# ---- down, and what goes to one machine ----------------------------------------------------------------------
def down(name: str) -> dict[str, dict]:
    """Take `name` down on every machine its journal names ({machine: its `down` as JSON}); the journal
    goes when all are clean."""
    data = journal(name)
    if data is None:
        return {}
    machines = {m: tuple(v) for m, v in data["machines"].items()}
    with Remotes(machines) as rs:
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
    with Remotes(machines) as rs:
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


def node_machine(node: str, topology: str | None) -> tuple[str, str, tuple] | None:
    """(topology, machine, (ssh destination, program)) of a node up on another machine, from the
    journals of the topologies this machine coordinates; None when no journal has it there."""
    for name in [topology] if topology else spanned():
        data = journal(name) or {}
        m = (data.get("nodes") or {}).get(node)
        if m is not None and m != LOCAL and m in data["machines"]:
            return name, m, tuple(data["machines"][m])
    return None
