"""Checks against the live system, made before any change (exit 1 when one fails).

Ownership: a namespace, bridge or interface that the plan would create but
that already exists, and that the record does not say pipenet made, is in
the way: pipenet never takes over or deletes a foreign object. Existence:
an `external` bridge, an attached namespace and a macvlan's host interface
must be there. Kernel features: a form the running kernel cannot do (dummy,
802.1Q VLAN, netem, ...) is refused in one line naming the missing feature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipenet.backends.features import FEATURES
from pipenet.errors import Conflict, UnsupportedByKernel
from pipenet.plan.diff import Plan
from pipenet.plan.ops import AddLink, AddVeth, CreateBridge, CreateNamespace, SetShape, UseNamespace

if TYPE_CHECKING:
    from pipenet.ir import Topology


def check_features(plan: Plan, k) -> None:
    for step in plan.steps:
        if step.action != "apply":
            continue
        op = step.op
        need = []
        if isinstance(op, AddLink):
            need.append(op.link_kind)
        if isinstance(op, SetShape):
            if op.delay_ms or op.jitter_ms or op.loss_pct:
                need.append("netem")
            if op.rate_bps:
                need.append("tbf")
        for feature in need:
            if not k.supports(feature):
                what = (f"interface {op.name} of {op.node}" if isinstance(op, AddLink)
                        else f"shape on {op.node}:{op.ifname}")
                raise UnsupportedByKernel(f"this kernel has no {FEATURES[feature]}, which {what} needs; "
                                          f"nothing was changed")


def check_ownership(plan: Plan, topo: Topology, k, recorded_keys: set[str]) -> None:
    problems: list[str] = []
    fresh_ns = {s.op.ns for s in plan.steps if s.action == "apply" and isinstance(s.op, CreateNamespace)}
    removed = {s.op.key for s in plan.steps if s.action == "remove"}
    names: dict[str, set[str]] = {}
    real = k

    class _Cached:  # one dump of interface names per namespace, instead of a question per name
        def link_exists(self, ns, name):
            if ns not in names:
                names[ns] = real.link_names(ns)
            return name in names[ns]

        def __getattr__(self, attr):
            return getattr(real, attr)

    k = _Cached()
    for step in plan.steps:
        if step.action != "apply":
            continue
        op = step.op
        mine = op.key in recorded_keys and op.key in removed  # re-made after our own removal
        if isinstance(op, CreateNamespace) and not mine and k.netns_exists(op.ns):
            problems.append(f"namespace {op.ns} already exists and pipenet did not make it "
                            f"(remove it with `ip netns delete {op.ns}` if it is stale)")
        elif isinstance(op, UseNamespace) and not k.netns_exists(op.ns):
            problems.append(f"{op.node} attaches to {op.ns}, which does not exist (is the process running?)")
        elif isinstance(op, CreateBridge) and not mine and k.link_exists("", op.name):
            problems.append(f"an interface named {op.name} already exists and pipenet did not make it; "
                            f"rename the bridge, or declare it `bridge {op.name} {{ external }}` to use it")
        elif isinstance(op, AddVeth) and not mine:
            for ns, name in ((op.ns, op.name), (op.peer_ns, op.peer)):
                if ns not in fresh_ns and k.link_exists(ns, name):
                    where = "the host" if ns == "" else ns
                    problems.append(f"an interface named {name} already exists in {where} "
                                    f"and pipenet did not make it")
        elif isinstance(op, AddLink):
            if op.ns not in fresh_ns and not mine and k.link_exists(op.ns, op.name):
                problems.append(f"an interface named {op.name} already exists in {op.ns or 'the host'}")
            if op.parent_node == "host" and not k.link_exists("", op.parent):
                problems.append(f"{op.node}:{op.name} is a {op.link_kind} of host:{op.parent}, "
                                f"which does not exist")
    for b in topo.bridges:
        if b.external and not k.link_exists("", b.name):
            problems.append(f"bridge {b.name} is declared external but does not exist; create it first "
                            f"(ip link add {b.name} type bridge) or drop `external`")
    if problems:
        raise Conflict(problems)
