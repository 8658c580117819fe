"""A recording kernel: the backend interface over an in-memory model of the kernel's objects.

It keeps namespaces, links (with master, MTU, MAC, up, alias), addresses,
routes, sysctls, qdiscs, firewall tables, /etc files, processes and the
host-settings ledger as plain data, refuses what Linux refuses (a name that
exists, an interface or namespace that does not), cascades deletions the way
the kernel does, honours pipenet's marks the way the real backend does (an
unmarked object is never deleted), answers the same live reads
(`read_namespace` ...), and logs every call. Planner, executor and rollback
tests run against it in microseconds; the real kernel is tested separately.
"""

from __future__ import annotations

import copy
import errno
import ipaddress

from pipenet.backends import objects
from pipenet.backends.netlink import NetlinkError
from pipenet.errors import PartlyDone
from pipenet.backends.objects import PIPENET_PROTO


class _Raw:
    """A recorded namespace as `Kernel.read_raw` returns one: its digest is that of everything read."""

    def __init__(self, view):
        import hashlib

        self.view = view
        self.digest = hashlib.blake2b(repr(view).encode(), digest_size=16).hexdigest()


class _Ledger:
    def __init__(self, k):
        self.k = k

    def load(self) -> dict:
        return copy.deepcopy(self.k.state.get("ledger", {}))

    def conflicts(self, topology: str, wanted: dict) -> list[str]:
        out = []
        for name, value in sorted(wanted.items()):
            for other, theirs in sorted(self.k.state.get("ledger", {}).get(name, {}).get("users", {}).items()):
                if other != topology and theirs != str(value):
                    out.append(f"host setting {name}: topology {topology} wants {value}, but topology {other} "
                               f"holds it at {theirs}")
        return out


class RecordingKernel:
    def __init__(self, features: set[str] | None = None, fail_on: int | None = None):
        self.state = {"ns": {"": self._empty(1)}}
        self.calls: list[tuple] = []
        self.features = features if features is not None else {"macvlan", "tbf"}
        self.fail_on = fail_on  # make the Nth mutating call fail
        self.batches: list[tuple[str, int]] = []  # (call, how many) of each batched creation
        self.reads: list[tuple[str, str]] = []  # (what, namespace) of every live read, as the kernel's dumps
        self.retired: dict[str, list] = {}  # name: [(namespace, its pairs' other ends)] removed in this run
        self._inode = 100

    @staticmethod
    def _empty(inode: int) -> dict:
        return {"inode": inode, "links": {"lo": {"up": True, "index": 1}}, "addrs": {}, "routes": set(),
                "sysctls": {"net.ipv4.ip_forward": "0"}, "qdiscs": {}}

    def snapshot(self) -> dict:
        snap = copy.deepcopy(self.state)
        for ns in snap["ns"].values():
            ns.pop("inode", None)
            ns.pop("next_index", None)
            for link in ns["links"].values():
                link.pop("index", None)
        return snap

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
        # as the kernel: a namespace's indexes in turn, never one given again (`backends.hostlinks`)
        ns = self._ns(ref)
        ns["next_index"] = max(ns.get("next_index", 2), max((l.get("index", 1) for l in links.values()), default=1) + 1)
        attrs["index"] = ns["next_index"]
        ns["next_index"] += 1
        links[name] = attrs

    def _drop_link(self, ref: str, name: str) -> None:
        ns = self._ns(ref)
        link = ns["links"].pop(name, None)
        if link is None:
            return
        ns["addrs"] = {a: p for a, p in ns["addrs"].items() if a[0] != name}
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

    def close(self):
        self.retired.clear()  # (the kernel backend's descriptors close with it: nothing to mount back)

    # ---- namespaces ----------------------------------------------------------------------------------
    def netns_names(self):
        return sorted(n for n in self.state["ns"] if n and not n.startswith("/"))

    def in_namespace(self, ref, fn):
        self._ns(ref)
        return fn()

    def netns_create(self, name, mark=None, quiet=False):
        self._call("netns_create", name)
        if name in self.state["ns"]:
            raise FileExistsError(errno.EEXIST, f"namespace {name}")
        self._inode += 1
        self.state["ns"][name] = self._empty(self._inode)
        self.state["ns"][name]["links"]["lo"]["alias"] = mark
        return self._inode

    def netns_create_many(self, specs):
        self.batches.append(("netns_create_many", len(specs)))
        made = []
        for name, mark, quiet in specs:
            try:
                made.append(self.netns_create(name, mark, quiet))
            except Exception as e:
                raise PartlyDone(made, e) from e
        return made

    def netns_mark(self, ref):
        ns = self.state["ns"].get(ref)
        return ns["links"]["lo"].get("alias") if ns is not None else None

    def netns_delete(self, name, mark=None):
        self._call("netns_delete", name)
        ns = self.state["ns"].get(name)
        if ns is None or (mark is not None and ns["links"]["lo"].get("alias") != mark):
            return False
        del self.state["ns"][name]
        peers = []  # (what lived only through it: the other ends of its pairs, kept for `netns_restore`)
        for lname, link in list(ns["links"].items()):
            peer = link.get("peer")
            if peer and peer[0] in self.state["ns"] and peer[1] in self.state["ns"][peer[0]]["links"]:
                other = self.state["ns"][peer[0]]
                peers.append((peer[0], peer[1], copy.deepcopy(other["links"][peer[1]]),
                              {a: p for a, p in other["addrs"].items() if a[0] == peer[1]},
                              {r for r in other["routes"] if r[2] == peer[1] or r[4] == peer[1]}))
                other["links"][peer[1]]["peer"] = None
                self._drop_link(peer[0], peer[1])
        self.retired.setdefault(name, []).append((ns, peers))
        return True

    def netns_restore(self, name, inode=None):
        """The namespace this run removed at `name` (of that inode; else the last) mounted back, as the
        kernel backend does from the descriptor it kept: the same one, with what was in it, and the other
        ends of its pairs (alive as long as it was). EBUSY when the name was taken since."""
        self._call("netns_restore", name)
        kept = [(n, (ns, peers)) for n, (ns, peers) in enumerate(self.retired.get(name, []))
                if inode is None or ns["inode"] == inode]
        if not kept:
            return False
        if name in self.state["ns"]:
            raise OSError(errno.EBUSY, f"/run/netns/{name} was taken by something else")
        n, (ns, peers) = kept[-1]
        del self.retired[name][n]
        self.state["ns"][name] = ns
        for ref, pname, link, addrs, routes in peers:
            other = self.state["ns"].get(ref)
            if other is None or pname in other["links"]:
                continue
            other["links"][pname] = link
            other["addrs"].update(addrs)
            other["routes"] |= routes
        return True

    def netns_delete_many(self, specs):
        self.batches.append(("netns_delete_many", len(specs)))
        gone, dealt, error = [], [], None
        for name, mark in specs:  # (every one tried, as the kernel backend's threads do)
            try:
                if self.netns_delete(name, mark):
                    gone.append(name)
            except Exception as e:  # noqa: BLE001
                error = error or e
                continue
            dealt.append(name)
        if error is not None:
            raise PartlyDone(dealt, error) from error
        return gone

    def netns_exists(self, ref):
        return ref == "" or ref in self.state["ns"]

    def netns_placeholder(self, name):
        return False

    def netns_inode(self, ref):
        return self._ns(ref)["inode"]

    # ---- links -------------------------------------------------------------------------------------------
    def link_names(self, ns):
        return set(self.state["ns"][ns]["links"]) if ns in self.state["ns"] else set()

    def link_exists(self, ns, name):
        return ns in self.state["ns"] and name in self.state["ns"][ns]["links"]

    def bridge_add(self, name, mtu, alias=None, quiet=False, mac=None):
        self._call("bridge_add", name)
        self._new("", name, kind="bridge", mtu=mtu, up=True, alias=alias, mac=mac)

    def veth_add(self, ns, name, peer_ns, peer, *, mac=None, peer_mac=None, mtu=None, master=None, hairpin=False,
                 group=None, alias=None, peer_alias=None, quiet=False, peer_quiet=False):
        self._call("veth_add", ns, name, peer_ns, peer)
        self._ns(peer_ns)
        if master is not None:
            self._link(ns, master)
        if peer in self._ns(peer_ns)["links"]:
            raise NetlinkError(errno.EEXIST, f"create {peer}")
        mtu = mtu or 1500  # the kernel's default for a veth
        self._new(ns, name, kind="veth", mac=mac, mtu=mtu, master=master, up=True, peer=(peer_ns, peer), alias=alias,
                  hairpin=hairpin or None)
        self._new(peer_ns, peer, kind="veth", mac=peer_mac, mtu=mtu, up=True, peer=(ns, name), alias=peer_alias)

    def link_add(self, ns, name, kind, *, parent_ns=None, parent=None, settings=None, spec=None, mac=None, mtu=None,
                 alias=None, quiet=False):
        self._call("link_add", ns, name, kind)
        if kind not in ("macvlan",) and kind not in self.features and kind != "bridge":
            raise NetlinkError(errno.EOPNOTSUPP, f"create {kind} {name}")
        if parent is not None:
            self._link(parent_ns if parent_ns is not None else ns, parent)
        self._new(ns, name, kind=kind, mac=mac, mtu=mtu, up=True, parent=parent, alias=alias)

    def link_alias(self, ns, name):
        link = self.state["ns"].get(ns, {}).get("links", {}).get(name)
        return link.get("alias") if link else None

    def link_del(self, ns, name, alias=None):
        self._call("link_del", ns, name)
        if ns not in self.state["ns"] or name not in self._ns(ns)["links"]:
            return False
        if alias is not None and self._ns(ns)["links"][name].get("alias") != alias:
            return False
        self._drop_link(ns, name)
        return True

    def link_del_many(self, ns, names, group, aliases=None, join=()):
        self._call("link_del_many", ns, len(names))
        marks = dict(zip(names, aliases)) if aliases is not None else {}
        for name in names:
            if ns in self.state["ns"] and name in self._ns(ns)["links"]:
                if name in marks and self._ns(ns)["links"][name].get("alias") != marks[name]:
                    continue
                self._drop_link(ns, name)

    def link_forget(self, ns, name):
        pass

    def link_set(self, ns, name, **kw):
        self._call("link_set", ns, name)
        link = self._link(ns, name)
        if kw.pop("nomaster", False):
            link["master"] = None
        kw.pop("quiet", None)
        for k, v in kw.items():
            if v is not None:
                link[k] = v

    def fdb_append(self, ns, name, dst):
        self._call("fdb_append", ns, name)
        self._link(ns, name).setdefault("fdb", []).append(dst)

    def link_hairpin(self, ns, name, on):
        self._call("link_hairpin", ns, name)
        self._link(ns, name)["hairpin"] = on

    # ---- addresses and routes -------------------------------------------------------------------------------
    def addr_add(self, ns, ifname, ip, prefixlen, nodad=False):
        self._call("addr_add", ns, ifname, ip)
        self._link(ns, ifname)
        key = (ifname, f"{ip}/{prefixlen}")
        if key in self._ns(ns)["addrs"]:
            raise NetlinkError(errno.EEXIST, f"add {ip}")
        self._ns(ns)["addrs"][key] = PIPENET_PROTO

    def addr_del(self, ns, ifname, ip, prefixlen):
        self._call("addr_del", ns, ifname, ip)
        if ns in self.state["ns"] and self._ns(ns)["addrs"].get((ifname, f"{ip}/{prefixlen}")) == PIPENET_PROTO:
            del self._ns(ns)["addrs"][(ifname, f"{ip}/{prefixlen}")]
            return True
        return False

    def _nexthop_dev(self, ns: dict, via: str) -> str | None:
        """The interface a gateway is reached through (on-link subnet or a host route), as Linux finds it."""
        gw = ipaddress.ip_address(via)
        for ifname, cidr in sorted(ns["addrs"]):
            if gw in ipaddress.ip_interface(cidr).network:
                return ifname
        for r in sorted(ns["routes"], key=str):
            if r[2] is not None and r[0] != "default" and gw in ipaddress.ip_network(r[0], strict=False):
                return r[2]
        return None

    def route_add(self, ns, dest, via, dev, metric, replace=False):
        self._call("route_add", ns, dest)
        if dev is not None:
            self._link(ns, dev)
        hop = dev if dev is not None else self._nexthop_dev(self._ns(ns), via)
        if hop is None:
            raise NetlinkError(errno.ENETUNREACH, f"add route {dest}")
        r = (dest or "default", via, dev, metric, hop)
        routes = self._ns(ns)["routes"]
        same = [x for x in routes if x[0] == r[0] and x[3] == metric]
        if same and not replace:
            raise NetlinkError(errno.EEXIST, f"add route {dest}")
        for x in same:
            routes.discard(x)
        routes.add(r)

    def route_del(self, ns, dest, via, dev, metric):
        self._call("route_del", ns, dest)
        if ns in self.state["ns"]:
            routes = self._ns(ns)["routes"]
            for r in list(routes):
                if r[0] == (dest or "default") and r[3] == metric:
                    routes.discard(r)
        return True

    # ---- reading what is live -----------------------------------------------------------------------------
    def open_namespaces(self, refs):
        pass

    def room_for(self, namespaces):
        pass

    def split_work(self, in_child, here):
        return here(), in_child()

    def fork_work(self, in_child, aside=False):
        return Done(in_child())

    def read_links(self, ref):
        self.reads.append(("links", ref))
        ns = self.state["ns"].get(ref)
        if ns is None:
            return None
        view = objects.Namespace(inode=ns["inode"])
        for name, l in ns["links"].items():
            view.links[name] = objects.Link(
                name=name, index=l.get("index", 0), kind=l.get("kind"), mac=l.get("mac"), mtu=l.get("mtu"),
                up=bool(l.get("up")), master=l.get("master"), alias=l.get("alias"), hairpin=l.get("hairpin"))
        return view

    def read_host_links(self, known):
        """What `Kernel.read_host_links` stands for here: the bridges, the ports `known` vouches for, and
        anything else as it is asked for (each read recorded as the kernel backend makes it)."""
        from pipenet.backends.hostlinks import HostLinks, compose

        self.reads.append(("host links in part", ""))
        full = self.read_links("")
        self.reads.pop()  # (not a read of the host's links in full)
        if full is None:
            return None
        every = full.links
        bridges = [link for link in every.values() if link.kind == "bridge"]
        index = {b.name: b.index for b in bridges}
        ports = [(n, link.index, link.mac, link.mtu, link.up, index.get(link.master), link.peer_index, link.hairpin)
                 for n, link in every.items() if link.master is not None]

        def by_name(name):
            self.reads.append(("link", name))
            return every.get(name)

        def by_index(i):
            self.reads.append(("link", f"#{i}"))
            return next((link for link in every.values() if link.index == i), None)

        def everything():
            return dict(self.read_links("").links)

        return objects.Namespace(inode=full.inode, links=HostLinks(compose(bridges, ports, known), by_name,
                                                                   by_index, everything))

    def read_marks_many(self, refs, split_at=None, meanwhile=()):
        out = {}
        for r in dict.fromkeys(refs):
            if r == "":
                out[r] = self.read_links(r)
                continue
            self.reads.append(("mark", r))  # (the loopback alone, as the kernel backend reads it)
            ns = self.state["ns"].get(r)
            if ns is None:
                out[r] = None
                continue
            alias = ns["links"].get("lo", {}).get("alias")
            out[r] = objects.Namespace(inode=ns["inode"], links={"lo": objects.Link("lo", 1, up=True, alias=alias)})
        extra: dict = {}
        for fn in meanwhile or ():
            extra.update(fn())
        return out, extra

    def read_namespace(self, ref, known=None):
        ns = self.state["ns"].get(ref)
        if ns is None:
            self.reads.append(("namespace", ref))
            return None
        if known is not None and known.inode == ns["inode"]:
            view = objects.Namespace(inode=known.inode, links=known.links)
        else:
            view = self.read_links(ref)
        self.reads.append(("addresses and routes", ref))
        for (ifname, cidr), proto in ns["addrs"].items():
            ip, plen = cidr.split("/")
            view.addresses.append(objects.Address(ifname, ip, int(plen), proto))
        for dest, via, dev, metric, hop in ns["routes"]:
            v6 = ":" in (via or dest or "")
            view.routes.append(objects.Route(dest, via, dev if dev is not None else hop,
                                             metric if metric is not None else (1024 if v6 else 0),
                                             PIPENET_PROTO, 6 if v6 else 4))
        return view

    def read_raw(self, ref):
        """What `Kernel.read_raw` stands for here: the namespace read, with a digest of what was read."""
        view = self.read_namespace(ref)
        return None if view is None else _Raw(view)

    def decode_raw(self, ref, raw):
        self.reads.append(("decoded", ref))
        return raw.view

    def read_qdiscs(self, ref):
        out = {}
        for ifname, (delay, jitter, loss, rate) in self.state["ns"].get(ref, {}).get("qdiscs", {}).items():
            if delay or jitter or loss:
                child = objects.Qdisc("tbf", rate_bps=(rate // 8) * 8) if rate else None
                out[ifname] = objects.Qdisc("netem", delay_ms=delay, jitter_ms=jitter, loss_pct=loss, child=child)
            else:
                out[ifname] = objects.Qdisc("tbf", rate_bps=(rate // 8) * 8)
        return out

    #: sysctls the model does not list have these values (or "0")
    DEFAULTS = {"net.bridge.bridge-nf-call-iptables": "1"}

    def read_sysctls(self, ref, keys):
        return {k: self.sysctl_get(ref, k) for k in keys}

    def read_firewall(self, ref):
        lines = []
        for table, t in sorted(self.state["ns"].get(ref, {}).get("firewall", {}).items()):
            lines.append(f"*{table}")
            lines += [f":{c} - [0:0]" for c in t["chains"]]
            for c, rules in t["chains"].items():
                lines += [f"-A {c} {r}" for r in rules]
            for builtin, match, chain, tag in t["jumps"]:
                m = f"{match} " if match else ""
                lines.append(f"-A {builtin} {m}-m comment --comment {tag} -j {chain}")
            lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    # ---- sysctls and shaping ----------------------------------------------------------------------------
    def sysctl_get(self, ns, key):
        return self._ns(ns)["sysctls"].get(key, self.DEFAULTS.get(key, "0"))

    def sysctl_set(self, ns, key, value):
        self._call("sysctl_set", ns, key, value)
        table = self._ns(ns)["sysctls"]
        if str(value) == self.DEFAULTS.get(key, "0") and key != "net.ipv4.ip_forward":
            table.pop(key, None)  # back at its default: as it was before anything set it
        else:
            table[key] = str(value)

    def qdisc_set(self, ns, ifname, delay_ms=None, jitter_ms=None, loss_pct=None, rate_bps=None, burst=None):
        self._call("qdisc_set", ns, ifname)
        self._link(ns, ifname)
        self._ns(ns)["qdiscs"][ifname] = (delay_ms, jitter_ms, loss_pct, rate_bps)

    def qdisc_del(self, ns, ifname):
        self._call("qdisc_del", ns, ifname)
        if ns in self.state["ns"]:
            self._ns(ns)["qdiscs"].pop(ifname, None)

    # ---- firewall ----------------------------------------------------------------------------------------
    def firewall_install(self, ns, table, chains, jumps, tag):
        self._call("firewall_install", ns, table)
        fw = self._ns(ns).setdefault("firewall", {}).setdefault(table, {"chains": {}, "jumps": []})
        for c, rules in chains.items():
            fw["chains"][c] = list(rules)
        for builtin, match, chain in jumps:
            if (builtin, match, chain, tag) not in fw["jumps"]:
                fw["jumps"].append((builtin, match, chain, tag))
        return {c: list(r) for c, r in chains.items()}

    def firewall_restore(self, ns, table, chains, drop_jumps, tag):
        self._call("firewall_restore", ns, table)
        fw = self._ns(ns).setdefault("firewall", {}).setdefault(table, {"chains": {}, "jumps": []})
        for builtin, match, chain in drop_jumps:
            fw["jumps"] = [j for j in fw["jumps"] if not (j[0] == builtin and j[2] == chain)]
        for c, rules in chains.items():
            if rules is None:
                fw["chains"].pop(c, None)
            else:
                fw["chains"][c] = list(rules)
        self._tidy(ns, table)

    def firewall_table_exists(self, ns, table):
        return table in self._ns(ns).get("firewall", {})

    def firewall_builtins(self, ns, table):
        return set()

    def firewall_remove(self, ns, table, chains, jumps, tag, drop_table=False, builtins_before=None):
        self._call("firewall_remove", ns, table)
        fw = self._ns(ns).get("firewall", {}).get(table)
        if fw is None:
            return
        for c in chains:
            fw["chains"].pop(c, None)
        fw["jumps"] = [j for j in fw["jumps"] if not (j[2] in chains and j[3] == tag)]
        self._tidy(ns, table)

    def _tidy(self, ns, table):
        fws = self._ns(ns).get("firewall", {})
        if table in fws and not fws[table]["chains"] and not fws[table]["jumps"]:
            del fws[table]
        if not fws:
            self._ns(ns).pop("firewall", None)

    # ---- host settings ---------------------------------------------------------------------------------------
    def ledger(self):
        return _Ledger(self)

    def host_setting_acquire(self, topology, name, value):
        self._call("host_setting_acquire", topology, name)
        ledger = self.state.setdefault("ledger", {})
        entry = ledger.get(name)
        if entry is None:
            entry = ledger[name] = {"original": self.sysctl_get("", name), "users": {}}
        for other, theirs in entry["users"].items():
            if other != topology and theirs != str(value):
                raise OSError(errno.EBUSY, f"host setting {name}: topology {other} holds it at {theirs}")
        entry["users"][topology] = str(value)
        self.sysctl_set("", name, value)

    def host_setting_release(self, topology, name):
        self._call("host_setting_release", topology, name)
        ledger = self.state.get("ledger", {})
        entry = ledger.get(name)
        if entry is None or topology not in entry["users"]:
            return
        del entry["users"][topology]
        if not entry["users"]:
            del ledger[name]
            self.sysctl_set("", name, entry["original"])
        if not ledger:
            self.state.pop("ledger", None)

    # ---- files ---------------------------------------------------------------------------------------------
    def etc_read(self, directory, names):
        files = self.state.get("etc", {}).get(directory)
        return {"dir": files is not None, "files": {n: (files or {}).get(n) for n in names}}

    def etc_write(self, directory, content):
        self._call("etc_write", directory)
        self.state.setdefault("etc", {}).setdefault(directory, {}).update(content)
        return {}

    def etc_is_dir(self, directory):
        return directory in self.state.get("etc", {})

    def etc_inspect(self, directory, names, known=None):
        files = self.state.get("etc", {}).get(directory, {})
        return {n: ("file", files[n]) if n in files else None for n in names}

    def etc_put_back(self, directory, contents, ours):
        self._call("etc_put_back", directory)
        files = self.state.get("etc", {}).get(directory)
        if files is None:
            return
        for n, c in contents.items():
            if files.get(n) != ours.get(n):
                continue
            if c is None:
                files.pop(n, None)
            else:
                files[n] = c

    def etc_restore(self, directory, saved, ours=None):
        self._call("etc_restore", directory)
        etc = self.state.get("etc", {})
        self.etc_put_back(directory, saved["files"], ours if ours is not None else {})
        if not saved["dir"] and not etc.get(directory):
            etc.pop(directory, None)
        if not etc:
            self.state.pop("etc", None)

    def node_path_put(self, root, source, what, content, uid, gid, mode):
        from pipenet.backends.nodefiles import digest

        self._call("node_path_put", source)
        entry = {"kind": "file" if what == "file" else "dir", "uid": uid, "gid": gid, "mode": mode}
        if what == "file":
            entry["digest"] = digest(content or "")
        self.state.setdefault("node_paths", {})[source] = entry

    def node_path_remove(self, root, source, what):
        self._call("node_path_remove", source)
        paths = self.state.get("node_paths", {})
        for p in [p for p in paths if p == source or p.startswith(source + "/")]:
            del paths[p]
        if not paths:
            self.state.pop("node_paths", None)

    def node_path_inspect(self, root, source):
        return self.state.get("node_paths", {}).get(source)

    # ---- processes ------------------------------------------------------------------------------------------------
    def process_start(self, ns, argv, hostname, etc, log, marker="", binds=()):
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

    def process_find(self, saved, marker, ns):
        pid = saved.get("pid")
        if pid in self.state.get("procs", {}):
            return {"pid": pid, "net": None}
        return None

    def processes_marked_under(self, prefix):
        return []

    def supports(self, feature):
        return feature in self.features


class Done:
    """`fork_work` of the recording kernel: the work done at once, its answer kept (`kernel.Forked`)."""

    def __init__(self, value):
        self.value = value

    def answer(self):
        return True, self.value

    def wait(self):
        pass

    def hurry(self):
        pass

    def stop(self):
        pass
