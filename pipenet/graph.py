"""`pipenet graph`: a picture of a topology (Graphviz DOT, rendered to SVG or PNG, or Mermaid).

Containers are boxes (name, hostname, the services they run), bridges are
drawn as switches, the host as a house. Every link is an edge labelled with
the interface names and addresses at each end. NAT is marked on the bridges
and containers that masquerade; published ports on the host, one a line
(`publish 127.0.0.1:5353/udp → dns:53`). The picture is made from the file
alone: nothing needs to be up, so a host port that pipenet chooses at `up`
(`publish 80`, `publish-all`) is drawn as `auto` (`publish-all auto/tcp →
web:8000`); `pipenet status` shows the port chosen.
"""

from __future__ import annotations

import shutil
import subprocess

from pipenet.errors import UsageError
from pipenet.ir import Topology
from pipenet.kinds import KINDS


def _q(s: str) -> str:
    """A DOT string; a newline in `s` becomes a centred line break."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _services(c) -> str:
    words = []
    for r in c.run:
        argv = list(r.argv)
        if "pipenet.services" in " ".join(argv[:3]):
            words.append(" ".join(argv[3:]))
        elif len(argv) > 2 and argv[1] == "-m":
            words.append(" ".join(argv[2:]))
        else:
            words.append(argv[0].rsplit("/", 1)[-1])
    return "; ".join(words)


def published_lines(t: Topology) -> list[str]:
    """One line per published port: `publish [HOSTIP:]HOSTPORT/PROTO → NODE:PORT`, `auto` for a host port
    chosen at `up` (`publish PORT`, `publish HOSTIP::PORT`, and every port `publish-all` publishes)."""
    out = []
    for c in t.containers:
        explicit = set()
        for p in c.publish:
            explicit.add((p.port, p.proto))
            where = f"{p.host_ip}:" if p.host_ip is not None else ""
            hp = "auto" if p.host_port is None else str(p.host_port)
            out.append(f"publish {where}{hp}/{p.proto} → {c.name}:{p.port}")
        if c.publish_all:
            out.extend(f"publish-all auto/{e.proto} → {c.name}:{e.number}" for e in c.expose
                       if (e.number, e.proto) not in explicit)
    return out


def edges(t: Topology):
    """(container, interface, edge) for every line an interface's kind draws (`Kind.edges`)."""
    for c in t.containers:
        for i in c.interfaces:
            for e in KINDS[i.kind].edges(t, c, i):
                yield c, i, e


def to_dot(t: Topology) -> str:
    out = [f"graph {_q(t.name)} {{",
           "  graph [rankdir=LR, fontname=Helvetica, overlap=false, splines=true, nodesep=0.35, ranksep=0.9, "
           f"label={_q(t.name)}, labelloc=t];",
           "  node [fontname=Helvetica, fontsize=10];",
           "  edge [fontname=Helvetica, fontsize=8, color=gray40];"]
    host_lines = ["host"]
    pubs = published_lines(t)
    host_lines.extend(pubs)
    if t.host.masquerade:
        host_lines.append("NAT out " + ", ".join(m.out for m in t.host.masquerade))
    uses_host = (any(b.gateway or b.external for b in t.bridges) or bool(pubs) or bool(t.host.masquerade)
                 or any(e.node == "host" for l in t.p2p for e in (l.a, l.b))
                 or any(e.to == "host" for _c, _i, e in edges(t)))
    if uses_host:
        out.append(f'  "host" [shape=house, style=filled, fillcolor="#fde2c8", label={_q(chr(10).join(host_lines))}];')
    for b in t.bridges:
        lines = [b.name]
        if b.address is not None:
            lines.append(str(b.address) if b.subnet is None else f"{b.address.ip}/{b.subnet.prefixlen}")
        elif b.auto:
            lines.append("address auto")
        if b.address6 is not None:  # dual stack: the IPv6 address under the IPv4 one
            lines.append(str(b.address6))
        flags = []
        if b.nat and b.gateway:
            flags.append("NAT")
        if not b.icc:
            flags.append("icc off")
        if b.external:
            flags.append("external")
        if flags:
            lines.append(", ".join(flags))
        out.append(f'  {_q("br:" + b.name)} [shape=box3d, style=filled, fillcolor="#d7e8fa", '
                   f'label={_q(chr(10).join(lines))}];')
        if b.gateway or b.external:
            out.append(f'  "host" -- {_q("br:" + b.name)} [style=dashed, label="gateway"];')
    for c in t.containers:
        lines = [c.name]
        if c.hostname != c.name:
            lines.append(c.hostname)
        if c.net.kind == "host":
            lines.append("(net host)")
        if c.net.kind == "container":
            lines.append(f"(shares {c.net.target})")
        if c.masquerade:
            lines.append("NAT out " + ", ".join(m.out for m in c.masquerade))
        elif c.forwarding:
            lines.append("router")
        svc = _services(c)
        if svc:
            lines.append(svc)
        out.append(f'  {_q(c.name)} [shape=box, style="rounded,filled", fillcolor="#e8f5e0", '
                   f'label={_q(chr(10).join(lines))}];')
        if c.net.kind == "container":
            out.append(f"  {_q(c.name)} -- {_q(c.net.target)} [style=dotted];")
        for i in c.interfaces:
            label = i.name + "".join(f"\n{a}" for a in i.addresses)
            for e in KINDS[i.kind].edges(t, c, i):
                style = f"style={e.style}, " if e.style else ""
                note = chr(10) + e.note if e.note else ""
                out.append(f"  {_q(c.name)} -- {_q(e.to)} [{style}label={_q(label + note)}];")
    for link in t.p2p:
        a, b = link.a, link.b
        ta = a.ifname + (f"\n{a.address}" if a.address is not None else "")
        tb = b.ifname + (f"\n{b.address}" if b.address is not None else "")
        extra = []
        if link.shape is not None:
            extra.append(" ".join(f"{k} {v}" for k, v in link.shape.text.items()))
        out.append(f"  {_q(a.node)} -- {_q(b.node)} [penwidth=2, color=\"#4a7ab5\", taillabel={_q(ta)}, "
                   f"headlabel={_q(tb)}, label={_q(' '.join(extra))}];")
    out += _clusters(t, uses_host)
    out.append("}")
    return "\n".join(out) + "\n"


def _clusters(t: Topology, uses_host: bool) -> list[str]:
    """A topology across machines: each machine a cluster holding its nodes, and the bridges whose address
    lives there (a bridge spanning machines without one is drawn between them)."""
    from pipenet.validate.machines import LOCAL, machine_of, spanning_bridges

    if not t.machines and not any(c.machine for c in t.containers):
        return []
    members: dict[str, list[str]] = {}
    for c in t.containers:
        members.setdefault(machine_of(t, c.name), []).append(c.name)
    spanning = spanning_bridges(t)
    for b in t.bridges:
        if b.machine or b.gateway:
            home = b.machine or LOCAL
        elif b.name in spanning:
            continue
        else:  # (a plain switch on one machine: where its ports are)
            home = next((machine_of(t, c.name) for c in t.containers if any(i.bridge == b.name for i in c.interfaces)),
                        LOCAL)
        members.setdefault(home, []).append("br:" + b.name)
    if uses_host:
        members.setdefault(LOCAL, []).append("host")
    ssh = {m.name: m.ssh for m in t.machines}
    out = []
    for m, nodes in members.items():
        label = f"machine {m}" + (f" ({ssh[m]})" if ssh.get(m) else "")
        out.append(f"  subgraph {_q('cluster_' + m)} {{ label={_q(label)}; style=dashed; color=gray50; "
                   + " ".join(f"{_q(n)};" for n in nodes) + " }")
    return out


def _mid(s: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() else "_" for ch in s)


def _ml(s: str) -> str:
    return s.replace('"', "'").replace("\n", "<br/>")


def to_mermaid(t: Topology) -> str:
    out = ["graph LR"]
    if t.bridges or any(e.node == "host" for l in t.p2p for e in (l.a, l.b)):
        label = "<br/>".join(_ml(line) for line in ["host"] + published_lines(t))
        out.append(f'  {_mid("host")}{{{{"{label}"}}}}')
    for b in t.bridges:
        label = b.name + "".join(f"<br/>{a}" for a in b.addresses) + (
            "<br/>NAT" if b.nat and b.gateway else "")
        out.append(f'  {_mid("br:" + b.name)}[["{_ml(label)}"]]')
        if b.gateway:
            out.append(f'  {_mid("host")} -.- {_mid("br:" + b.name)}')
    for c in t.containers:
        label = c.name + (f"<br/>{c.hostname}" if c.hostname != c.name else "") + (
            "<br/>NAT out " + ", ".join(m.out for m in c.masquerade) if c.masquerade else "")
        out.append(f'  {_mid(c.name)}("{_ml(label)}")')
        for i in c.interfaces:
            for e in KINDS[i.kind].edges(t, c, i):
                if e.style is None:  # (Mermaid draws the solid lines: bridge ports)
                    lab = " ".join([i.name] + [str(a) for a in i.addresses])
                    out.append(f'  {_mid(c.name)} ---|"{_ml(lab)}"| {_mid(e.to)}')
    for link in t.p2p:
        a, b = link.a, link.b
        lab = f"{a.ifname} {a.address or ''} ↔ {b.ifname} {b.address or ''}".strip()
        out.append(f'  {_mid(a.node)} ===|"{_ml(lab)}"| {_mid(b.node)}')
    return "\n".join(out) + "\n"


def write(t: Topology, path: str) -> None:
    from pipenet.fsutil import write_atomic

    if path.endswith(".dot") or path.endswith(".gv"):
        write_atomic(path, to_dot(t).encode(), None)
    elif path.endswith(".mmd"):
        write_atomic(path, to_mermaid(t).encode(), None)
    elif path.endswith(".svg") or path.endswith(".png"):
        dot = shutil.which("dot")
        if dot is None:
            raise UsageError(f"{path}: pictures need Graphviz's dot, which is not installed "
                             f"(apt-get install graphviz); .dot and .mmd work without it")
        fmt = path.rsplit(".", 1)[1]
        r = subprocess.run([dot, f"-T{fmt}"], input=to_dot(t).encode(), capture_output=True, timeout=120)
        if r.returncode != 0:
            raise UsageError(f"dot failed: {r.stderr.decode(errors='replace').strip()}")
        write_atomic(path, r.stdout, None)
    else:
        raise UsageError(f"{path}: the picture's name must end in .svg, .png, .dot or .mmd")
