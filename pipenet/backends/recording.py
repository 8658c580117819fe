"""A recording kernel: the backend interface over an in-memory model of the kernel's objects.

It keeps namespaces, links (with master, MTU, MAC, up), addresses, routes,
sysctls and qdiscs as plain data, refuses what Linux refuses (a name that
exists, an interface or namespace that does not), cascades deletions the way
the kernel does, and logs every call. Planner, executor and rollback tests
run against it in microseconds; the real kernel is tested separately.
"""

from __future__ import annotations

import copy
import errno

from pipenet.backends.netlink import NetlinkError


class RecordingKernel:
    def __init__(self, features: set[str] | None = None, fail_on: int | None = None):
        self.state = {"ns": {"": self._empty()}}
        self.calls: list[tuple] = []
        self.features = features if features is not None else {"macvlan", "tbf"}
        self.fail_on = fail_on  # make the Nth mutating call fail

    @staticmethod
    def _empty() -> dict:
        return {"links": {"lo": {"up": True}}, "addrs": set(), "routes": set(),
                "sysctls": {"net.ipv4.ip_forward": "0"}, "qdiscs": {}}

    def snapshot(self) -> dict:
        return copy.deepcopy(self.state)

    def _call(self, *what) -> None:
        self.calls.append(what)
        if self.fail_on is not None and len(self.calls) == self.fail_on:
            raise NetlinkError(errno.EIO, f"recorded failure at {what[0]}")

    def _ns(self, ref: str) -> dict:
        ns = self.state["ns"].get(ref)
        if ns is None:
            raise FileNotFoundError(errno.ENOENT, f"no namespace {ref}")
        return ns

    def _link(self, ref: str, name: str) -> dict:
        link = self._ns(ref)["links"].get(name)
        if link is None:
            raise NetlinkError(errno.ENODEV, f"interface {name}")
        return link

    def _new(self, ref: str, name: str, **attrs) -> None:
        links = self._ns(ref)["links"]
        if name in links:
            raise NetlinkError(errno.EEXIST, f"create {name}")
        links[name] = attrs

    def _drop_link(self, ref: str, name: str) -> None:
        ns = self._ns(ref)
        link = ns["links"].pop(name, None)
        if link is None:
            return
        ns["addrs"] = {a for a in ns["addrs"] if a[0] != name}
        ns["routes"] = {r for r in ns["routes"] if r[2] != name and r[4] != name}
        ns["qdiscs"].pop(name, None)
        for key in [k for k in ns["sysctls"] if f"/conf/{name}/" in k or f".conf.{name}." in k]:
            del ns["sysctls"][key]  # a per-interface setting goes with its interface
        peer = link.get("peer")
        if peer is not None:
            pref, pname = peer
            if pref in self.state["ns"] and pname in self.state["ns"][pref]["links"]:
                self.state["ns"][pref]["links"][pname]["peer"] = None
                self._drop_link(pref, pname)
        for other in ns["links"].values():
            if other.get("master") == name:
                other["master"] = None

    # ---- the backend interface -------------------------------------------------------------------
    def netns_create(self, name):
        self._call("netns_create", name)
        if name in self.state["ns"]:
            raise FileExistsError(errno.EEXIST, f"namespace {name}")
        self.state["ns"][name] = self._empty()

    def netns_delete(self, name):
        self._call("netns_delete", name)
        ns = self.state["ns"].pop(name, None)
        if ns is None:
            return
        for lname, link in list(ns["links"].items()):
            peer = link.get("peer")
            if peer and peer[0] in self.state["ns"]:
                self.state["ns"][peer[0]]["links"].get(peer[1], {})["peer"] = None
                self._drop_link(peer[0], peer[1])

    def netns_exists(self, ref):
        return ref == "" or ref in self.state["ns"]

    def netns_inode(self, ref):
        self._ns(ref)
        return id(self.state["ns"][ref])

    def link_names(self, ns):
        return set(self.state["ns"][ns]["links"]) if ns in self.state["ns"] else set()

    def link_exists(self, ns, name):
        return ns in self.state["ns"] and name in self.state["ns"][ns]["links"]

    def bridge_add(self, name, mtu):
        self._call("bridge_add", name)
        self._new("", name, kind="bridge", mtu=mtu, up=True)

    def veth_add(self, ns, name, peer_ns, peer, *, mac=None, peer_mac=None, mtu=None, master=None, hairpin=False,
                 group=None):
        self._call("veth_add", ns, name, peer_ns, peer)
        self._ns(peer_ns)
        if master is not None:
            self._link(ns, master)
        if peer in self._ns(peer_ns)["links"]:
            raise NetlinkError(errno.EEXIST, f"create {peer}")
        self._new(ns, name, kind="veth", mac=mac, mtu=mtu, master=master, up=True, peer=(peer_ns, peer))
        self._new(peer_ns, peer, kind="veth", mac=peer_mac, mtu=mtu, up=True, peer=(ns, name))

    def link_add(self, ns, name, kind, *, parent_ns=None, parent=None, mode=None, vlan_id=None, mac=None, mtu=None):
        self._call("link_add", ns, name, kind)
        if kind not in ("macvlan",) and kind not in self.features and kind != "bridge":
            raise NetlinkError(errno.EOPNOTSUPP, f"create {kind} {name}")
        if parent is not None:
            self._link(parent_ns if parent_ns is not None else ns, parent)
        self._new(ns, name, kind=kind, mac=mac, mtu=mtu, up=False, parent=parent)

    def link_del(self, ns, name):
        self._call("link_del", ns, name)
        if ns in self.state["ns"]:
            self._drop_link(ns, name)

    def link_del_many(self, ns, names, group):
        self._call("link_del_many", ns, len(names))
        for name in names:
            if ns in self.state["ns"]:
                self._drop_link(ns, name)

    def link_forget(self, ns, name):
        pass

    def link_set(self, ns, name, **kw):
        self._call("link_set", ns, name)
        link = self._link(ns, name)
        for k, v in kw.items():
            if v is not None:
                link[k] = v

    def addr_add(self, ns, ifname, ip, prefixlen):
        self._call("addr_add", ns, ifname, ip)
        self._link(ns, ifname)
        key = (ifname, f"{ip}/{prefixlen}")
        if key in self._ns(ns)["addrs"]:
            raise NetlinkError(errno.EEXIST, f"add {ip}")
        self._ns(ns)["addrs"].add(key)

    def addr_del(self, ns, ifname, ip, prefixlen):
        self._call("addr_del", ns, ifname, ip)
        if ns in self.state["ns"]:
            self._ns(ns)["addrs"].discard((ifname, f"{ip}/{prefixlen}"))

    def _nexthop_dev(self, ns: dict, via: str) -> str | None:
        """The interface a gateway is reached through (on-link subnet or a host route), as Linux finds it."""
        import ipaddress

        gw = ipaddress.ip_address(via)
        for ifname, cidr in sorted(ns["addrs"]):
            if gw in ipaddress.ip_interface(cidr).network:
                return ifname
        for r in sorted(ns["routes"], key=str):
            if r[2] is not None and r[0] != "default" and gw in ipaddress.ip_network(r[0], strict=False):
                return r[2]
        return None

    def route_add(self, ns, dest, via, dev, metric):
        self._call("route_add", ns, dest)
        if dev is not None:
            self._link(ns, dev)
        hop = dev if dev is not None else self._nexthop_dev(self._ns(ns), via)
        if hop is None:
            raise NetlinkError(errno.ENETUNREACH, f"add route {dest}")
        r = (dest or "default", via, dev, metric, hop)
        routes = self._ns(ns)["routes"]
        if any(x[0] == r[0] and x[3] == metric for x in routes):
            raise NetlinkError(errno.EEXIST, f"add route {dest}")
        routes.add(r)

    def route_del(self, ns, dest, via, dev, metric):
        self._call("route_del", ns, dest)
        if ns in self.state["ns"]:
            routes = self._ns(ns)["routes"]
            for r in list(routes):
                if r[0] == (dest or "default") and r[3] == metric:
                    routes.discard(r)

    #: sysctls the model does not list have these values (or "0")
    DEFAULTS = {"net.bridge.bridge-nf-call-iptables": "1"}

    def sysctl_get(self, ns, key):
        return self._ns(ns)["sysctls"].get(key, self.DEFAULTS.get(key, "0"))

    def sysctl_set(self, ns, key, value):
        self._call("sysctl_set", ns, key, value)
        table = self._ns(ns)["sysctls"]
        if str(value) == self.DEFAULTS.get(key, "0") and key != "net.ipv4.ip_forward":
            table.pop(key, None)  # back at its default: as it was before anything set it
        else:
            table[key] = str(value)

    def qdisc_set(self, ns, ifname, delay_ms=None, jitter_ms=None, loss_pct=None, rate_bps=None):
        self._call("qdisc_set", ns, ifname)
        self._link(ns, ifname)
        self._ns(ns)["qdiscs"][ifname] = (delay_ms, jitter_ms, loss_pct, rate_bps)

    def qdisc_del(self, ns, ifname):
        self._call("qdisc_del", ns, ifname)
        if ns in self.state["ns"]:
            self._ns(ns)["qdiscs"].pop(ifname, None)

    def firewall_install(self, ns, table, chains, jumps, tag):
        self._call("firewall_install", ns, table)
        fw = self._ns(ns).setdefault("firewall", {})
        fw[table] = {"chains": {c: list(r) for c, r in chains.items()}, "jumps": sorted(map(tuple, jumps))}

    def firewall_table_exists(self, ns, table):
        return table in self._ns(ns).get("firewall", {})

    def firewall_remove(self, ns, table, chains, jumps, tag, drop_table=False):
        self._call("firewall_remove", ns, table)
        fw = self._ns(ns).get("firewall", {})
        fw.pop(table, None)
        if not fw:
            self._ns(ns).pop("firewall", None)

    def forwarding_acquire(self, topology):
        self._call("forwarding_acquire", topology)
        sh = self.state.setdefault("forwarding", {"saved": None, "users": []})
        if not sh["users"]:
            sh["saved"] = self.sysctl_get("", "net.ipv4.ip_forward")
        if topology not in sh["users"]:
            sh["users"].append(topology)
        self.sysctl_set("", "net.ipv4.ip_forward", "1")

    def forwarding_release(self, topology):
        self._call("forwarding_release", topology)
        sh = self.state.get("forwarding")
        if sh is None:
            return
        if topology in sh["users"]:
            sh["users"].remove(topology)
        if not sh["users"]:
            self.sysctl_set("", "net.ipv4.ip_forward", sh["saved"])
            del self.state["forwarding"]

    def etc_read(self, directory, names):
        files = self.state.get("etc", {}).get(directory)
        return {"dir": files is not None, "files": {n: (files or {}).get(n) for n in names}}

    def etc_write(self, directory, content):
        self._call("etc_write", directory)
        self.state.setdefault("etc", {}).setdefault(directory, {}).update(content)

    def etc_restore(self, directory, saved):
        self._call("etc_restore", directory)
        etc = self.state.get("etc", {})
        files = etc.get(directory, {})
        for n, c in saved["files"].items():
            if c is None:
                files.pop(n, None)
            else:
                files[n] = c
        if not saved["dir"]:
            etc.pop(directory, None)
        if not etc:
            self.state.pop("etc", None)

    def process_start(self, ns, argv, hostname, etc, log, marker=""):
        self._call("process_start", ns, tuple(argv))
        self._ns(ns)
        procs = self.state.setdefault("procs", {})
        pid = 1000 + len(self.calls)
        procs[pid] = tuple(argv)
        return {"pid": pid, "start": "0", "log": log}

    def process_stop(self, saved, marker="", ns=None):
        self._call("process_stop", saved.get("pid"))
        procs = self.state.get("procs", {})
        procs.pop(saved.get("pid"), None)
        if not procs:
            self.state.pop("procs", None)

    def supports(self, feature):
        return feature in self.features
