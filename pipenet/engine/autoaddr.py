"""`address auto`: the first private subnet that nothing else uses.

Candidates, in order: 172.17.0.0/16 ... 172.31.0.0/16 (Docker's choice),
then 10.0.0.0/16 ... 10.255.0.0/16, then 192.168.0.0/24 ... 192.168.255.0/24.
A candidate is taken when it overlaps no address or route of the host, no
bridge of this file and no subnet another topology records. The bridge gets
the first host address (.1). The choice goes into the record and is reused by
every later `up`.
"""

from __future__ import annotations

from netaddr import IPNetwork, IPSet

from pipenet.ir import IfAddr, Topology


def candidates():
    for b in range(17, 32):
        yield IPNetwork(f"172.{b}.0.0/16")
    for b in range(0, 256):
        yield IPNetwork(f"10.{b}.0.0/16")
    for c in range(0, 256):
        yield IPNetwork(f"192.168.{c}.0/24")


def choose(topo: Topology, recorded: dict[str, str], taken: IPSet) -> dict[str, IfAddr]:
    """Map each `address auto` bridge to an address (recorded choices kept)."""
    out: dict[str, IfAddr] = {}
    used = IPSet(taken)
    for b in topo.bridges:
        if b.subnet is not None:
            used.add(b.subnet)
    for name, text in recorded.items():
        used.add(IPNetwork(text).cidr)
    for b in topo.bridges:
        if not b.auto:
            continue
        if b.name in recorded:
            net = IPNetwork(recorded[b.name])
            out[b.name] = IfAddr(net.ip, net.prefixlen)
            continue
        for cand in candidates():
            if not used.intersection(IPSet([cand])):
                used.add(cand)
                out[b.name] = IfAddr(cand[1], cand.prefixlen)
                break
    return out
