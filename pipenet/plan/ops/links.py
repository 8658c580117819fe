"""Interfaces: bridges, veth pairs, and the interfaces of the other kinds (`pipenet.kinds`).

Every interface pipenet makes carries its mark in its alias (`ip link` shows
`alias pipenet:TOPOLOGY:KEY`); an interface of the same name without it is
someone else's and is never changed or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from pipenet.backends.objects import mark_topology
from pipenet.errors import PartlyDone
from pipenet.plan.names import port_group
from pipenet.plan.ops.base import OK, Op, changed, foreign, ip_cmd, missing, q


def _differences(link, want: dict) -> dict:
    """{attribute: live value} for each wanted attribute the live link does not have."""
    out = {}
    for attr, value in want.items():
        if value is None:
            continue
        live = getattr(link, attr)
        if attr == "mac" and live is not None:
            live, value = live.lower(), str(value).lower()
        if live != value:
            out[attr] = getattr(link, attr)
    return out


def _words(diff: dict, want: dict) -> tuple[str, str, str]:
    """(detail, expected, actual) in words for a set of differing attributes."""
    detail = ", ".join(f"{_show(a, v)} (want {_show(a, want[a])})" for a, v in diff.items())
    return (detail, ", ".join(_show(a, want[a]) for a in diff), ", ".join(_show(a, v) for a, v in diff.items()))


def _show(attr: str, v) -> str:
    if attr == "up":
        return "up" if v else "down"
    if attr == "hairpin":
        return f"hairpin {'on' if v else 'off'}"
    return f"{attr} {'none' if v is None else v}"


def _set(k, ns: str, name: str, values: dict) -> None:
    """Put link attributes (as read by the live view) on an interface."""
    kw = {}
    if "mtu" in values and values["mtu"] is not None:
        kw["mtu"] = values["mtu"]
    if "mac" in values and values["mac"] is not None:
        kw["mac"] = values["mac"]
    if "master" in values:
        if values["master"] is None:
            kw["nomaster"] = True
        else:
            kw["master"] = values["master"]
    if "up" in values:
        kw["up"] = bool(values["up"])
    if kw:
        k.link_set(ns, name, **kw)
    if "hairpin" in values and values["hairpin"] is not None:
        k.link_hairpin(ns, name, bool(values["hairpin"]))


def _set_cmds(ns: str, name: str, values: dict) -> list[str]:
    out = []
    if values.get("mtu") is not None:
        out.append(ip_cmd(ns, "link", "set", "dev", name, "mtu", values["mtu"]))
    if values.get("mac") is not None:
        out.append(ip_cmd(ns, "link", "set", "dev", name, "address", values["mac"]))
    if "master" in values:
        out.append(ip_cmd(ns, "link", "set", "dev", name, *(["master", values["master"]] if values["master"]
                                                             else ["nomaster"])))
    if "up" in values:
        out.append(ip_cmd(ns, "link", "set", "dev", name, "up" if values["up"] else "down"))
    if values.get("hairpin") is not None:
        out.append(f"bridge link set dev {q(name)} hairpin {'on' if values['hairpin'] else 'off'}")
    return out


def _own(view, ns: str, name: str, mark: str, kind: str, what: str):
    """(live link or None, a foreign verdict or None)."""
    live = view.links(ns)
    link = live.links.get(name) if live is not None else None
    if link is None:
        return None, None
    if link.alias != mark or (link.kind is not None and link.kind != kind):
        where = "the host" if ns == "" else ns
        other = mark_topology(link.alias)
        if other is not None and other != mark_topology(mark):
            inside = "" if ns == "" else f" in {ns}"
            return link, foreign(f"{'bridge' if kind == 'bridge' else 'interface'} {name}{inside} belongs to "
                                 f"topology {other}")
        return link, foreign(f"an interface named {name} already exists in {where} and pipenet did not make it"
                             + (f"; {what}" if what else ""))
    return link, None


def _undo_host_ends(ops: list, k) -> None:
    """Remove a topology's host interfaces together: its bridge ports (the host ends of its veth pairs,
    in their netdev group) and its bridges, which the kernel backend moves into that group first so
    that one request removes all of them, in one batched unregister (each bridge removed on its own
    after its ports waited about 40 ms for the kernel: 0.3 s of a `down` of 4,000 containers on four
    bridges). Every interface is still removed only if it carries its mark."""
    ports = [o for o in ops if o.kind == "veth"]
    bridges = [o for o in ops if o.kind == "bridge"]
    group = ports[0].group if ports else None
    try:
        k.link_del_many(ports[0].ns if ports else "", [o.name for o in ops], group,
                        [o.mark_of(o.end_key) if o.kind == "veth" else o.mark_of() for o in ops],
                        join=tuple(o.name for o in bridges))
    except PartlyDone as e:  # (the executor needs the ops dealt with)
        dealt = set(e.done)
        raise PartlyDone([o for o in ops if o.name in dealt], e.cause) from e.cause
    finally:
        for o in ports:
            k.link_forget(o.peer_ns, o.peer)


@dataclass
class CreateBridge(Op):
    kind: ClassVar[str] = "bridge"
    destroys_children: ClassVar[bool] = True
    repairable: ClassVar[bool] = True
    undo_in_background: ClassVar[bool] = True  # (removed with the bridge ports: see `_undo_host_ends`)
    name: str
    mtu: int | None = None
    owner: str = ""
    quiet: bool = False  # no IPv6 autoconfiguration: nothing on the segment has IPv6
    mac: str | None = None

    node: ClassVar[str] = "host"

    @property
    def key(self):
        return f"link:host:{self.name}"

    def _want(self) -> dict:
        return {"mtu": self.mtu, "mac": self.mac, "up": True}

    def apply(self, k):
        k.bridge_add(self.name, self.mtu, self.mark_of(), quiet=self.quiet, mac=self.mac)

    def undo(self, k):
        k.link_del("", self.name, self.mark_of())

    def batch_key(self):
        """A topology's bridges are removed with its bridge ports, in their request (`_undo_host_ends`)."""
        return ("", port_group(self.owner)) if self.owner else None

    undo_many = staticmethod(_undo_host_ends)

    def check(self, view):
        link, bad = _own(view, "", self.name, self.mark_of(), "bridge",
                         f"rename the bridge, or declare it `bridge {self.name} {{ external }}` to use it")
        if bad is not None:
            return bad
        if link is None:
            return missing(f"bridge {self.name}")
        diff = _differences(link, self._want())
        if diff:
            return changed(f"bridge {self.name}: " + _words(diff, self._want())[0], *_words(diff, self._want())[1:],
                           observed=diff)
        return OK

    def repair(self, k, observed):
        _set(k, "", self.name, {a: self._want()[a] for a in observed})

    def unrepair(self, k, observed):
        _set(k, "", self.name, observed)

    def describe(self):
        mtu = ["mtu", self.mtu] if self.mtu else []
        mac = ["address", self.mac] if self.mac else []
        quiet = ["addrgenmode", "none"] if self.quiet else []
        return [ip_cmd("", "link", "add", "name", self.name, *mtu, *mac, "type", "bridge"),
                ip_cmd("", "link", "set", "dev", self.name, "alias", self.mark_of(), *quiet, "up")]

    def describe_undo(self):
        return [ip_cmd("", "link", "delete", "dev", self.name)]

    def describe_repair(self, observed):
        return _set_cmds("", self.name, {a: self._want()[a] for a in observed})


@dataclass
class AddVeth(Op):
    """A veth pair: `name` in namespace `ns` (node `node`), `peer` in `peer_ns` (node `peer_node`).

    A bridge port is one whose host end is enslaved to `master`.
    """

    kind: ClassVar[str] = "veth"
    # a topology's host ends are removed in one request that keeps the kernel busy for seconds at
    # thousands of ports: the executor makes it in a thread, while the steps that need no RTNL go on
    undo_in_background: ClassVar[bool] = True
    destroys_children: ClassVar[bool] = True
    repairable: ClassVar[bool] = True
    node: str
    ns: str
    name: str
    peer_node: str
    peer_ns: str
    peer: str
    mac: str | None = None
    peer_mac: str | None = None
    mtu: int | None = None
    master: str | None = None
    hairpin: bool = False
    group: int | None = None  # a netdev group for the host ends of a topology's ports (batched deletion)
    owner: str = ""
    quiet: bool = False  # no IPv6 autoconfiguration on the first end
    peer_quiet: bool = False  # nor on the peer (its node has no IPv6)

    unidentified: ClassVar[tuple[str, ...]] = ("peer_quiet",)  # (before it, the peer's namespace did it)
    vouched_by: ClassVar[tuple[str, ...]] = ("ns", "peer_ns")  # (each end alone: see check)

    @property
    def key(self):
        return f"link:{self.peer_node}:{self.peer}" if self.master else f"link:{self.node}:{self.name}"

    @property
    def end_key(self) -> str:
        return f"link:{self.node}:{self.name}"

    @property
    def peer_key(self) -> str:
        return f"link:{self.peer_node}:{self.peer}"

    def batch_key(self):
        """Removals with the same key may be done in one request (`undo_many`)."""
        return (self.ns, self.group) if self.group else None

    undo_many = staticmethod(_undo_host_ends)

    @property
    def also(self) -> str:
        """The other end's key: children of either end depend on the pair."""
        return self.end_key if self.master else self.peer_key

    @property
    def parents(self):
        # A namespace's deletion removes a veth only asynchronously (and a bridge's deletion
        # never removes its ports), so a pair with an end in the host is always deleted explicitly.
        if self.ns == "" or self.peer_ns == "":
            return ()
        return (f"netns:{self.node}", f"netns:{self.peer_node}")

    # Nor does the deletion of one of its two namespaces remove a pair at once: the end in the other
    # namespace stays until the kernel frees the deleted one, which is only once nothing holds it (a run
    # holds every namespace it removes until it ends, to mount it back on a rollback), so a pair made
    # again there meanwhile found its name taken. The pair goes along only when both namespaces go.
    cascades_with_all: ClassVar[bool] = True

    @property
    def depends(self):
        ps = [f"netns:{self.node}", f"netns:{self.peer_node}"]
        if self.master:
            ps.append(f"link:host:{self.master}")
        return tuple(p for p in ps if p != "netns:host")

    def _want(self) -> tuple[dict, dict]:
        mtu = self.mtu or 1500  # the kernel's default for a veth, which is what the file says then
        a = {"mtu": mtu, "mac": self.mac, "master": self.master, "up": True,
             "hairpin": True if self.hairpin else None}
        b = {"mtu": mtu, "mac": self.peer_mac, "up": True}
        return a, b

    def apply(self, k):
        k.veth_add(self.ns, self.name, self.peer_ns, self.peer, mac=self.mac, peer_mac=self.peer_mac, mtu=self.mtu,
                   master=self.master, hairpin=self.hairpin, group=self.group, alias=self.mark_of(self.end_key),
                   peer_alias=self.mark_of(self.peer_key), quiet=self.quiet, peer_quiet=self.peer_quiet)

    def undo(self, k):
        if not k.link_del(self.ns, self.name, self.mark_of(self.end_key)) and self.peer_ns != self.ns:
            # (the first end's namespace gone, or the end with it: the other end may still be there)
            k.link_del(self.peer_ns, self.peer, self.mark_of(self.peer_key))
        k.link_forget(self.peer_ns, self.peer)

    def check(self, view):
        # Each end is checked in its own namespace alone; an end whose namespace is byte for byte what
        # the last check that found everything live as made read there (`view.vouched`: a bridge port's
        # container, on a no-op `up`) was as wanted then and is now, and is not read again; nor is one
        # whose namespace `down` removes (`view.goes`), which is there when the other end is.
        sure_a, sure_b = view.vouched(self.ns), view.vouched(self.peer_ns)
        a, bad_a = (None, None) if sure_a else _own(view, self.ns, self.name, self.mark_of(self.end_key), "veth", "")
        b, bad_b = (None, None) if sure_b else _own(view, self.peer_ns, self.peer, self.mark_of(self.peer_key),
                                                    "veth", "")
        if bad_a is not None:
            return bad_a
        if bad_b is not None:
            return bad_b
        has_a, has_b = sure_a or a is not None, sure_b or b is not None
        goes_a, goes_b = view.goes(self.ns), view.goes(self.peer_ns)  # (`down`: see LiveView.goes)
        if goes_a and not goes_b:
            has_a = has_b
        elif goes_b and not goes_a:
            has_b = has_a
        if not has_a and not has_b:
            return missing(f"veth {self.name} -- {self.peer}")
        if not has_a or not has_b:  # one end moved away: only making the pair again helps
            gone = self.name if not has_a else self.peer
            return changed(f"veth {self.name} -- {self.peer}: the end {gone} is gone", "a pair", "one end")
        wa, wb = self._want()
        da = {} if sure_a else _differences(a, wa)
        db = {} if sure_b else _differences(b, wb)
        if da or db:
            words = [f"{self.name}: " + _words(da, wa)[0]] if da else []
            words += [f"{self.peer}: " + _words(db, wb)[0]] if db else []
            return changed(f"veth {self.name} -- {self.peer}: " + "; ".join(words),
                           "; ".join(x for x in (_words(da, wa)[1], _words(db, wb)[1]) if x),
                           "; ".join(x for x in (_words(da, wa)[2], _words(db, wb)[2]) if x),
                           observed={"a": da, "b": db})
        return OK

    def repair(self, k, observed):
        wa, wb = self._want()
        _set(k, self.ns, self.name, {x: wa[x] for x in observed.get("a", {})})
        _set(k, self.peer_ns, self.peer, {x: wb[x] for x in observed.get("b", {})})

    def unrepair(self, k, observed):
        _set(k, self.ns, self.name, observed.get("a", {}))
        _set(k, self.peer_ns, self.peer, observed.get("b", {}))

    def remake(self, k, observed=None):
        """As it was: a port whose bridge was gone is made again without one."""
        a = (observed or {}).get("a", {}) if isinstance(observed, dict) else {}
        op = self
        if "master" in a:
            op = replace(self, master=a["master"], hairpin=bool(a.get("hairpin")) if a["master"] else False)
        op.apply(k)
        if isinstance(observed, dict):
            self.unrepair(k, observed)

    def describe(self):
        opts = []
        if self.mtu:
            opts += ["mtu", self.mtu]
        if self.mac:
            opts += ["address", self.mac]
        if self.group:
            opts += ["group", self.group]
        peer = ["peer", "name", self.peer]
        if self.peer_ns != self.ns:
            peer += ["netns", self.peer_ns]
        if self.peer_mac:
            peer += ["address", self.peer_mac]
        if self.mtu:
            peer += ["mtu", self.mtu]
        out = [ip_cmd(self.ns, "link", "add", "name", self.name, *opts, "type", "veth", *peer)]
        if self.master:
            out.append(ip_cmd(self.ns, "link", "set", "dev", self.name, "master", self.master))
        if self.ns == "" and (self.master or self.group):  # (a bridge port's host end: Kernel.veth_add)
            out.append(f"sysctl -q -w net/ipv6/conf/{q(self.name)}/disable_ipv6=1")
        quiet = ["addrgenmode", "none"] if self.quiet else []
        out.append(ip_cmd(self.ns, "link", "set", "dev", self.name, "alias", self.mark_of(self.end_key), *quiet, "up"))
        if self.peer_quiet:  # (before it comes up: its peer is up, so it has carrier at once)
            out += [ip_cmd(self.peer_ns, "link", "set", "dev", self.peer, "alias", self.mark_of(self.peer_key),
                           "addrgenmode", "none"), ip_cmd(self.peer_ns, "link", "set", "dev", self.peer, "up")]
        else:
            out.append(ip_cmd(self.peer_ns, "link", "set", "dev", self.peer, "alias", self.mark_of(self.peer_key),
                              "up"))
        if self.hairpin:
            out.append(f"bridge link set dev {q(self.name)} hairpin on")
        return out

    def describe_undo(self):
        return [ip_cmd(self.ns, "link", "delete", "dev", self.name)]

    def describe_repair(self, observed):
        wa, wb = self._want()
        return (_set_cmds(self.ns, self.name, {x: wa[x] for x in observed.get("a", {})})
                + _set_cmds(self.peer_ns, self.peer, {x: wb[x] for x in observed.get("b", {})}))


@dataclass
class AddLink(Op):
    """An interface of a kind of `pipenet.kinds` made by one request (dummy, macvlan, vlan, ...): made on its
    parent's side, then moved when they differ.

    Its kind's settings are plain data: `mode` (macvlan) and `vlan_id` (vlan), fields of their own since
    before there was a registry of kinds (records written then read the same), and `options` for every
    kind since; `settings` is all of them, as the kind's module reads them (`Kind.info_data`, `ip_words`).
    `parent_key` is the key of the object the parent lives on when that is not `link:PARENT_NODE:PARENT`
    (the far end of a p2p pair, whose key is its pair's).
    """

    kind: ClassVar[str] = "link"
    destroys_children: ClassVar[bool] = True
    repairable: ClassVar[bool] = True
    node: str
    ns: str
    name: str
    link_kind: str
    parent_node: str | None = None
    parent_ns: str | None = None
    parent: str | None = None
    mode: str | None = None
    vlan_id: int | None = None
    mac: str | None = None
    mtu: int | None = None
    owner: str = ""
    options: dict | None = None
    parent_key: str | None = None
    quiet: bool = False  # no IPv6 autoconfiguration (its node has no IPv6)

    unidentified: ClassVar[tuple[str, ...]] = ("quiet",)  # (before it, the node's namespace did it)

    @property
    def key(self):
        return f"link:{self.node}:{self.name}"

    @property
    def parents(self):
        ps = [f"netns:{self.node}"] if self.node != "host" else []
        if self.parent_key:
            ps.append(self.parent_key)
        elif self.parent and self.parent_node and self.parent_node != "host":
            ps.append(f"link:{self.parent_node}:{self.parent}")
        return tuple(ps)

    @property
    def settings(self) -> dict:
        """The kind's own settings (see the class docstring)."""
        out = dict(self.options or {})
        if self.mode is not None:
            out["mode"] = self.mode
        if self.vlan_id is not None:
            out["vlan_id"] = self.vlan_id
        return out

    def _want(self) -> dict:
        return {"mtu": self.mtu, "mac": self.mac, "up": True}

    def apply(self, k):
        from pipenet import kinds

        k.link_add(self.ns, self.name, self.link_kind, parent_ns=self.parent_ns, parent=self.parent,
                   settings=self.settings, spec=kinds.by_link_kind(self.link_kind), mac=self.mac, mtu=self.mtu,
                   alias=self.mark_of(), quiet=self.quiet)

    def undo(self, k):
        k.link_del(self.ns, self.name, self.mark_of())

    def check(self, view):
        from pipenet import kinds

        link, bad = _own(view, self.ns, self.name, self.mark_of(), self.link_kind, "")
        if bad is not None:
            return bad
        kind = kinds.by_link_kind(self.link_kind)
        if link is None:
            held = self.held(view)
            return foreign(held) if held else missing(f"{self.link_kind} {self.name}")
        own = kind.live_differences(self.settings, link.data) if kind is not None and link.data else {}
        if own:  # (its id, its other end...: made again, as the kernel changes few of them in place)
            return changed(f"{self.link_kind} {self.name}: " + ", ".join(
                f"{k} {live if live is not None else 'none'} (want {want})" for k, (want, live) in own.items()),
                ", ".join(f"{k} {want}" for k, (want, _) in own.items()),
                ", ".join(f"{k} {live}" for k, (_, live) in own.items()), remake=True)
        diff = _differences(link, self._want())
        if diff:
            return changed(f"{self.link_kind} {self.name}: " + _words(diff, self._want())[0],
                           *_words(diff, self._want())[1:], observed=diff)
        return OK

    def held(self, view) -> str | None:
        """Why the kernel would refuse to make it where it is made: another's interface there holds what
        it needs (a VXLAN id and port; `Kind.held_by`). Interfaces of this topology are not counted: the
        plan is consistent with itself, and removes its own first."""
        from pipenet import kinds

        kind = kinds.by_link_kind(self.link_kind)
        where = self.ns if self.parent_ns is None else self.parent_ns  # (where the kernel makes it)
        live = view.links(where) if kind is not None else None
        if live is None:
            return None
        topology = mark_topology(self.mark_of())
        return kind.held_by(self.settings, [x for x in live.links.values() if mark_topology(x.alias) != topology],
                            where)

    def repair(self, k, observed):
        _set(k, self.ns, self.name, {a: self._want()[a] for a in observed})

    def unrepair(self, k, observed):
        _set(k, self.ns, self.name, observed)

    def describe(self):
        from pipenet import kinds

        kind = kinds.by_link_kind(self.link_kind)  # (None: one found live, to be removed)
        where = self.ns if self.parent_ns is None else self.parent_ns
        args = ["link", "add"]
        if self.parent and (kind is None or kind.parent_is_link):
            args += ["link", self.parent]
        args += ["name", self.name]
        if self.parent_ns is not None and self.parent_ns != self.ns:
            args += ["netns", self.ns]
        if self.mac:
            args += ["address", self.mac]
        if self.mtu:
            args += ["mtu", self.mtu]
        args += ["type", self.link_kind]
        if kind is not None:
            args += kind.ip_words(self.settings, self.parent)
        quiet = ["addrgenmode", "none"] if self.quiet else []
        return [ip_cmd(where, *args), ip_cmd(self.ns, "link", "set", "dev", self.name, "alias", self.mark_of(), *quiet),
                ip_cmd(self.ns, "link", "set", "dev", self.name, "up")]

    def describe_undo(self):
        return [ip_cmd(self.ns, "link", "delete", "dev", self.name)]

    def describe_repair(self, observed):
        return _set_cmds(self.ns, self.name, {a: self._want()[a] for a in observed})
