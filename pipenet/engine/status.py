"""`pipenet status`: what the record says, what the kernel has, and where they differ (drift).

Drift has one definition, shared with the planner: each recorded operation's
live check (`Op.check`). An item that is missing, changed or now held by
someone else is drift; `up` repairs the first two and refuses the third.
"""

from __future__ import annotations

from pipenet.engine.live import LiveView
from pipenet.results import Status
from pipenet.engine.state import StateDir
from pipenet.plan.ops import Op


def drift(ops: list[Op], view: LiveView, runtime: dict | None = None) -> list[dict]:
    """Every recorded op whose object is not live as made, as {kind, node, object, state, expected,
    actual, detail}. (Children of a missing object are not listed again: the kernel took them along.)
    What a runtime override (`runtime`, the record's section) explains is not drift: `status` lists
    the overrides on their own, as set at runtime."""
    from pipenet.engine.live import check_all
    from pipenet.engine.runtime import explained

    verdicts = check_all(ops, view)
    gone: set[str] = set()
    out = []
    for op in ops:
        if any(p in gone for p in op.parents):
            gone.add(op.key)
            continue
        v = verdicts[op.key]
        if v.ok or explained(op, v, runtime or {}):
            continue
        if v.state in ("missing", "foreign"):
            gone.add(op.key)
        out.append({"kind": op.kind, "node": getattr(op, "node", "host"), "object": op.key, "state": v.state,
                    "expected": v.expected, "actual": v.actual, "detail": v.detail})
    return out


def status(name: str, k) -> Status:
    state = StateDir(name)
    record = state.load()
    if record is None or record.get("down"):
        return Status(name, False)
    from pipenet.engine.records import recorded_ops

    from pipenet.engine.runtime import listed, overrides

    ops = recorded_ops(record, state)
    view = LiveView(k)
    runtime = overrides(record)
    items = drift(ops, view, runtime)
    from pipenet.engine import journal as journals

    pending = journals.read(state.journal_path)  # (a journal that cannot be read raises: one line)
    if pending is not None and pending.base == record.get("generation", 0) and pending.started:
        items.append({"kind": "journal", "node": "host", "object": state.journal_path, "state": "interrupted",
                      "expected": "no run in progress", "actual": f"{len(pending.started)} steps started",
                      "detail": f"a run of {name} was interrupted after {len(pending.started)} steps; the next "
                                f"`up` or `down` takes over what it started"})
    nodes = []
    for node, ref in sorted(record.get("ns", {}).items()):
        if node == "host":
            continue
        live = view.namespace(ref)
        entry = {"node": node, "namespace": ref or "(host)", "hostname": record.get("hostnames", {}).get(node),
                 "alive": live is not None, "interfaces": [], "routes": []}
        if live is not None and ref != "":
            for lname, link in sorted(live.links.items(), key=lambda x: x[1].index):
                if lname == "lo":
                    continue
                entry["interfaces"].append({
                    "name": lname, "mac": link.mac, "mtu": link.mtu, "up": link.up,
                    "addresses": [a.cidr for a in live.addresses_of(lname) if not a.ip.startswith("fe80:")]})
            entry["routes"] = [{"dest": r.dest, "via": r.via, "dev": r.dev, "metric": r.metric}
                               for r in live.routes if not r.dest.startswith(("fe80:", "ff00:"))]
        nodes.append(entry)
    procs = []
    for op in ops:
        if op.kind == "process":
            found = view.process(op.saved, op.marker, op.ns)
            pid = (found or {}).get("pid") or op.saved.get("pid")
            procs.append({"node": op.node, "command": op.command, "pid": pid, "alive": found is not None,
                          "log": op.log})
    return Status(name, True, record.get("file"), record.get("generation"), nodes, items, len(ops), procs,
                  record.get("published", []), runtime=listed(runtime))


def live_as_recorded(name: str, k) -> bool:
    """Is every operation of the record live, as made? (The proof the fast path of an unchanged file
    needs: the file says what it said, and the system is what that made. A runtime override is not:
    `up` resets it.)"""
    from pipenet.engine import verified
    from pipenet.engine.live import all_live
    from pipenet.gcpause import gc_paused, keep

    state = StateDir(name)
    with gc_paused():  # (the record's JSON, its operations and every namespace read: no cycles among them)
        record = state.load()
        if record is None or record.get("down") or record.get("runtime"):
            return False
        memo, ports = verified.load_both(state, record)
        view = LiveView(k, memo, ports)
        if not all_live(record.get("ops", []), view, state):
            return False
        verified.save(state, record, memo, view.settled(), ports, view.host_ports())
        keep(record, view, k)  # (the answer is yes: the command ends here)
        return True
