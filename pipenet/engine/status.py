"""`pipenet status`: what the record says, what the kernel has, and where they differ (drift)."""

from __future__ import annotations

import socket

from pipenet.engine.state import StateDir
from pipenet.plan.ops import (AddAddress, AddLink, AddRoute, AddVeth, CreateBridge, CreateNamespace, Op, SetSysctl,
                              UseNamespace)


def _alive(op) -> bool:
    from pipenet.backends.processes import alive

    return alive(op.saved)


class LiveView:
    """One dump per namespace of links, addresses and routes, read lazily."""

    def __init__(self, k):
        self.k = k
        self.cache: dict[str, dict] = {}

    def ns(self, ref: str) -> dict | None:
        if ref in self.cache:
            return self.cache[ref]
        if not self.k.netns_exists(ref):
            self.cache[ref] = None
            return None
        nl = self.k.ns.get(ref).nl
        links = {}
        for m in nl.links():
            links[m["index"]] = {"name": m.get_attr("IFLA_IFNAME"), "mac": m.get_attr("IFLA_ADDRESS"),
                                 "mtu": m.get_attr("IFLA_MTU"), "up": bool(m["flags"] & 1),
                                 "master": m.get_attr("IFLA_MASTER")}
        addrs = []
        for m in nl.addrs():
            ip = m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS")
            name = links.get(m["index"], {}).get("name")
            addrs.append((name, f"{ip}/{m['prefixlen']}"))
        routes = []
        for m in nl.routes(socket.AF_INET):
            if m.get_attr("RTA_TABLE") != 254:
                continue
            dst = m.get_attr("RTA_DST")
            dest = "default" if m["dst_len"] == 0 else f"{dst}/{m['dst_len']}"
            routes.append({"dest": dest, "via": m.get_attr("RTA_GATEWAY"),
                           "dev": links.get(m.get_attr("RTA_OIF"), {}).get("name"),
                           "metric": m.get_attr("RTA_PRIORITY")})
        view = {"links": links, "addrs": addrs, "routes": routes}
        self.cache[ref] = view
        return view

    def present(self, op: Op) -> bool:
        if isinstance(op, (CreateNamespace, UseNamespace)):
            return self.k.netns_exists(op.ns)
        if isinstance(op, CreateBridge):
            v = self.ns("")
            return any(l["name"] == op.name for l in v["links"].values())
        if isinstance(op, AddVeth):
            a, b = self.ns(op.ns), self.ns(op.peer_ns)
            return bool(a and b and any(l["name"] == op.name for l in a["links"].values())
                        and any(l["name"] == op.peer for l in b["links"].values()))
        if isinstance(op, AddLink):
            v = self.ns(op.ns)
            return bool(v and any(l["name"] == op.name for l in v["links"].values()))
        if isinstance(op, AddAddress):
            v = self.ns(op.ns)
            return bool(v and (op.ifname, f"{op.ip}/{op.prefixlen}") in v["addrs"])
        if isinstance(op, AddRoute):
            v = self.ns(op.ns)
            if not v:
                return False
            dest = op.dest or "default"
            return any(r["dest"] == dest and (op.via is None or r["via"] == op.via)
                       and (op.dev is None or r["dev"] == op.dev) for r in v["routes"])
        if isinstance(op, SetSysctl):
            try:
                return self.k.sysctl_get(op.ns, op.name) == str(op.value)
            except OSError:
                return False
        return True


def status(name: str, k) -> dict:
    state = StateDir(name)
    record = state.load()
    if record is None:
        return {"topology": name, "up": False}
    ops = [Op.from_json(o) for o in record.get("ops", [])]
    live = LiveView(k)
    drift = [op.describe()[0] for op in ops if not live.present(op)]
    drift += [f"process {' '.join(op.argv)} in {op.node} (pid {op.saved.get('pid')}) is not running"
              for op in ops if op.kind == "process" and not _alive(op)]
    nodes = []
    for node, ref in sorted(record.get("ns", {}).items()):
        if node == "host":
            continue
        v = live.ns(ref)
        entry = {"node": node, "namespace": ref or "(host)", "hostname": record.get("hostnames", {}).get(node),
                 "alive": v is not None, "interfaces": [], "routes": []}
        if v is not None and ref != "":
            for idx, l in sorted(v["links"].items()):
                if l["name"] == "lo":
                    continue
                entry["interfaces"].append({"name": l["name"], "mac": l["mac"], "mtu": l["mtu"], "up": l["up"],
                                            "addresses": [a for n, a in v["addrs"] if n == l["name"]
                                                          and ":" not in a]})
            entry["routes"] = v["routes"]
        nodes.append(entry)
    from pipenet.backends.processes import alive
    from pipenet.plan.ops import StartProcess

    procs = []
    for op in ops:
        if isinstance(op, StartProcess):
            procs.append({"node": op.node, "command": " ".join(op.argv), "pid": op.saved.get("pid"),
                          "alive": alive(op.saved), "log": op.log})
    published = record.get("published", [])
    return {"topology": name, "up": True, "file": record.get("file"), "nodes": nodes, "drift": drift,
            "operations": len(ops), "processes": procs, "published": published}
