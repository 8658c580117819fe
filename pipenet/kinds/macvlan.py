"""`macvlan of IF [mode MODE]`: an interface with a MAC of its own on a parent's segment (pipework's
physical-interface case).

    interface mv0 macvlan of host:eth0 [mode bridge]      # usually a host interface
    interface mv1 macvlan of eth1                          # or one of the node's own

Made where the parent is (the host), then moved into the node. On a real
segment, so IPv6 addresses keep duplicate address detection. Needs
CONFIG_MACVLAN.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipenet.backends import nlmsg
from pipenet.kinds.base import Edge, Kind, probe_veth

#: the kernel's numbers for the modes (linux/if_link.h, MACVLAN_MODE_*)
MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}


@dataclass(frozen=True)
class Macvlan:
    """A macvlan's own settings: its mode as written (None: the default, bridge)."""

    mode: str | None = None


class MacvlanKind(Kind):
    name = "macvlan"
    rule = "macvlan"
    usage = "macvlan of host:eth0"
    short = "macvlan"
    after = {"of": "an interface like eth0 or host:eth0"}
    link_kind = "macvlan"
    feature = "CONFIG_MACVLAN (macvlan interfaces)"
    parent_is_link = True

    def build(self, w, part, sc, f, spans):
        from pipenet.lang.walk import words

        t = words(part)
        self.set_parent(w, t[0], sc, f, spans)
        mode = None
        if len(t) > 1:
            mode = w.text(t[1], sc)
            if mode not in MODES:
                w.error(f"unknown macvlan mode `{mode}`", w.span(t[1], sc),
                        "modes: bridge, private, vepa, passthru, source")
        f["settings"] = Macvlan(mode)

    def edges(self, t, c, i):
        return [Edge("host", "dashed", "macvlan")] if i.parent_node == "host" else []

    def op_fields(self, i):
        return {"mode": i.settings.mode}

    def info_data(self, settings, parent_index):
        return nlmsg.u32(nlmsg.IFLA_MACVLAN_MODE, MODES[settings.get("mode") or "bridge"])

    def ip_words(self, settings, parent):
        return ["mode", settings.get("mode") or "bridge"]

    def probe(self, nl):
        nl.link_add("pnprobe2", "macvlan", link=probe_veth(nl), info_data=self.info_data({}, None))


KIND = MacvlanKind()
