"""What the running kernel can do, found by trying it in a throwaway namespace.

A probe unshares a scratch network namespace in the worker thread (no
mount, so it vanishes when closed), tries to create the interface or qdisc
there, and reports whether the kernel accepted it. Nothing outside the
scratch namespace is touched, and the answer is cached for the process.
"""

from __future__ import annotations

from pipenet.backends import linux, nlmsg
from pipenet.backends.netlink import Netlink, NetlinkError


def _try(ns, fn) -> bool:
    def inside():
        linux.unshare(linux.CLONE_NEWNET)
        nl = None
        try:
            nl = Netlink.open_here()
            fn(nl)
            return True
        except (NetlinkError, OSError, KeyError, ValueError):
            return False
        finally:
            if nl is not None:
                nl.close()
            ns._back()

    return ns.worker.run(inside)


def probe(ns, feature: str) -> bool:
    from pipenet.backends.tc import set_shape

    def veth(nl):
        nl.link_add("pnprobe0", "veth", peer={"ifname": "pnprobe1"})

    tests = {
        "dummy": lambda nl: nl.link_add("pnprobe0", "dummy"),
        "vlan": lambda nl: (veth(nl), nl.link_add("pnprobe0.5", "vlan", link="pnprobe0",
                                                  info_data=nlmsg.u16(nlmsg.IFLA_VLAN_ID, 5))),
        "macvlan": lambda nl: (veth(nl), nl.link_add("pnprobe2", "macvlan", link="pnprobe0",
                                                     info_data=nlmsg.u32(nlmsg.IFLA_MACVLAN_MODE, 4))),
        "netem": lambda nl: (nl.link_set("lo", up=True), set_shape(nl, "lo", delay_ms=1)),
        "tbf": lambda nl: (nl.link_set("lo", up=True), set_shape(nl, "lo", rate_bps=1_000_000)),
    }
    return _try(ns, tests[feature])
