"""Validation: an ordered tuple of pure passes over the IR, each returning diagnostics.

Every pass runs, whatever the others found, so a file gets all its errors in
one run. `PASSES` run on the expanded IR; `ALLOCATED_PASSES` run after the
allocator has given every interface its address and MAC.
"""

from __future__ import annotations

from pipenet.diagnostics import Diagnostic
from pipenet.ir import Topology
from pipenet.validate import (addresses, expectations, hostside, interfaces, machines, names, netmodes, nodefiles,
                              ports, references, routes)
from pipenet.validate.index import Index

PASSES = (
    names.check_topology_name,
    names.check_reserved,
    names.check_duplicate_nodes,
    names.check_duplicate_interfaces,
    references.check_references,
    interfaces.check_interfaces,
    netmodes.check_net_modes,
    netmodes.check_host_forwarding,
    addresses.check_bridges,
    addresses.check_static_addresses,
    routes.check_routes,
    ports.check_publish,
    ports.check_links,
    expectations.check_expectations,
    nodefiles.check_node_paths,
    hostside.check_host_side_names,
    hostside.check_bridge_ports,
    machines.check_machines,
)

ALLOCATED_PASSES = (
    addresses.check_segments,
    addresses.check_macs,
)


def validate(topo: Topology) -> list[Diagnostic]:
    idx = Index(topo)
    out: list[Diagnostic] = []
    for check in PASSES:
        out.extend(check(topo, idx))
    return out


def validate_allocated(topo: Topology) -> list[Diagnostic]:
    idx = Index(topo)
    out: list[Diagnostic] = []
    for check in ALLOCATED_PASSES:
        out.extend(check(topo, idx))
    return out
