"""Sysctls: a namespace's own, and the host's, which several topologies may share.

A sysctl inside a container's namespace (or on an interface pipenet made)
belongs to that topology alone: its earlier value is saved and put back.
A setting of the host (`net.ipv4.ip_forward`, `net.bridge.bridge-nf-call-
iptables`, `host { sysctl ... }`, a setting of an external bridge) goes
through the host-settings ledger (`pipenet.backends.ledger`): the first
topology to ask for a value saves the machine's own, every later one with
the same value joins, the last to go restores the original, in whatever
order they go; two topologies asking for different values are refused
before any change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pipenet.plan.ops.base import OK, Op, changed, in_ns_cmd, missing


@dataclass
class SetSysctl(Op):
    kind: ClassVar[str] = "sysctl"
    adoptable: ClassVar[bool] = False
    repairable: ClassVar[bool] = True
    node: str
    ns: str
    name: str
    value: str
    link_key: str = ""  # a per-interface setting lives and dies with its interface
    saved: dict = field(default_factory=dict)

    @property
    def key(self):
        return f"sysctl:{self.node}:{self.name}"

    @property
    def parents(self):
        ps = [f"netns:{self.node}"] if self.node != "host" else []
        return tuple(ps + ([self.link_key] if self.link_key else []))

    def prepare(self, k):
        self.saved = {"value": k.sysctl_get(self.ns, self.name)}

    def apply(self, k):
        k.sysctl_set(self.ns, self.name, self.value)

    def undo(self, k):
        if "value" in self.saved and k.netns_exists(self.ns):
            try:
                k.sysctl_set(self.ns, self.name, self.saved["value"])
            except FileNotFoundError:
                pass  # the interface it belonged to is gone, and the setting with it

    def check(self, view):
        live = view.sysctl(self.ns, self.name)
        if live is None:
            return missing(f"sysctl {self.name} in {self.node}", str(self.value))
        if live != str(self.value):
            return changed(f"sysctl {self.name} in {self.node} is {live} (want {self.value})", str(self.value),
                           live, observed=live)
        return OK

    def repair(self, k, observed):
        k.sysctl_set(self.ns, self.name, self.value)

    def unrepair(self, k, observed):
        k.sysctl_set(self.ns, self.name, observed)

    def describe(self):
        return [in_ns_cmd(self.ns, "sysctl", "-q", "-w", f"{self.name}={self.value}")]

    def describe_undo(self):
        old = self.saved.get("value", "<earlier value>")
        return [in_ns_cmd(self.ns, "sysctl", "-q", "-w", f"{self.name}={old}")]


@dataclass
class HostSetting(Op):
    """A host-wide sysctl, held in the ledger shared by every topology (see the module docstring)."""

    kind: ClassVar[str] = "host-setting"
    anywhere: ClassVar[bool] = True  # (its check reads a file under /proc/sys, no interface)
    persistent: ClassVar[bool] = True  # (its ledger is a file under the state root, which may be on disk)
    adoptable: ClassVar[bool] = False
    repairable: ClassVar[bool] = True
    topology: str
    name: str
    value: str

    node: ClassVar[str] = "host"

    @property
    def key(self):
        return f"host-setting:{self.name}"

    def apply(self, k):
        k.host_setting_acquire(self.topology, self.name, self.value)

    def undo(self, k):
        k.host_setting_release(self.topology, self.name)

    def check(self, view):
        live = view.sysctl("", self.name)
        if live is None:
            return missing(f"host setting {self.name}", str(self.value))
        if live != str(self.value):
            return changed(f"host setting {self.name} is {live} (want {self.value})", str(self.value), live,
                           observed=live)
        return OK

    def repair(self, k, observed):
        k.host_setting_acquire(self.topology, self.name, self.value)

    def unrepair(self, k, observed):
        k.sysctl_set("", self.name, observed)

    def describe(self):
        return [f"sysctl -q -w {self.name}={self.value}"]

    def describe_undo(self):
        return [f"sysctl -q -w {self.name}=<the value before the first topology set it>  "
                f"# when no other topology needs it"]
