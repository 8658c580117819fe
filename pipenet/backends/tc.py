"""Link shaping with qdiscs: tbf for rate, netem for delay/jitter/loss.

The options are encoded by pyroute2's tc plugins (intricate, and off the hot path).

rate only: a root tbf. netem only: a root netem. Both: netem at the root
(handle 1:) with tbf under it (parent 1:1), the usual way to combine them.
"""

from __future__ import annotations

import errno

from pyroute2.netlink.rtnl.tcmsg import plugins, tcmsg

from pipenet.backends.netlink import Netlink, NetlinkError
from pipenet.backends.nlmsg import NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, RTM_DELQDISC, RTM_NEWQDISC

TC_H_ROOT = 0xFFFFFFFF


def _body(m: tcmsg) -> bytes:
    """The message pyroute2 encoded, without its netlink header (the socket adds its own)."""
    m.encode()
    return bytes(m.data[16:])


def _qdisc(nl: Netlink, ifname: str, kind: str, handle: int, parent: int, options: dict, what: str) -> None:
    m = tcmsg()
    m["index"] = nl.link_index(ifname)
    m["handle"] = handle
    m["parent"] = parent
    m["attrs"] = [("TCA_KIND", kind), ("TCA_OPTIONS", options)]
    nl.request(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, _body(m), what)


def tbf_options(rate_bps: int, burst: int) -> dict:
    """tbf's options for a rate (bits/s) and a bucket size (bytes; the caller computes it, so that
    what pipenet applies and what `plan --format sh` prints are the same number)."""
    rate_bytes = max(rate_bps // 8, 1)
    return plugins["tbf"].get_parameters({"rate": rate_bytes, "burst": burst, "latency": 50000})


def netem_options(delay_ms, jitter_ms, loss_pct) -> dict:
    kw = {}
    if delay_ms:
        kw["delay"] = int(delay_ms * 1000)
    if jitter_ms:
        kw["jitter"] = int(jitter_ms * 1000)
    if loss_pct:
        kw["loss"] = loss_pct
    return plugins["netem"].get_parameters(kw)


def set_shape(nl: Netlink, ifname: str, delay_ms=None, jitter_ms=None, loss_pct=None, rate_bps=None,
              burst=None) -> None:
    netem = any(v for v in (delay_ms, jitter_ms, loss_pct))
    burst = burst or 16 * 1024
    if netem:
        _qdisc(nl, ifname, "netem", 0x10000, TC_H_ROOT, netem_options(delay_ms, jitter_ms, loss_pct),
               f"shape {ifname} with netem")
        if rate_bps:
            _qdisc(nl, ifname, "tbf", 0x100000, 0x10001, tbf_options(rate_bps, burst), f"shape {ifname} with tbf")
    elif rate_bps:
        _qdisc(nl, ifname, "tbf", 0x10000, TC_H_ROOT, tbf_options(rate_bps, burst), f"shape {ifname} with tbf")


def clear_shape(nl: Netlink, ifname: str) -> None:
    m = tcmsg()
    try:
        m["index"] = nl.link_index(ifname)
    except NetlinkError:
        return
    m["handle"] = 0
    m["parent"] = TC_H_ROOT
    try:
        nl.request(RTM_DELQDISC, NLM_F_REQUEST | NLM_F_ACK, _body(m), f"remove shaping from {ifname}")
    except NetlinkError as e:
        if e.errno not in (errno.ENOENT, errno.EINVAL, errno.ENODEV):
            raise
