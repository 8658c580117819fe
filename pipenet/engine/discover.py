"""What carries a topology's marks on the live system, as the operations that would remove it.

For `pipenet down --force`, when the record cannot be trusted: nothing here
reads the record. A namespace is the topology's when its loopback interface
carries the topology's mark, a host interface when its alias does, a firewall
chain when it has the topology's chain prefix and every rule carries its
comment, a `run` process when its environment carries the topology's marker
(its log directory), it runs in pipenet's own PID namespace and it sees this
pipenet's files (not another world's topology of the same name), and a host
setting when the ledger lists the topology among its holders. Routes and
addresses live on those interfaces and in those namespaces and go with them;
a host route through someone else's interface cannot be told apart and is
left (docs/reliability.md says so).
"""

from __future__ import annotations

import os

from pipenet.backends.objects import mark
from pipenet.plan.ops import (AddLink, AddVeth, CreateBridge, CreateNamespace, Firewall, HostSetting, Op,
                              StartProcess, WriteEtc)

ETC_FILES = ("hosts", "resolv.conf", "hostname")


def discover(name: str, k, state) -> list[Op]:
    from pipenet.engine.live import LiveView
    from pipenet.plan.firewall import chain_base

    prefix = mark(name) + ":"  # pipenet:TOPOLOGY:KEY
    ops: list[Op] = []
    found: dict[str, str] = {"host": ""}
    for entry in k.netns_names():
        if not k.netns_exists(entry):
            continue
        m = k.netns_mark(entry)
        if m and m.startswith(prefix + "netns:"):
            node = m[len(prefix) + len("netns:"):]
            found[node] = entry
            ops.append(CreateNamespace(node, entry, owner=name))
    view = LiveView(k)
    host = view.namespace("")
    for link in sorted(host.links.values(), key=lambda l: l.index):
        if not (link.alias or "").startswith(prefix + "link:host:"):
            continue
        if link.kind == "bridge":
            ops.append(CreateBridge(link.name, owner=name))
        elif link.kind == "veth":
            ops.append(AddVeth("host", "", link.name, "?", "", "?", owner=name))
        else:
            ops.append(AddLink("host", "", link.name, link.kind or "dummy", owner=name))
    for setting, holders in sorted(_ledger(k).items()):
        if name in holders:
            ops.append(HostSetting(name, setting, holders[name]))
    base = chain_base(name) + "-"
    tag = mark(name)
    for node, ref in found.items():
        for table, section in sorted(view.firewall(ref).items()):
            chains = [c for c in section.chains if c.startswith(base)]
            jumps = [(builtin, "", c) for builtin, rules in section.chains.items() for c in chains
                     if any(r.split()[-2:] == ["-j", c] for r in rules)]
            if chains or jumps:
                ops.append(Firewall(node, ref, table, tag, tuple((c, ()) for c in chains), tuple(jumps),
                                    saved={"existed": True}))
    for node, ref in found.items():
        if not ref:
            continue
        directory = f"/etc/netns/{ref}"
        files = k.etc_inspect(directory, list(ETC_FILES)) or {}
        present = tuple((n, e[1]) for n, e in files.items() if e is not None and e[0] == "file")
        if present:
            ops.append(WriteEtc(node, directory, present,
                                saved={"dir": False, "parent": True, "files": {n: None for n, _ in present}}))
    logs = os.path.join(state.path, "logs") + os.sep
    for i, proc in enumerate(k.processes_marked_under(logs)):
        node, _, index = os.path.basename(proc["marker"]).rsplit(".", 2)[0].rpartition(".")  # NODE.N.log
        node = node or index
        ops.append(StartProcess(node, found.get(node, ""), i, log=proc["marker"],
                                saved={"pid": proc["pid"], "start": proc["start"]}))
    return ops


def _ledger(k) -> dict[str, dict[str, str]]:
    try:
        settings = k.ledger().load()
    except OSError:
        return {}
    return {n: dict(v.get("users", {})) for n, v in settings.items()}
