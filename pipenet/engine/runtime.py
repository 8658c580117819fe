"""Runtime overrides: `pipenet link NODE:IFACE down|up` and `pipenet shape NODE:IFACE ...`.

A link cut or a rate set by hand while a lab runs is meant (a failover drill,
a slow uplink for a while), not an accident: `status` must say "set at
runtime" rather than call it drift, and `up` must know what to put back to
the file's state. So each override is kept in the record's `runtime`
section, `{"NODE:IFACE": {"link": "down", "shape": {...} | "none"}}`, written
atomically under the lock `up` takes (an optional key: the record's version
is unchanged, and a record without it reads as before).

Only the topology's own interfaces (their alias carries its mark) in its own
nodes may be changed; anything else is a one-line error before any change.
Taking a link down makes the kernel drop the routes through it (and its IPv6
addresses); `link up` puts back every recorded address and route of that
node that went with them, so the node is as `up` left it.
"""

from __future__ import annotations

from contextlib import contextmanager

from pipenet.backends.objects import mark_topology
from pipenet.engine.live import LiveView
from pipenet.engine.records import recorded_ops
from pipenet.engine.state import StateDir
from pipenet.errors import UsageError
from pipenet.plan.ops import SetShape

#: the options of `pipenet shape`, the words of the language's `shape` statement
SHAPE_WORDS = ("rate", "delay", "jitter", "loss")
#: the SetShape fields a recorded runtime shaping may hold
_FIELDS = ("rate_bps", "delay_ms", "jitter_ms", "loss_pct")


def parse_shape(words: list[str]) -> dict:
    """{"rate_bps", "delay_ms", "jitter_ms", "loss_pct"} from `rate 1mbit delay 50ms ...` (the words of the
    language's `shape` statement); UsageError, one line, for anything else."""
    from pipenet.lang import values as V

    parsers = {"rate": ("rate_bps", V.rate_bps), "delay": ("delay_ms", V.duration_ms),
               "jitter": ("jitter_ms", V.duration_ms), "loss": ("loss_pct", V.percent)}
    if len(words) % 2:
        raise UsageError(f"`{words[-1]}` needs a value (shape NODE:IFACE rate 1mbit [delay 50ms] ...)")
    out: dict = {}
    for word, text in zip(words[::2], words[1::2]):
        if word not in parsers:
            raise UsageError(f"`{word}` is not a shaping option (they are {', '.join(SHAPE_WORDS)})")
        field, parse = parsers[word]
        if field in out:
            raise UsageError(f"`{word}` is given twice")
        try:
            out[field] = parse(text)
        except V.BadValue as e:
            raise UsageError(f"{word}: {e}" + (f" ({e.hint})" if e.hint else "")) from None
    if "jitter_ms" in out and "delay_ms" not in out:
        raise UsageError("`jitter` needs a `delay` (e.g. delay 50ms jitter 5ms)")
    return out


def _entry_key(node: str, iface: str) -> str:
    return f"{node}:{iface}"


def _target(name: str, record: dict, node: str, iface: str, view: LiveView) -> str:
    """The namespace ref of NODE:IFACE when it is one of this topology's own interfaces, live; else a
    one-line UsageError naming what is wrong."""
    refs = record.get("ns", {})
    if node not in refs:
        raise UsageError(f"no node {node} is up in topology {name}")
    ref = refs[node]
    live = view.namespace(ref)
    if live is None:
        raise UsageError(f"the namespace of {node} is gone (`pipenet up` makes it again)")
    ours = sorted(n for n, link in live.links.items() if n != "lo" and mark_topology(link.alias) == name)
    link = live.links.get(iface)
    if link is None:
        raise UsageError(f"{node} has no interface {iface} (its interfaces from {name}: "
                         f"{', '.join(ours) or 'none'})")
    if iface not in ours:
        raise UsageError(f"{node}:{iface} was not made by topology {name}: pipenet changes only its own "
                         f"interfaces (its own in {node}: {', '.join(ours) or 'none'})")
    return ref


def _save(state: StateDir, record: dict, key: str, entry: dict) -> None:
    runtime = dict(record.get("runtime") or {})
    if entry:
        runtime[key] = entry
    else:
        runtime.pop(key, None)
    record = dict(record)
    if runtime:
        record["runtime"] = runtime
    else:
        record.pop("runtime", None)
    state.save(record)


def _locked_record(state: StateDir) -> dict:
    record = state.load()
    if record is None or record.get("down"):
        raise UsageError(f"{state.topology} is not up")
    return record


@contextmanager
def _override(name: str, node: str, iface: str, k):
    """Under the topology's lock: (record, namespace ref, the override of NODE:IFACE as a dict to change);
    the record is written back with it afterwards (an empty one: the interface is as the file says)."""
    state = StateDir(name)
    with state.lock():
        record = _locked_record(state)
        ref = _target(name, record, node, iface, LiveView(k))
        entry = dict(overrides(record).get(_entry_key(node, iface)) or {})
        yield record, ref, entry
        _save(state, record, _entry_key(node, iface), entry)


def set_link(name: str, node: str, iface: str, up: bool, k) -> list[str]:
    """Set NODE:IFACE administratively up or down, and record it; what was done, in words."""
    with _override(name, node, iface, k) as (record, ref, entry):
        k.link_set(ref, iface, up=up)
        notes = [f"{node}:{iface} is {'up' if up else 'down'}"]
        if up:
            entry.pop("link", None)
            notes += _restore_node(record, node, ref, k)
        else:
            entry["link"] = "down"
    return notes


def _restore_node(record: dict, node: str, ref: str, k) -> list[str]:
    """Put back the recorded addresses and routes of `node` that are missing (the kernel removed them when
    a link of the node went down), in the record's order: addresses before the routes through them."""
    view = LiveView(k)
    out = []
    for op in recorded_ops(record, StateDir(record["topology"])):
        if op.kind not in ("addr", "route") or op.ns != ref:
            continue
        verdict = op.check(view)
        if verdict.state == "missing":
            try:
                op.apply(k)
            except OSError:
                continue  # (a route through another interface that is still down: it comes back with it)
            out.append(f"put back {verdict.detail}")
    return out


def set_shape(name: str, node: str, iface: str, params: dict | None, k) -> list[str]:
    """Shape NODE:IFACE with `params` (parse_shape's), or clear its shaping (`params` None); record it."""
    with _override(name, node, iface, k) as (record, ref, entry):
        op = SetShape(node, ref, iface, **(params or {}))
        if params:
            require_features(k, op)
        k.qdisc_del(ref, iface)
        if params:
            op.apply(k)
            entry["shape"] = dict(params)
            note = f"{node}:{iface} is shaped: {op._text()}"
        else:
            in_file = any(o.key == f"shape:{node}:{iface}" for o in recorded_ops(record, StateDir(name)))
            if in_file:
                entry["shape"] = "none"  # the file's shaping, cleared for now: `up` puts it back
            else:
                entry.pop("shape", None)  # as the file has it: nothing to remember
            note = f"{node}:{iface} is not shaped" + (" (the file's shaping comes back with `pipenet up`)"
                                                       if in_file else "")
    return [note]


def require_features(k, op) -> None:
    """The kernel features a shaping needs (netem for delay, jitter, loss; tbf for a rate), each checked
    before any change: one line naming the missing configuration."""
    from pipenet.engine.checks import needs, refuse

    for feature in needs(op):
        if not k.supports(feature):
            raise refuse(feature, f"shape on {op.node}:{op.ifname}")


# ---- what status and up make of them ---------------------------------------------------------------------
def overrides(record: dict | None) -> dict:
    """{"NODE:IFACE": entry} of a record (a section of the wrong shape is no override at all)."""
    runtime = (record or {}).get("runtime")
    if not isinstance(runtime, dict):
        return {}
    return {key: v for key, v in runtime.items() if isinstance(key, str) and isinstance(v, dict)}


def _ends(op) -> list[tuple[str | None, str, str]]:
    """(observed's key, node, interface) of each interface an op makes."""
    if op.kind == "veth":
        return [("a", op.node, op.name), ("b", op.peer_node, op.peer)]
    if op.kind == "bridge":
        return [(None, "host", op.name)]
    if op.kind == "link":
        return [(None, op.node, op.name)]
    return []


def explained(op, verdict, runtime: dict) -> bool:
    """Is this recorded op's drift what a runtime override did? A link taken down (and, in its node, the
    addresses and routes the kernel dropped with it), or a shaping set or cleared at runtime."""
    if not runtime or verdict is None:
        return False
    if op.kind == "shape":
        return "shape" in runtime.get(_entry_key(op.node, op.ifname), {})
    down = {key for key, v in runtime.items() if v.get("link") == "down"}
    if op.kind in ("addr", "route"):
        return verdict.state == "missing" and any(key.split(":", 1)[0] == op.node for key in down)
    ends = _ends(op)
    if not ends or verdict.state != "changed" or not isinstance(verdict.observed, dict):
        return False
    for side, node, iface in ends:
        diff = dict(verdict.observed.get(side, {}) if side else verdict.observed)
        if _entry_key(node, iface) in down:
            diff.pop("up", None)
        if diff:
            return False
    return True


def listed(runtime: dict) -> list[dict]:
    """The overrides as `status` shows them: {node, interface, link, shape} (shape in words)."""
    out = []
    for key, entry in sorted(runtime.items()):
        node, _, iface = key.partition(":")
        shape = entry.get("shape")
        if isinstance(shape, dict):
            words = SetShape(node, "", iface, **{f: v for f, v in shape.items() if f in _FIELDS})._text()
        else:
            words = "cleared (the file's shaping is off)" if shape == "none" else None
        out.append({"node": node, "interface": iface, "link": entry.get("link"), "shape": words})
    return out


def in_words(x: dict) -> str:
    """One override of `listed`, as `status` and `up` say it: `link down, shape rate 1000000bit`."""
    return ", ".join(([f"link {x['link']}"] if x["link"] else []) + ([f"shape {x['shape']}"] if x["shape"] else []))


def _unshaped(record: dict | None, desired) -> list[tuple[str, str, str]]:
    """(namespace, node, interface) of each shaping set at runtime on an interface the file does not
    shape: what `up` removes beyond its plan (the plan puts right every link that is down and every
    shaping the file has, as it does for any drift)."""
    runtime = overrides(record)
    if not runtime:
        return []
    shaped = {op.key for op in desired if op.kind == "shape"}
    refs = (record or {}).get("ns", {})
    out = []
    for key, entry in runtime.items():
        node, _, iface = key.partition(":")
        if "shape" in entry and f"shape:{key}" not in shaped and node in refs:
            out.append((refs[node], node, iface))
    return out


def plan_shown(p) -> list:
    """A prepared plan's steps as `plan` shows them (results.PlanStep each, numbered), then a removal
    for each shaping `up` resets beyond its plan (`_unshaped`), so that `plan` never says "nothing to
    do" where `up` would change something."""
    from pipenet import results
    from pipenet.plan.ops.base import in_ns_cmd

    steps = [results.PlanStep(i, s.action, s.op.kind, s.op.key, s.reason, s.describe())
             for i, s in enumerate(p.plan.steps, 1)]
    for ns, node, iface in _unshaped(p.record, p.plan.final):
        steps.append(results.PlanStep(len(steps) + 1, "remove", "shape", f"shape:{node}:{iface}",
                                      "set at runtime (`pipenet shape`); the file does not shape it",
                                      [in_ns_cmd(ns, "tc", "qdisc", "del", "dev", iface, "root")]))
    return steps


def reset(record: dict | None, desired, k) -> tuple[list[str], int]:
    """What `up` does of the overrides beyond its plan, and says: a shaping set at runtime on an interface
    the file does not shape is removed (`_unshaped`). The notes name each override reset; the count is of
    the shapings removed (each one of `plan_shown`'s steps)."""
    runtime = overrides(record)
    if not runtime:
        return [], 0
    removed = 0
    for ns, _, iface in _unshaped(record, desired):
        try:
            k.qdisc_del(ns, iface)
            removed += 1
        except OSError:
            pass  # (the interface is gone with its node: nothing left to reset)
    words = [f"{x['node']}:{x['interface']} ({in_words(x)})" for x in listed(runtime)]
    return [f"reset what was set at runtime, back to the file: {'; '.join(words)}"], removed
