"""`vlan ID of IF`: an 802.1Q VLAN interface, tagging its frames with ID on a parent.

    interface eth1.100 vlan 100 of eth1          # of the node's own eth1
    interface v5 vlan 5 of host:eth0             # or of a host interface, moved into the node

Made after its parent, where the parent is. On a real segment, so IPv6
addresses keep duplicate address detection. Needs CONFIG_VLAN_8021Q.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipenet.backends import nlmsg
from pipenet.kinds.base import Edge, Kind, probe_veth


@dataclass(frozen=True)
class Vlan:
    """A VLAN interface's own settings: its 802.1Q id (1 to 4094)."""

    id: int


class VlanKind(Kind):
    name = "vlan"
    rule = "vlan"
    usage = "vlan ID of IF"
    short = "vlan"
    after = {"vlan": "a VLAN id like 100", "of": "an interface like eth0 or host:eth0"}
    link_kind = "vlan"
    feature = "CONFIG_VLAN_8021Q (802.1Q VLAN interfaces)"
    parent_is_link = True

    def build(self, w, part, sc, f, spans):
        from pipenet.lang import values as V
        from pipenet.lang.walk import words

        t = words(part)
        f["settings"] = Vlan(w.typed(t[0], sc, V.integer, "a VLAN id", 1, 4094))
        spans["vlan_id"] = w.span(t[0], sc)
        self.set_parent(w, t[1], sc, f, spans)

    def edges(self, t, c, i):
        return [Edge("host", "dashed", "vlan")] if i.parent_node == "host" else []

    def op_fields(self, i):
        return {"vlan_id": i.settings.id}

    def info_data(self, settings, parent_index):
        return nlmsg.u16(nlmsg.IFLA_VLAN_ID, settings["vlan_id"])

    def ip_words(self, settings, parent):
        return ["id", settings.get("vlan_id")]

    def probe(self, nl):
        nl.link_add("pnprobe0.5", "vlan", link=probe_veth(nl), info_data=self.info_data({"vlan_id": 5}, None))


KIND = VlanKind()
