"""What the running kernel can do, found by trying it in a throwaway namespace.

A probe unshares a scratch network namespace in the worker thread (no
mount, so it vanishes when closed), tries to create the interface or qdisc
there, and reports whether the kernel accepted it. Nothing outside the
scratch namespace is touched, and the answer is cached for the process.
"""

from __future__ import annotations

from pipenet.backends import linux
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
    """Whether this kernel has `feature` (a key of `pipenet.backends.features.FEATURES`): an interface kind's
    (its module's `probe` makes one) or a qdisc's."""
    from pipenet.backends.features import PROBES
    from pipenet.backends.tc import set_shape

    if feature in PROBES:  # an interface kind's (registered by pipenet.kinds)
        return _try(ns, PROBES[feature])
    tests = {
        "netem": lambda nl: (nl.link_set("lo", up=True), set_shape(nl, "lo", delay_ms=1)),
        "tbf": lambda nl: (nl.link_set("lo", up=True), set_shape(nl, "lo", rate_bps=1_000_000)),
    }
    if feature not in tests:
        raise ValueError(f"no probe for {feature!r}: an interface kind's is registered when pipenet.kinds loads")
    return _try(ns, tests[feature])
