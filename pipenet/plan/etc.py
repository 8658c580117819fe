"""A container's own /etc files: hosts, resolv.conf and hostname.

hosts: the localhost and IPv6 lines Docker writes; the container's primary
address with its hostname and name; `IP ALIAS HOSTNAME NAME` for each
`link`; `add-host` lines; and with `hosts auto`, every container of the
topology that has an address. resolv.conf: the `dns` servers and
`dns-search` domains; with none given, the host's own file with 127.x and ::1
servers dropped, and Google's 8.8.8.8 and 8.8.4.4 when none remain, as
Docker's guide says.
"""

from __future__ import annotations

from pipenet.ir import Container, Topology

LOCALHOST = ("127.0.0.1\tlocalhost\n"
             "::1\tlocalhost ip6-localhost ip6-loopback\n"
             "fe00::0\tip6-localnet\n"
             "ff00::0\tip6-mcastprefix\n"
             "ff02::1\tip6-allnodes\n"
             "ff02::2\tip6-allrouters\n")

FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")


def primary_address(topo: Topology, c: Container, family: int | None = None) -> str | None:
    """eth0's address when it has one, else the first addressed interface, else the first addressed p2p end;
    with `family`, the first of that family in the same order (a dual-stack node's IPv6 address)."""
    owner = c
    if c.net.kind == "container" and c.net.target in topo.container_map:
        owner = topo.container_map[c.net.target]
    named: dict[str, str] = {}

    def note(ifname: str, addresses) -> None:
        for a in addresses:
            if family is None or a.version == family:
                named.setdefault(ifname, str(a.ip))

    for i in owner.interfaces:
        note(i.name, i.addresses)
    for link in topo.p2p:
        for end in (link.a, link.b):
            if end.node == owner.name and end.address is not None:
                note(end.ifname, (end.address,))
    if "eth0" in named:
        return named["eth0"]
    for i in owner.interfaces:
        if i.name in named:
            return named[i.name]
    return next(iter(named.values()), None)


def _lines(topo: Topology, c: Container) -> str:
    """`IP NAMES` for c's primary address, and for its IPv6 one when it has both (dual stack, as Docker
    writes them)."""
    me = primary_address(topo, c)
    if me is None:
        return ""
    out = f"{me}\t{_names(c)}\n"
    me6 = primary_address(topo, c, 6) if ":" not in me else None
    return out + (f"{me6}\t{_names(c)}\n" if me6 is not None else "")


def _names(c: Container) -> str:
    return c.hostname if c.hostname == c.name else f"{c.hostname} {c.name}"


def hosts(topo: Topology, c: Container) -> str:
    lines = [LOCALHOST]
    lines.append(_lines(topo, c))
    for link in c.links:
        other = topo.container_map.get(link.target)
        ip = primary_address(topo, other) if other is not None else None
        if ip is not None:
            alias = f"{link.alias} " if link.alias and link.alias not in (other.hostname, other.name) else ""
            lines.append(f"{ip}\t{alias}{_names(other)}\n")
    for h in c.add_hosts:
        lines.append(f"{h.ip}\t{h.name}\n")
    if topo.hosts_auto:
        for other in topo.containers:
            if other.name == c.name or other.net.kind == "host":
                continue
            lines.append(_lines(topo, other))
    return "".join(lines)


def resolv_conf(c: Container, host_resolv: str) -> str:
    if c.dns or c.dns_search:
        servers = [str(s) for s in c.dns]
        if not servers:
            servers = _host_servers(host_resolv)
        out = [f"nameserver {s}\n" for s in servers]
        if c.dns_search:
            out.append("search " + " ".join(c.dns_search) + "\n")
        return "".join(out)
    kept = []
    servers = _host_servers(host_resolv)
    for line in host_resolv.splitlines():
        w = line.split()
        if w and w[0] == "nameserver":
            continue
        kept.append(line + "\n")
    return "".join(kept) + "".join(f"nameserver {s}\n" for s in servers)


def _host_servers(host_resolv: str) -> list[str]:
    servers = []
    for line in host_resolv.splitlines():
        w = line.split()
        if len(w) >= 2 and w[0] == "nameserver" and not w[1].startswith("127.") and w[1] != "::1":
            servers.append(w[1])
    return servers or list(FALLBACK_DNS)


def files(topo: Topology, c: Container, host_resolv: str) -> tuple[tuple[str, str], ...]:
    return (("hosts", hosts(topo, c)), ("resolv.conf", resolv_conf(c, host_resolv)), ("hostname", c.hostname + "\n"))
