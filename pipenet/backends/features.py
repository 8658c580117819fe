"""Optional kernel features, named as the kernel's configuration names them (no imports: cheap to load)."""

FEATURES = {
    "dummy": "CONFIG_DUMMY (dummy interfaces)",
    "vlan": "CONFIG_VLAN_8021Q (802.1Q VLAN interfaces)",
    "macvlan": "CONFIG_MACVLAN (macvlan interfaces)",
    "netem": "CONFIG_NET_SCH_NETEM (netem: delay, jitter, loss)",
    "tbf": "CONFIG_NET_SCH_TBF (tbf: rate)",
}
