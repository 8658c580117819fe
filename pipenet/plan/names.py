"""Kernel names pipenet gives things: namespaces and host-side veth ends.

A container's namespace is /run/netns/TOPOLOGY@NODE: `@` never appears in a
topology or node name, so two topologies with the same node names never
collide, and `ip netns exec fopnp@h1 ...` reads naturally. A bridge port's
host end is `pn` + 10 hex digits of a hash of topology, node and interface:
stable across runs and machines, within the kernel's 15 bytes, and
recognisable as pipenet's in `ip link`.
"""

from __future__ import annotations

import hashlib


def netns_name(topology: str, node: str) -> str:
    return f"{topology}@{node}"


def host_port_name(topology: str, node: str, ifname: str) -> str:
    return "pn" + hashlib.sha1(f"{topology}/{node}/{ifname}".encode()).hexdigest()[:10]


def port_group(topology: str) -> int:
    """The netdev group of a topology's bridge-port host ends: 2..2^28, never the default group 0."""
    return 2 + int(hashlib.sha1(f"group/{topology}".encode()).hexdigest()[:7], 16)
