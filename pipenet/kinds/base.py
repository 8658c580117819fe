"""What an interface kind is: everything pipenet knows about one kind, in one object.

Each module of `pipenet.kinds` defines one `Kind` subclass and its instance
`KIND`. The generic stages read a kind's attributes (its shape) and call its
hooks; a hook a kind does not need keeps the default here. The stages, in
the order a topology meets them:

- front end: `rule` (the grammar rule, in `_iface_part`, that declares an
  interface of this kind), `build` (that rule's words into the IR: the
  `Interface` fields it sets, and its own `settings`), `usage`, `short` and
  `after` (words for hints and syntax errors);
- validation: `check` (what its words alone cannot say, about one of its
  interfaces or several), and the shape attributes the
  generic passes read (`on_bridge`, `host_prefix`, `parent_word`);
- allocation: `on_bridge` (addressed from the bridge's pool), `host_prefix`;
- the graph: `edges`;
- compilation: `compile` (the operation that makes it: by default an
  `AddLink` of `link_kind` carrying the `op_fields` of its settings),
  `own_segment` (IPv6 without duplicate address detection);
- the kernel: `info_data` (its IFLA_INFO_DATA), `parent_is_link`, `ip_words`
  (its words in `ip link add ... type KIND ...`, for `pipenet plan --format
  sh`), `feature` and `probe` (the kernel configuration it needs, and how to
  find out, in a throwaway namespace, whether this kernel has it).

Hooks take plain data (the IR, an operation's settings as a dict) so the
kind module needs no kernel handle and no compiler internals beyond the few
the compiler passes in.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Mapping, NamedTuple


class Edge(NamedTuple):
    """A line `pipenet graph` draws from an interface's node: to a node id (`br:NAME` for a bridge,
    `host`, or another node), solid unless `style` says otherwise, its label followed by `note`."""

    to: str
    style: str | None = None
    note: str | None = None


class Kind:
    #: Interface.kind in the IR
    name: str = ""
    #: the grammar rule (an alternative of `_iface_part`) whose words declare an interface of this kind
    rule: str = ""
    #: how it is written, for hints (`vlan ID of IF`)
    usage: str = ""
    #: its name in a list of kinds (`on BRIDGE`, `dummy`)
    short: str = ""
    #: what a syntax error says is expected after each of its keywords (`"vlan": "a VLAN id like 100"`)
    after: Mapping[str, str] = {}

    #: an interface of this kind is a port of the bridge `bridge`: addressed from its pool, on its segment
    on_bridge: bool = False
    #: an address written without a prefix is a host address (/32, /128); otherwise the prefix is required
    host_prefix: bool = False
    #: on a segment pipenet made: its IPv6 addresses need no duplicate address detection
    own_segment: bool = False
    #: what its `parent` (the interface it is made on) is called in messages
    parent_word: str = "parent"

    #: the kernel's name for what it makes (IFLA_INFO_KIND), and the kernel feature's key; None: made by AddVeth
    link_kind: str | None = None
    #: the kernel configuration it needs, in words ("CONFIG_DUMMY (dummy interfaces)"); None: every kernel has it
    feature: str | None = None
    #: its parent is given to the kernel as IFLA_LINK (`ip link add link PARENT`); else, if at all, in its own data
    parent_is_link: bool = False

    # ---- front end ----------------------------------------------------------------------------------
    def build(self, w, part, sc, f: dict, spans: dict) -> None:
        """Read the words of `part` (a node of rule `rule`) through the walker `w` into the interface's IR
        fields `f` (and their `spans`); raise `pipenet.lang.walk.Fail` when a value is wrong (reported)."""

    def set_parent(self, w, tok, sc, f: dict, spans: dict) -> None:
        """The interface it is made on: `IF` (the node's own) or `NODE:IF` (usually `host:eth0`)."""
        from pipenet.lang import values as V

        text = w.text(tok, sc)
        if ":" in text:
            node, ifn = w.typed(tok, sc, V.node_interface)
            f["parent_node"], f["parent"] = node, ifn
        else:
            f["parent"] = w.typed(tok, sc, V.ifname)
        spans["parent"] = w.span(tok, sc)

    # ---- validation -----------------------------------------------------------------------------------
    def check(self, topo, idx, interfaces: list) -> Iterable:
        """Diagnostics only this kind knows to look for, about its `interfaces` ((container, interface) pairs,
        every interface of this kind in the topology, in file order; `idx`: the validation passes' Index)."""
        return ()

    # ---- the graph ------------------------------------------------------------------------------------
    def edges(self, t, c, i) -> list[Edge]:
        """What `pipenet graph` draws for interface `i` of container `c` (by default: nothing)."""
        return []

    # ---- compilation ----------------------------------------------------------------------------------
    def compile(self, comp, c, ns: str, i):
        """The operation that makes interface `i` of container `c` in namespace `ns` (`comp`: the compiler,
        for the namespaces of other nodes and the operation keys of the interfaces made so far)."""
        AddLink = _add_link()
        if i.parent is None:
            return AddLink(c.name, ns, i.name, self.link_kind, mac=i.mac, mtu=i.mtu, owner=comp.t.name,
                           **self.op_fields(i))
        pnode = i.parent_node or c.name
        key = comp.iface_key.get((pnode, i.parent))
        # the key of what the parent lives on, when it is not the parent's own (the far end of a p2p link)
        parent_key = key if key is not None and pnode != "host" and key != f"link:{pnode}:{i.parent}" else None
        return AddLink(c.name, ns, i.name, self.link_kind, parent_node=pnode, parent_ns=comp.ns.get(pnode, ""),
                       parent=i.parent, mac=i.mac, mtu=i.mtu, owner=comp.t.name, parent_key=parent_key,
                       **self.op_fields(i))

    def op_fields(self, i) -> dict[str, Any]:
        """The kind's settings as fields of its `AddLink` (plain data, kept in the record)."""
        return {}

    # ---- the kernel -----------------------------------------------------------------------------------
    def info_data(self, settings: Mapping[str, Any], parent_index: int | None) -> bytes:
        """IFLA_INFO_DATA of the RTM_NEWLINK that makes it (`settings`: its AddLink's, `AddLink.settings`;
        `parent_index`: the parent's index where it is made, when it has one)."""
        return b""

    def ip_words(self, settings: Mapping[str, Any], parent: str | None) -> list:
        """Its words after `type KIND` in `ip link add` (the same request as `info_data`, as a command)."""
        return []

    def live_differences(self, settings: Mapping[str, Any], data: bytes) -> dict[str, tuple]:
        """{setting: (wanted, live)} for each of its own settings (`settings`: its AddLink's) the live
        interface does not have, read from the kernel's IFLA_INFO_DATA (`data`). A difference makes the
        interface be made again: the kernel changes few of them in place. By default nothing is compared."""
        return {}

    def held_by(self, settings: Mapping[str, Any], links, where: str) -> str | None:
        """Why the kernel would refuse to make it in namespace `where` (`links`: the live links there),
        when another interface already holds what it needs (a VXLAN id and port); None when nothing does.
        Said before any change, as an object in the way is."""
        return None

    def probe(self, nl) -> None:
        """Make one in the scratch namespace of a probe (`pipenet.backends.probe`): raises when this kernel
        cannot."""
        nl.link_add("pnprobe0", self.link_kind, info_data=self.info_data({}, None))


@lru_cache(maxsize=1)
def _add_link():
    from pipenet.plan.ops import AddLink  # (the planner, loaded when first needed: the front end reads kinds too)

    return AddLink


def probe_veth(nl) -> str:
    """A veth pair in a probe's scratch namespace, for a kind that needs a parent; the name of one end."""
    nl.link_add("pnprobe0", "veth", peer={"ifname": "pnprobe1"})
    return "pnprobe0"


def joined(words: list[str], last: str = "or") -> str:
    """`a`, `a or b`, `a, b or c`."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]
