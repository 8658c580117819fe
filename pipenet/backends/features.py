"""Optional kernel features, named as the kernel's configuration names them: each interface kind's own
(`pipenet.kinds`, by the kernel's name for the kind), and the qdiscs shaping uses."""

from pipenet import kinds

FEATURES = {
    **kinds.features(),
    "netem": "CONFIG_NET_SCH_NETEM (netem: delay, jitter, loss)",
    "tbf": "CONFIG_NET_SCH_TBF (tbf: rate)",
}
