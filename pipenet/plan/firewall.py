"""The firewall rules a topology needs, in the shapes Docker's guide shows.

Rules live in chains the topology owns, named `PN-<topology>-FWD|PRE|OUT|POST`
(`PN~<hash of the whole name>-...` when the name does not fit iptables' 28
characters), each reached by one jump from a built-in chain; every rule and
every jump carries `-m comment --comment pipenet:<topology>`.

In the host namespace:
- filter FWD, per bridge: for each `link` under `icc off` the port-specific
  pair (`-s CHILD -d TARGET --dport P -j ACCEPT`, `-s TARGET -d CHILD --sport P
  -j ACCEPT`); for each published port `-d CIP ! -i BR -o BR --dport P -j
  ACCEPT` (and the same from the bridge itself for DNAT'd hairpin traffic);
  replies and outbound traffic of gateway bridges; last `-i BR -o BR -j ACCEPT`
  (icc on) or `-j DROP` (icc off). Everything accepted here is accepted even
  where the FORWARD policy is DROP, as it is when Docker is installed.
- nat POST: `-s SUBNET ! -o BR -j MASQUERADE` for each NAT'd bridge, the
  hairpin MASQUERADE for each published port, MASQUERADE of locally
  generated traffic into a bridge with published ports (so 127.0.0.1 works,
  with route_localnet on the bridge), and `masquerade out IF` of the host block.
- nat PRE and OUT (jumped to for destinations of type LOCAL): one DNAT per
  published port, `--dport HOSTPORT -j DNAT --to-destination IP:PORT`.
In a container namespace: nat POST `-o IF -j MASQUERADE` for `masquerade out IF`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipenet.ir import Topology

TABLE_JUMPS = {
    "filter": (("FORWARD", "FWD", ""),),
    "nat": (("PREROUTING", "PRE", "-m addrtype --dst-type LOCAL"), ("OUTPUT", "OUT", "-m addrtype --dst-type LOCAL"),
            ("POSTROUTING", "POST", "")),
}


def chain_base(topology: str) -> str:
    """The prefix of a topology's chains: `PN-NAME` when the whole name fits iptables' 28 characters
    with the longest suffix (`-POST`), else `PN~` and a hash of the whole name. A topology name cannot
    contain `~`, so the two forms never collide, and no truncation makes two names one."""
    base = f"PN-{topology}"
    if len(base) > 23:
        base = f"PN~{hashlib.sha256(topology.encode()).hexdigest()[:16]}"
    return base


def with_tag(rule: str, tag: str) -> str:
    """A rule with pipenet's comment, placed before its target (every rule of a pipenet chain has it)."""
    head, sep, target = rule.partition(" -j ")
    if not sep:
        return f"{rule} -m comment --comment {tag}"
    return f"{head} -m comment --comment {tag} -j {target}"


@dataclass(frozen=True)
class Published:
    """A published port, resolved: host address (None: any), host port, container address and port."""

    node: str
    bridge: str
    host_ip: str | None
    host_port: int
    ip: str
    port: int
    proto: str


def tables_for(topo: Topology, published: list[Published], node_ns: dict[str, str]
               ) -> dict[tuple[str, str], dict[str, list[str]]]:
    """{(node, table): {suffix: [rule, ...]}} for every namespace that needs rules."""
    out: dict[tuple[str, str], dict[str, list[str]]] = {}

    def rules(node: str, table: str, suffix: str) -> list[str]:
        return out.setdefault((node, table), {}).setdefault(suffix, [])

    by_bridge: dict[str, list[Published]] = {}
    for p in published:
        by_bridge.setdefault(p.bridge, []).append(p)
    exposed = {c.name: c.expose for c in topo.containers}
    addr = {}
    for c in topo.containers:
        if c.primary is not None and c.primary.address is not None:
            addr[c.name] = str(c.primary.address.ip)
    for b in topo.bridges:
        br = b.name
        fwd = rules("host", "filter", "FWD")
        for c in topo.containers:  # links under icc off
            if b.icc or c.primary is None or c.primary.bridge != br:
                continue
            for link in c.links:
                if link.target not in addr or c.name not in addr:
                    continue
                for port in exposed.get(link.target, ()):
                    me, them, pr = addr[c.name], addr[link.target], port.proto
                    fwd.append(f"-s {me}/32 -d {them}/32 -i {br} -o {br} -p {pr} -m {pr} --dport {port.number} -j ACCEPT")
                    fwd.append(f"-s {them}/32 -d {me}/32 -i {br} -o {br} -p {pr} -m {pr} --sport {port.number} -j ACCEPT")
        for p in by_bridge.get(br, ()):
            fwd.append(f"-d {p.ip}/32 ! -i {br} -o {br} -p {p.proto} -m {p.proto} --dport {p.port} -j ACCEPT")
            fwd.append(f"-d {p.ip}/32 -i {br} -o {br} -p {p.proto} -m {p.proto} --dport {p.port} "
                       f"-m conntrack --ctstate DNAT -j ACCEPT")
        if b.gateway:
            fwd.append(f"-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            fwd.append(f"-i {br} ! -o {br} -j ACCEPT")
        fwd.append(f"-i {br} -o {br} -j {'ACCEPT' if b.icc else 'DROP'}")
        v4 = b.subnet is not None and b.subnet.version == 4  # (IPv6 subnets are routed, not NAT'd)
        if v4 and b.nat:
            rules("host", "nat", "POST").append(f"-s {b.subnet} ! -o {br} -j MASQUERADE")
        if by_bridge.get(br) and v4:
            post = rules("host", "nat", "POST")
            for p in by_bridge[br]:
                post.append(f"-s {b.subnet} -d {p.ip}/32 -o {br} -p {p.proto} -m {p.proto} --dport {p.port} "
                            f"-j MASQUERADE")
            post.append(f"-o {br} -m addrtype --src-type LOCAL -j MASQUERADE")
    for p in published:
        dest = f"-d {p.host_ip}/32 " if p.host_ip else ""
        rule = f"{dest}-p {p.proto} -m {p.proto} --dport {p.host_port} -j DNAT --to-destination {p.ip}:{p.port}"
        rules("host", "nat", "PRE").append(rule)
        rules("host", "nat", "OUT").append(rule)
    for m in topo.host.masquerade:
        rules("host", "nat", "POST").append(f"-o {m.out} -j MASQUERADE")
    for c in topo.containers:
        if c.net.kind in ("host", "container") or c.name not in node_ns:
            continue
        for m in c.masquerade:
            rules(c.name, "nat", "POST").append(f"-o {m.out} -j MASQUERADE")
    # one rule once: a port published on two host ports needs its ACCEPT and hairpin MASQUERADE once
    return {where: {sfx: list(dict.fromkeys(rs)) for sfx, rs in chains.items()} for where, chains in out.items()}
