"""The whole IR from the walker's records: the topology's name, then each family of statements in turn."""

from __future__ import annotations

from pipenet.ir import Topology
from pipenet.lang import values as V
from pipenet.lang.statements import allpairs, bridges, containers, expectations, host, machines, p2p
from pipenet.lang.walk import Fail, Walker, subnodes, words
from pipenet.source import Span


def build(w: Walker) -> Topology:
    name = w.default_name
    name_span = Span(w.file, 1, 1, 1, 2)
    if w.topology:
        if len(w.topology) > 1:
            st, sc = w.topology[1]
            w.error("`topology` is given more than once", w.node_span(st, sc),
                    f"the first is at line {w.topology[0][0].children[0].line}")
        st, sc = w.topology[0]
        tok = words(st)[0]
        try:
            name = w.typed(tok, sc, V.name, "topology name")
            name_span = w.span(tok, sc)
        except Fail:
            pass
    elif not V.NAME_RE.match(name):
        w.error(f"the file name gives the topology name `{name}`, which is not a valid name", name_span,
                "add a line `topology NAME` naming it")
    records = w.records
    made_bridges = [b for b in (w.safe(bridges.bridge, w, st, sc) for st, sc in records["bridge"]) if b]
    defaults = [(s, sc) for st, sc in records["defaults"] for s in subnodes(st)]
    made_containers = [c for c in (w.safe(containers.container, w, st, sc, defaults)
                                   for st, sc in records["container"]) if c]
    links = [link for link in (w.safe(p2p.p2p, w, st, sc) for st, sc in records["p2p"]) if link]
    host_config = host.host(w, records["host"])
    made_machines = [m for m in (w.safe(machines.machine, w, st, sc) for st, sc in records["machine"]) if m]
    expects = _expectations(w, [c.name for c in made_containers], _stacks(made_containers))
    return Topology(name=name, file=w.file, bridges=tuple(made_bridges), containers=tuple(made_containers),
                    p2p=tuple(links), host=host_config, hosts_auto=w.hosts_auto, expectations=tuple(expects),
                    machines=tuple(made_machines), span=name_span)


def _stacks(containers) -> dict[str, str]:
    """Each container's network stack, by the node that owns it: its own, the host's (`net host`, "host"),
    or that of the container it shares (`net container:NAME`, followed to its owner)."""
    net = {c.name: c.net for c in containers}
    out: dict[str, str] = {}
    for name in net:
        seen, at = {name}, name
        while at in net and net[at].kind == "container" and net[at].target not in seen:
            at = net[at].target
            seen.add(at)
        out[name] = "host" if at in net and net[at].kind == "host" else at
    return out


def _expectations(w: Walker, nodes: list[str], stacks: dict[str, str] | None = None) -> list:
    """Every expectation in file order, an all-pairs statement standing for its pairs."""
    nodes = list(dict.fromkeys(nodes))
    out, statements = [], 0
    for st, sc in w.records["expect"]:
        if st.data.startswith("expect_all_"):
            out.extend(w.safe(allpairs.all_pairs, w, st, sc, nodes, statements, stacks or {}) or ())
            statements += 1
        else:
            e = w.safe(expectations.expect, w, st, sc)
            if e:
                out.append(e)
    return out
