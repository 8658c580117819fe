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


def _stacks(containers) -> dict[str, object]:
    """Each container's network stack, by the node that owns it: its own, or that of the container it
    shares (`net container NAME`, followed to its owner), or a host's (`net host`: ("host", its machine),
    the `host` node's being ("host", None) on a topology of one machine)."""
    by_name = {c.name: c for c in containers}
    out: dict[str, object] = {}
    for name, c in by_name.items():
        seen, at = {name}, c
        while at.net.kind == "container" and at.net.target in by_name and at.net.target not in seen:
            seen.add(at.net.target)
            at = by_name[at.net.target]
        out[name] = ("host", at.machine) if at.net.kind == "host" else at.name
    return out


def _expectations(w: Walker, nodes: list[str], stacks: dict[str, object]) -> list:
    """Every expectation in file order, an all-pairs statement standing for its pairs."""
    nodes = list(dict.fromkeys(nodes))
    out, statements = [], 0
    for st, sc in w.records["expect"]:
        if st.data.startswith("expect_all_"):
            out.extend(w.safe(allpairs.all_pairs, w, st, sc, nodes, statements, stacks) or ())
            statements += 1
        else:
            e = w.safe(expectations.expect, w, st, sc)
            if e:
                out.append(e)
    return out
