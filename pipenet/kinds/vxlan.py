"""`vxlan id VNI remote ADDR [local ADDR] [dstport PORT] [dev IF]`: a VXLAN tunnel endpoint (RFC 7348).

    interface vx0 vxlan id 42 remote 10.80.0.2 local 10.80.0.1 dstport 4789 dev u0 address 10.99.0.1/24

Layer 2 in UDP: the frames the node sends on vx0 go, in UDP datagrams to
`remote` port `dstport`, over whatever route the node (its underlay) has to
`remote`; those that come back with the same id are delivered on vx0. Two
nodes whose tunnels point at each other with one id are on one segment.

- `id`: the VXLAN network identifier, 0 to 16777215.
- `remote`: the other end's unicast address (IPv4 or IPv6); required.
- `local`: the source address of the tunnel's packets (default: the one the
  route to `remote` picks); of the same family as `remote`.
- `dstport`: the UDP port, 4789 (IANA's) by default, not the kernel's own
  historical default (8472), so two ends made by pipenet agree with each
  other and with other implementations.
- `dev IF`: send through this interface of the node (`IF`) or of the host
  (`host:IF`: the tunnel is made in the host's namespace, whose underlay it
  then uses, and moved into the node). The tunnel goes with it.

Made where its `dev` is (the node itself without one). The segment is a
real one (the other end may be anyone), so IPv6 addresses keep duplicate
address detection, and an address needs a prefix. Needs CONFIG_VXLAN.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from netaddr import IPAddress

from pipenet.backends import nlmsg
from pipenet.diagnostics import Diagnostic
from pipenet.kinds.base import Edge, Kind

# IFLA_VXLAN_* (linux/if_link.h)
IFLA_VXLAN_ID, IFLA_VXLAN_GROUP, IFLA_VXLAN_LINK, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LEARNING = 1, 2, 3, 4, 7
IFLA_VXLAN_PORT, IFLA_VXLAN_GROUP6, IFLA_VXLAN_LOCAL6 = 15, 16, 17

#: IANA's port for VXLAN
DEFAULT_PORT = 4789
MAX_VNI = 2**24 - 1


@dataclass(frozen=True)
class Vxlan:
    """A tunnel's own settings: its id (VNI), the other end, its source address, its UDP port."""

    vni: int
    remote: IPAddress | None = None
    local: IPAddress | None = None
    port: int = DEFAULT_PORT


class VxlanKind(Kind):
    name = "vxlan"
    rule = "vxlan"
    usage = "vxlan id VNI remote ADDR"
    short = "vxlan"
    after = {"id": "a VXLAN id like 42", "remote": "the other end's address, like 10.80.0.2",
             "local": "an address of this node, like 10.80.0.1", "dstport": "a UDP port like 4789"}
    link_kind = "vxlan"
    feature = "CONFIG_VXLAN (VXLAN tunnels)"
    parent_word = "device"

    # ---- front end ---------------------------------------------------------------------------------
    def build(self, w, part, sc, f, spans):
        from pipenet.lang import values as V
        from pipenet.lang.walk import Fail, subnodes, words

        vni_tok = words(part)[0]
        vni = w.typed(vni_tok, sc, V.integer, "a VXLAN id", 0, MAX_VNI)
        spans["vni"] = w.span(vni_tok, sc)
        own: dict = {}
        failed = False
        for opt in subnodes(part):
            tok = words(opt)[0]
            sp = w.span(tok, sc)
            try:
                if opt.data == "remote":
                    w.set_once(own, spans, "remote", w.typed(tok, sc, V.ip), sp, "remote")
                elif opt.data == "local":
                    w.set_once(own, spans, "local", w.typed(tok, sc, V.ip), sp, "local")
                elif opt.data == "dstport":
                    w.set_once(own, spans, "port", w.typed(tok, sc, V.integer, "a UDP port", 1, 65535), sp,
                               "dstport")
                elif opt.data == "dev":
                    if "parent" in f:
                        w.error("`dev` is given twice", sp, f"the first is at line {spans['parent'].line}")
                        raise Fail
                    self.set_parent(w, tok, sc, f, spans)
            except Fail:
                failed = True  # (every option is read, for its own error)
        if failed:
            raise Fail  # a tunnel with a wrong value is not made up: that error is the one reported
        f["settings"] = Vxlan(vni, **own)

    # ---- validation ----------------------------------------------------------------------------------
    def check(self, topo, idx, interfaces):
        seen: dict[tuple, tuple] = {}
        for c, i in interfaces:
            s: Vxlan = i.settings
            at = i.spans.get("kind", i.span)
            if s.remote is None:
                yield Diagnostic(f"vxlan {i.name} needs a `remote`: the address of the tunnel's other end", at,
                                 f"e.g. interface {i.name} vxlan id {s.vni} remote 10.80.0.2")
                continue
            if s.remote.is_multicast() or int(s.remote) == 0:
                what = "a multicast group" if s.remote.is_multicast() else "no address"
                yield Diagnostic(f"remote {s.remote} is {what}: pipenet makes point-to-point tunnels",
                                 i.spans.get("remote", at), "give the unicast address of the other end")
            if s.local is not None and s.local.version != s.remote.version:
                yield Diagnostic(f"local {s.local} and remote {s.remote} are not of one family",
                                 i.spans.get("local", at), f"give an IPv{s.remote.version} address of {c.name}")
            # the kernel takes one tunnel per id, port and family in a namespace: say so before it refuses
            where = "host" if i.parent_node == "host" else c.name
            other = seen.setdefault((where, s.vni, s.port, s.remote.version), (c, i))
            if other[1] is not i:
                oc, oi = other
                yield Diagnostic(f"{c.name}:{i.name} is VXLAN id {s.vni} on UDP port {s.port}, as "
                                 f"{oc.name}:{oi.name} (line {oi.span.line}) is, in one network namespace",
                                 i.spans.get("vni", at), "a namespace has one tunnel per id and port: give it "
                                                         "another id or dstport")

    # ---- the graph -----------------------------------------------------------------------------------
    def edges(self, t, c, i):
        """A dotted line to the node that has the remote address, drawn once for two ends facing each other."""
        s: Vxlan = i.settings
        if s.remote is None:
            return []
        owner = _owner(t, s.remote)
        if owner is None or owner == c.name:
            return []
        other = t.container_map.get(owner)
        mine = _addresses(t, c.name)
        facing = other is not None and any(
            j.kind == self.name and j.settings.vni == s.vni and j.settings.remote in mine for j in other.interfaces)
        if facing and owner < c.name:
            return []  # the other end draws it
        return [Edge(owner, "dotted", f"vxlan {s.vni}")]

    # ---- compilation and the kernel ---------------------------------------------------------------
    def op_fields(self, i):
        s: Vxlan = i.settings
        options = {"id": s.vni, "remote": str(s.remote), "port": s.port}
        if s.local is not None:
            options["local"] = str(s.local)
        return {"options": options}

    def info_data(self, settings, parent_index):
        out = nlmsg.u32(IFLA_VXLAN_ID, settings["id"])
        remote, local = settings.get("remote"), settings.get("local")
        if remote:
            out += nlmsg.ip(IFLA_VXLAN_GROUP6 if ":" in remote else IFLA_VXLAN_GROUP, remote)  # a unicast group
        if local:
            out += nlmsg.ip(IFLA_VXLAN_LOCAL6 if ":" in local else IFLA_VXLAN_LOCAL, local)
        if parent_index:
            out += nlmsg.u32(IFLA_VXLAN_LINK, parent_index)
        if settings.get("learning") is False:  # (a bridge's tunnel: its forwarding entries are static)
            out += nlmsg.u8(IFLA_VXLAN_LEARNING, 0)
        return out + nlmsg.attr(IFLA_VXLAN_PORT, struct.pack("!H", settings.get("port", DEFAULT_PORT)))

    def ip_words(self, settings, parent):
        words = ["id", settings["id"], "remote", settings["remote"]]
        if settings.get("local"):
            words += ["local", settings["local"]]
        if parent:
            words += ["dev", parent]
        words += ["dstport", settings.get("port", DEFAULT_PORT)]
        return words + (["nolearning"] if settings.get("learning") is False else [])

    def live_differences(self, settings, data):
        """Its id, remote, UDP port, and local address when one is given: a tunnel whose id or other end
        was changed under pipenet carries the segment somewhere else."""
        live = _live(data)
        want = {"id": settings["id"], "remote": str(IPAddress(settings["remote"])),
                "port": settings.get("port", DEFAULT_PORT)}
        if settings.get("local"):
            want["local"] = str(IPAddress(settings["local"]))
        return {k: (v, live.get(k)) for k, v in want.items() if live.get(k) != v}

    def held_by(self, settings, links, where):
        """The kernel takes one tunnel per id, UDP port and family in a namespace: another's (another
        tool's, or another topology's) with this one's makes `up` refuse before any change."""
        from pipenet.backends.objects import mark_topology

        port, family = settings.get("port", DEFAULT_PORT), 6 if ":" in settings["remote"] else 4
        for link in links:
            if link.kind != "vxlan" or not link.data:
                continue
            live = _live(link.data)
            if live.get("id") == settings["id"] and live.get("port") == port and live["family"] == family:
                owner = mark_topology(link.alias)
                whose = f"topology {owner}'s" if owner else "an interface pipenet did not make,"
                place = "the host" if where == "" else where
                return (f"VXLAN id {settings['id']} on UDP port {port} is taken in {place} by {whose} {link.name} "
                        f"(the kernel takes one tunnel per id and port): give this one another id or dstport")
        return None

    def probe(self, nl):
        nl.link_add("pnprobe0", "vxlan", info_data=self.info_data({"id": 1, "remote": "192.0.2.1"}, None))


def _live(data: bytes) -> dict:
    """A tunnel's own settings as the kernel has them (its IFLA_INFO_DATA): id, port, remote and local
    (those it has), and the family of its addresses."""
    a = nlmsg.attrs_of(data)
    live: dict = {"family": 6 if IFLA_VXLAN_GROUP6 in a or IFLA_VXLAN_LOCAL6 in a else 4}
    if IFLA_VXLAN_ID in a:
        live["id"] = struct.unpack("=I", bytes(a[IFLA_VXLAN_ID][:4]))[0]
    if IFLA_VXLAN_PORT in a:
        live["port"] = struct.unpack("!H", bytes(a[IFLA_VXLAN_PORT][:2]))[0]
    for key, v4, v6 in (("remote", IFLA_VXLAN_GROUP, IFLA_VXLAN_GROUP6), ("local", IFLA_VXLAN_LOCAL,
                                                                         IFLA_VXLAN_LOCAL6)):
        raw = a.get(v6) if v6 in a else a.get(v4)
        if raw is not None:
            live[key] = str(IPAddress(int.from_bytes(bytes(raw), "big"), 6 if len(raw) == 16 else 4))
    return live


def _addresses(t, node: str) -> set:
    """Every address `node` has in the file (its interfaces' and its p2p ends')."""
    out = set()
    c = t.container_map.get(node)
    for i in c.interfaces if c is not None else ():
        if i.address is not None:
            out.add(i.address.ip)
    for link in t.p2p:
        for end in (link.a, link.b):
            if end.node == node and end.address is not None:
                out.add(end.address.ip)
    return out


def _owner(t, ip) -> str | None:
    """The node that has address `ip` in the file, if one does."""
    for link in t.p2p:
        for end in (link.a, link.b):
            if end.address is not None and end.address.ip == ip:
                return end.node
    for c in t.containers:
        if any(i.address is not None and i.address.ip == ip for i in c.interfaces):
            return c.name
    return None


KIND = VxlanKind()
