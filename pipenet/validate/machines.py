"""A topology across machines (docs/multi-host.md): every `machine M` names a declared machine, each
machine can be reached and has an underlay address, and nothing is asked of a machine that a slice of
the topology could not carry (refused here, located, rather than half made)."""

from __future__ import annotations

from netaddr import AddrFormatError, IPAddress

from pipenet.diagnostics import Diagnostic, did_you_mean
from pipenet.ir import Topology
from pipenet.validate.index import Index

LOCAL = "local"


def machine_of(topo: Topology, node: str) -> str:
    """The machine a node lives on (`local` for the one pipenet runs on, and for `host`)."""
    c = topo.container_map.get(node)
    return (c.machine if c is not None else None) or LOCAL


def underlay(m) -> IPAddress | None:
    """A machine's tunnel address: as given, or the address `ssh` connects to when that is one."""
    if m.underlay is not None:
        return m.underlay
    try:
        return IPAddress(m.host) if m.host else None
    except (AddrFormatError, ValueError):
        return None


def check_machines(topo: Topology, idx: Index) -> list[Diagnostic]:
    if not topo.machines and not any(c.machine for c in topo.containers) and not any(
            b.machine for b in topo.bridges):
        return []  # (the single-machine case: nothing to check)
    out: list[Diagnostic] = []
    seen: dict[str, object] = {}
    for m in topo.machines:
        if m.name in seen:
            out.append(Diagnostic(f"machine `{m.name}` is declared twice", m.span,
                                  f"the first is at line {seen[m.name].span.line}"))
            continue
        seen[m.name] = m
        if m.name == LOCAL:
            if m.ssh is not None or m.pipenet is not None or m.underlay is None:
                out.append(Diagnostic("`machine local` is the machine pipenet runs on: it takes only `underlay`",
                                      m.spans.get("ssh", m.spans.get("pipenet", m.span)),
                                      "machine local { underlay ADDR }"))
        elif m.ssh is None:
            out.append(Diagnostic(f"machine {m.name} has no `ssh`: pipenet cannot reach it", m.span,
                                  f"e.g. machine {m.name} {{ ssh root@10.50.0.11 }}"))
        elif underlay(m) is None:
            out.append(Diagnostic(f"machine {m.name} is reached as {m.host}, which is not an address: its "
                                  f"tunnels need one", m.spans.get("ssh", m.span),
                                  "give its address for tunnels: underlay ADDR"))
    names = list(seen) + [LOCAL] * (LOCAL not in seen)

    def need(name, span, what):
        if name is not None and name not in seen and name != LOCAL:
            out.append(Diagnostic(f"machine `{name}` is not declared", span,
                                  did_you_mean(name, names) or f"declare it with `machine {name} {{ ssh HOST }}`"))

    for c in topo.containers:
        need(c.machine, c.spans.get("machine", c.span), "machine")
    for b in topo.bridges:
        need(b.machine, b.spans.get("machine", b.span), "machine")
    if out:
        return out
    under = {}
    for m in topo.machines:
        addr = underlay(m)
        other = under.setdefault(addr, m)
        if other is not m:
            out.append(Diagnostic(f"machines {other.name} and {m.name} have one underlay address, {addr}",
                                  m.spans.get("underlay", m.span), "each machine needs its own"))
    out += _unsupported(topo)
    return out


def _unsupported(topo: Topology) -> list[Diagnostic]:
    """What a slice cannot carry yet: refused with one located line each."""
    out: list[Diagnostic] = []
    spanning = spanning_bridges(topo)
    for c in topo.containers:
        where = c.spans.get("machine", c.span)
        if c.net.kind == "container" and machine_of(topo, c.net.target) != machine_of(topo, c.name):
            out.append(Diagnostic(f"{c.name} shares the namespace of {c.net.target}, which is on machine "
                                  f"{machine_of(topo, c.net.target)}", c.net.span,
                                  f"put both on one machine (machine {machine_of(topo, c.net.target)})"))
        p = c.primary
        home = topo.bridge_map.get(p.bridge) if p is not None else None
        if (c.publish or c.publish_all) and home is not None and (home.machine or LOCAL) != machine_of(topo, c.name):
            sp = c.publish[0].span if c.publish else c.spans.get("publish_all", c.span)
            out.append(Diagnostic(f"{c.name} publishes ports on machine {machine_of(topo, c.name)}, but bridge "
                                  f"{home.name}'s address and NAT are on {home.machine or LOCAL}", sp,
                                  f"put {c.name} on {home.machine or LOCAL}, or the bridge on "
                                  f"{machine_of(topo, c.name)} (machine M in the bridge)"))
        if c.attach is not None and c.machine:
            out.append(Diagnostic(f"{c.name} attaches to an existing namespace, which a machine reached over "
                                  f"ssh does not carry yet", where, "run it on the local machine"))
    for b in topo.bridges:
        if b.name in spanning and (b.auto or b.external):
            what = "`address auto`" if b.auto else "`external`"
            out.append(Diagnostic(f"bridge {b.name} spans machines {', '.join(spanning[b.name])} and is "
                                  f"{what}, which only one machine can decide", b.spans.get("address", b.span),
                                  "give it an address (or keep its containers on one machine)"))
    declared = {m.name for m in topo.machines}
    if LOCAL not in declared:
        for b, ms in spanning.items():
            if LOCAL in ms:
                br = topo.bridge_map[b]
                out.append(Diagnostic(f"bridge {b} joins the machine pipenet runs on to {', '.join(ms[1:])}, "
                                      f"whose tunnels need its address", br.span,
                                      "declare it: machine local { underlay ADDR }"))
        for link in topo.p2p:
            ends = (machine_of(topo, link.a.node), machine_of(topo, link.b.node))
            if ends[0] != ends[1] and LOCAL in ends:
                out.append(Diagnostic(f"p2p {link.a.ref} -- {link.b.ref} joins the machine pipenet runs on to "
                                      f"another, whose tunnel needs its address", link.span,
                                      "declare it: machine local { underlay ADDR }"))
    return out


def spanning_bridges(topo: Topology) -> dict[str, list[str]]:
    """{bridge: the machines it has ports on, sorted} for each bridge on more than one machine."""
    on: dict[str, set[str]] = {}
    for b in topo.bridges:
        on[b.name] = {b.machine or LOCAL} if (b.machine or b.gateway) else set()
    for c in topo.containers:
        for i in c.interfaces:
            if i.bridge is not None and i.bridge in on:
                on[i.bridge].add(c.machine or LOCAL)
    return {b: sorted(ms) for b, ms in on.items() if len(ms) > 1}
