"""Kernel features, checked before any change (exit 1 when one is missing).

A form the running kernel cannot do (dummy, 802.1Q VLAN, netem, ...) is
refused in one line naming the missing feature (probed once, in a throwaway
namespace). Ownership and existence are not checked here: each operation's
live check (`Op.check`) says whether its object is missing, changed or
someone else's, and the planner refuses a plan that would touch another's.
"""

from __future__ import annotations

from pipenet import kinds  # noqa: F401 - registers the interface kinds' features and probes
from pipenet.backends.features import FEATURES
from pipenet.errors import UnsupportedByKernel
from pipenet.plan.diff import Plan


def needs(op) -> list[str]:
    """The optional kernel features an operation needs."""
    if op.kind == "link":
        return [op.link_kind]
    if op.kind == "shape":
        out = []
        if op.delay_ms or op.jitter_ms or op.loss_pct:
            out.append("netem")
        if op.rate_bps:
            out.append("tbf")
        return out
    return []


def refuse(feature: str, what: str) -> UnsupportedByKernel:
    """The one-line refusal for a feature this kernel lacks, which `what` needs."""
    return UnsupportedByKernel(f"this kernel has no {FEATURES[feature]}, which {what} needs; nothing was changed")


def check_features(plan: Plan, k) -> None:
    for step in plan.steps:
        if step.action not in ("apply", "repair"):
            continue
        op = step.op
        for feature in needs(op):
            if not k.supports(feature):
                what = (f"interface {op.name} of {op.node}" if op.kind == "link"
                        else f"shape on {op.node}:{op.ifname}")
                raise refuse(feature, what)
