"""`on BRIDGE`: a port of a bridge, Docker's bridge networking.

    interface eth1 on homeA [host-name vethweb] [address 192.168.1.11/24]
    container web { net docker0 }          # eth0, a port of docker0 (the `primary` interface)

A veth pair: one end in the container, named as written; the other in the
host, a port of the bridge, named by `host-name` or else `pn` + ten hex
digits of a hash (`pipenet.plan.names.host_port_name`). Its address comes
from the bridge's pool when the bridge has an address and none is given;
one without a prefix takes the bridge's. Any kernel has it (veth, bridge).
"""

from __future__ import annotations

from functools import lru_cache

from pipenet.kinds.base import Edge, Kind


class Port(Kind):
    name = "port"
    rule = "on"
    usage = "on BRIDGE"
    short = "on BRIDGE"
    after = {"on": "a bridge name", "host-name": "an interface name for the host end, like vethweb"}
    on_bridge = True
    own_segment = True

    def build(self, w, part, sc, f, spans):
        from pipenet.lang import values as V
        from pipenet.lang.walk import words

        tok = words(part)[0]
        f["bridge"] = w.typed(tok, sc, V.ifname)
        spans["bridge"] = w.span(tok, sc)

    def edges(self, t, c, i):
        return [Edge("br:" + i.bridge)]

    def compile(self, comp, c, ns, i):
        AddVeth, hashed_mac, host_port_name, port_group = _planner()
        t = comp.t
        publishes = i.primary and (bool(c.publish) or c.publish_all)
        host_end = i.host_name or host_port_name(t.name, c.name, i.name)
        return AddVeth("host", "", host_end, c.name, ns, i.name, mac=hashed_mac(t.name, "host", host_end),
                       peer_mac=i.mac, mtu=i.mtu or (t.bridge_map[i.bridge].mtu if i.bridge in t.bridge_map else None),
                       master=i.bridge, hairpin=publishes, group=port_group(t.name), owner=t.name,
                       quiet=i.bridge in comp.quiet_bridges)  # the host end; the container's follows its node


@lru_cache(maxsize=1)
def _planner():
    """What compiling a port needs, imported once, when first needed (the front end reads this module and
    never loads the planner; a 10,000-port plan does not import 30,000 times)."""
    from pipenet.allocate import hashed_mac
    from pipenet.plan.names import host_port_name, port_group
    from pipenet.plan.ops import AddVeth

    return AddVeth, hashed_mac, host_port_name, port_group


KIND = Port()
