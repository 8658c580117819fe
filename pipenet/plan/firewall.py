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

IPv6 (ip6tables, tables `ip6:filter` and `ip6:nat`), for each bridge with an
IPv6 address: the same FWD rules with the IPv6 addresses (/128), plus
neighbour solicitations and advertisements accepted between ports under
`icc off`; the same DNAT (`--to-destination [IP]:PORT`) and hairpin
MASQUERADE for a dual-stack container's published ports. No MASQUERADE of an
IPv6 subnet going out (routed, not NAT'd) and no `masquerade out` (IPv4's).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (the IR imports netaddr: a no-op `up`, which reads firewall ops, needs neither)
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
    ip6: str | None = None  # a dual-stack container's IPv6 address: the port is published over both

    def ip_of(self, version: int) -> str | None:
        if version == 6:
            return self.ip6 if self.ip6 is not None else (self.ip if ":" in self.ip else None)
        return None if ":" in self.ip else self.ip


def table_name(table: str, version: int) -> str:
    """A table of a family: `filter` and `nat` are iptables' (IPv4), `ip6:filter` and `ip6:nat`
    ip6tables' (the backend runs ip6tables-restore for those)."""
    return table if version == 4 else f"ip6:{table}"


def bare_table(table: str) -> tuple[str, int]:
    """(table, family) of a table name made by `table_name`."""
    return (table[4:], 6) if table.startswith("ip6:") else (table, 4)


def tables_for(topo: Topology, published: list[Published], node_ns: dict[str, str]
               ) -> dict[tuple[str, str], dict[str, list[str]]]:
    """{(node, table): {suffix: [rule, ...]}} for every namespace that needs rules; a table is IPv4's
    (`filter`, `nat`) or IPv6's (`ip6:filter`, `ip6:nat`, see `table_name`)."""
    out: dict[tuple[str, str], dict[str, list[str]]] = {}
    for version in (4, 6):
        _family_rules(topo, published, node_ns, version, out)
    # one rule once: a port published on two host ports needs its ACCEPT and hairpin MASQUERADE once
    return {where: {sfx: list(dict.fromkeys(rs)) for sfx, rs in chains.items()} for where, chains in out.items()}


def _family_rules(topo: Topology, published: list[Published], node_ns: dict[str, str], version: int,
                  out: dict) -> None:
    """The rules of one family, in Docker's places: iptables' for the IPv4 side of the topology,
    ip6tables' for the IPv6 side (a dual-stack bridge has both; Docker's `--ip6tables` does the same)."""
    host = 32 if version == 4 else 128

    def rules(node: str, table: str, suffix: str) -> list[str]:
        return out.setdefault((node, table_name(table, version)), {}).setdefault(suffix, [])

    def ip_of(c) -> str | None:
        a = c.primary.address_of(version) if c.primary is not None else None
        return str(a.ip) if a is not None else None

    by_bridge: dict[str, list[Published]] = {}
    for p in published:
        if p.ip_of(version) is not None:
            by_bridge.setdefault(p.bridge, []).append(p)
    exposed = {c.name: c.expose for c in topo.containers}
    addr = {c.name: ip_of(c) for c in topo.containers if ip_of(c) is not None}
    for b in topo.bridges:
        if version == 6 and not b.has_ipv6:
            continue  # (IPv4's rules are written for every bridge, as before dual stack; IPv6's where it is)
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
                    fwd.append(f"-s {me}/{host} -d {them}/{host} -i {br} -o {br} -p {pr} -m {pr} "
                               f"--dport {port.number} -j ACCEPT")
                    fwd.append(f"-s {them}/{host} -d {me}/{host} -i {br} -o {br} -p {pr} -m {pr} "
                               f"--sport {port.number} -j ACCEPT")
        for p in by_bridge.get(br, ()):
            ip = p.ip_of(version)
            fwd.append(f"-d {ip}/{host} ! -i {br} -o {br} -p {p.proto} -m {p.proto} --dport {p.port} -j ACCEPT")
            fwd.append(f"-d {ip}/{host} -i {br} -o {br} -p {p.proto} -m {p.proto} --dport {p.port} "
                       f"-m conntrack --ctstate DNAT -j ACCEPT")
        if b.gateway:
            fwd.append(f"-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            fwd.append(f"-i {br} ! -o {br} -j ACCEPT")
        if version == 6 and not b.icc:
            # neighbour discovery is ICMPv6, so it meets the DROP below (ARP never does): let it through,
            # or even a `link` or a published port would find no neighbour to send to
            for kind in ("neighbour-solicitation", "neighbour-advertisement"):
                fwd.append(f"-i {br} -o {br} -p ipv6-icmp -m icmp6 --icmpv6-type {kind} -j ACCEPT")
        fwd.append(f"-i {br} -o {br} -j {'ACCEPT' if b.icc else 'DROP'}")
        subnet = b.subnet if b.subnet is not None and b.subnet.version == version else b.subnet6
        if version == 4 and subnet is not None and b.nat:  # (IPv6 subnets are routed, not NAT'd)
            rules("host", "nat", "POST").append(f"-s {subnet} ! -o {br} -j MASQUERADE")
        if by_bridge.get(br) and subnet is not None:
            post = rules("host", "nat", "POST")
            for p in by_bridge[br]:
                post.append(f"-s {subnet} -d {p.ip_of(version)}/{host} -o {br} -p {p.proto} -m {p.proto} "
                            f"--dport {p.port} -j MASQUERADE")
            post.append(f"-o {br} -m addrtype --src-type LOCAL -j MASQUERADE")
    for p in published:
        ip = p.ip_of(version)
        if ip is None or (p.host_ip is not None and (":" in p.host_ip) != (version == 6)):
            continue
        dest = f"-d {p.host_ip}/{host} " if p.host_ip else ""
        to = f"{ip}:{p.port}" if version == 4 else f"[{ip}]:{p.port}"
        rule = f"{dest}-p {p.proto} -m {p.proto} --dport {p.host_port} -j DNAT --to-destination {to}"
        rules("host", "nat", "PRE").append(rule)
        rules("host", "nat", "OUT").append(rule)
    if version == 6:
        return  # `masquerade out IF` is IPv4's NAT, as Docker's and a home modem's
    for m in topo.host.masquerade:
        rules("host", "nat", "POST").append(f"-o {m.out} -j MASQUERADE")
    for c in topo.containers:
        if c.net.kind in ("host", "container") or c.name not in node_ns:
            continue
        for m in c.masquerade:
            rules(c.name, "nat", "POST").append(f"-o {m.out} -j MASQUERADE")
