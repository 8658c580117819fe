"""Operations: the steps of a plan, one module per family.

- `base`: what every operation is (apply, undo, describe, check), the
  verdicts of a live check, and the JSON form kept in the record.
- `namespaces`: namespaces pipenet makes, and attached ones.
- `links`: bridges, veth pairs, dummy/macvlan/VLAN interfaces.
- `addresses`: addresses and routes.
- `settings`: sysctls, and the host's settings shared through the ledger.
- `shaping`: tbf and netem.
- `firewall`: one table of one namespace, in the topology's own chains.
- `files`: a node's /etc files.
- `nodefiles`: a node's own files and private directories (`file`, `private`).
- `processes`: `run` commands.
- `tunnels`: a bridge's VXLAN tunnel to the other machines a topology spans.
"""

from pipenet.plan.ops.base import (OK, REGISTRY, NotOurs, Op, Verdict, changed, foreign, in_ns_cmd, ip_cmd,
                                   missing)
from pipenet.plan.ops.namespaces import CreateNamespace, UseNamespace
from pipenet.plan.ops.links import AddLink, AddVeth, CreateBridge
from pipenet.plan.ops.addresses import AddAddress, AddRoute
from pipenet.plan.ops.settings import HostSetting, SetSysctl
from pipenet.plan.ops.shaping import SetShape, tbf_burst
from pipenet.plan.ops.firewall import Firewall, tagged
from pipenet.plan.ops.files import WriteEtc
from pipenet.plan.ops.nodefiles import NodePath
from pipenet.plan.ops.processes import StartProcess
from pipenet.plan.ops.tunnels import AddTunnel

__all__ = ["OK", "REGISTRY", "NotOurs", "Op", "Verdict", "changed", "foreign", "in_ns_cmd", "ip_cmd", "missing",
           "CreateNamespace", "UseNamespace", "AddLink", "AddVeth", "CreateBridge", "AddAddress", "AddRoute",
           "HostSetting", "SetSysctl", "SetShape", "tbf_burst", "Firewall", "tagged", "WriteEtc", "NodePath",
           "StartProcess", "AddTunnel"]
