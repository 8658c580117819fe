"""Optional kernel features, named as the kernel's configuration names them, and how to try each.

The qdiscs shaping uses are listed here. Each interface kind that not every
kernel has adds its own when `pipenet.kinds` loads (`register`): the backends
know no kind by name, so the layers stay one way (a kind's module, above,
hands its words and its probe down to the backends; nothing here imports it).
"""

from __future__ import annotations

from typing import Callable

#: feature -> the kernel configuration it needs, in words (for the one-line refusal)
FEATURES: dict[str, str] = {
    "netem": "CONFIG_NET_SCH_NETEM (netem: delay, jitter, loss)",
    "tbf": "CONFIG_NET_SCH_TBF (tbf: rate)",
}

#: feature -> fn(netlink socket in a scratch namespace) that makes one, raising when the kernel cannot
PROBES: dict[str, Callable] = {}


def register(feature: str, words: str, probe: Callable) -> None:
    """An interface kind's feature (its IFLA_INFO_KIND), its words and its probe."""
    FEATURES[feature] = words
    PROBES[feature] = probe
