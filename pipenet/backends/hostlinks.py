"""The host's interfaces as the no-op `up` reads them: its bridges in full, its bridge ports from the
bridges' own dump, and of those ports what that dump does not send from the last full read.

Why: in every link message of a veth whose peer is in another namespace, the kernel writes the id it
gives that namespace, found by a linear search of every id the host has given (docs/performance.md,
the eighth pass). At 4,000 bridge ports the host's link dump costs the kernel 140 ms, and it holds the
RTNL lock meanwhile, so every other link read on the machine waits. The bridges' port dump (RTM_GETLINK
of family AF_BRIDGE) sends each port's name, index, bridge, MTU, MAC, state, peer index and hairpin
mode without that search: 19 ms for the same 4,000.

It does not send a port's alias (pipenet's mark), kind or group. Those come from `known`, what the last
check that found every operation live as made read of the port with the same name and the same index
(`engine.verified`, which keeps every field of it a check reads: a port whose fields are all as then
is not checked again, `LiveView.port_as_kept`). The kernel gives the interfaces of a namespace their
indexes in turn and does not give one again (it allocates them cyclically, over two thousand million),
so the same index is the same interface: a port deleted and made again, or another interface given
its name, has another index, is not vouched for, and is read in full.

What this trusts, then, is that nobody edited the alias of an interface pipenet made, in place, and
that nobody made an interface with the name and the index of one of pipenet's ports once that port
was gone (`ip link add ... index N`, or one moved in from another namespace, which keeps its index
when it is free): the changes to a port the no-op does not see, until the record is written again
(the memo carries what it read forward). `status`, `plan` of a changed file and `down` read the host
in full and see them (and `down` removes nothing whose mark is not there).

Anything else asked of the host's links is read from the kernel as it is asked: an interface by name
or by index (one request each), or, for a question about all of them (a walk over every interface),
the full dump after all.
"""

from __future__ import annotations

from pipenet.backends.objects import Link


def identity(link: Link) -> list:
    """What is kept of a bridge port (`engine.verified`): [index, alias, group, MAC, MTU, up, bridge,
    peer's index, hairpin], every field of its Link but its name, its kind (a veth) and its kind's data
    (none for a veth): every field a check of it reads among them."""
    return [link.index, link.alias, link.group, link.mac, link.mtu, link.up, link.master, link.peer_index,
            link.hairpin]


def identities(links: dict) -> dict[str, list]:
    """{name: `identity`} of the veth bridge ports among `links`: what a later read of the host's ports
    may take from this one (`known`)."""
    return {name: identity(link) for name, link in links.items() if link.master is not None and link.kind == "veth"}


def compose(bridges: list[Link], ports: list, known: dict) -> dict[str, Link]:
    """The bridges, and every port of one of them (`ports`: (name, index, MAC, MTU, up, bridge's index,
    peer's index, hairpin) from the bridges' dump) that `known` vouches for by its name and index."""
    names = {b.index: b.name for b in bridges}
    out = {b.name: b for b in bridges}
    for name, index, mac, mtu, up, master, peer, hairpin in ports:
        k = known.get(name)
        bridge = names.get(master)
        if not k or k[0] != index or bridge is None or name in out:
            continue  # (not vouched for: read in full if it is asked for)
        out[name] = Link(name, index, "veth", mac, mtu, up, bridge, k[1], k[2], peer, hairpin)
    return out


class HostLinks(dict):
    """The host's links by name, some of them (`compose`); any other is read as it is asked for
    (`by_name`, `by_index`: a Link or None), and a walk over all of them reads them all (`everything`)
    first. Lookups by name answer as a full read's dict would."""

    def __init__(self, links: dict[str, Link], by_name, by_index, everything):
        super().__init__(links)
        self._by_name, self._by_index, self._everything = by_name, by_index, everything
        self._absent: set[str] = set()
        self.whole = False

    def get(self, name, default=None):
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        if self.whole or not isinstance(name, str) or not 0 < len(name.encode()) < 16 or name in self._absent:
            return default  # (a name no interface can have is not asked of the kernel)
        link = self._by_name(name)
        if link is None or link.name != name:  # (the kernel also finds an interface by an alternative name)
            self._absent.add(name)
            return default
        dict.__setitem__(self, name, link)
        return link

    def __contains__(self, name) -> bool:
        return self.get(name) is not None

    def __getitem__(self, name) -> Link:
        link = self.get(name)
        if link is None:
            raise KeyError(name)
        return link

    def complete(self) -> HostLinks:
        """Every link of the host, read in full (once)."""
        if not self.whole:
            every = self._everything()
            dict.clear(self)
            dict.update(self, every)
            self.whole = True
        return self

    def keys(self):
        return dict.keys(self.complete())

    def values(self):
        return dict.values(self.complete())

    def items(self):
        return dict.items(self.complete())

    def __iter__(self):
        return dict.__iter__(self.complete())

    def __len__(self) -> int:
        return dict.__len__(self.complete())

    def __reduce__(self):  # (sent to another process: as the plain dict of every link)
        return dict, (dict(dict.items(self.complete())),)

    def __eq__(self, other) -> bool:
        return dict.__eq__(self.complete(), other)

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> dict[str, Link]:
        return dict(self.items())

    def __repr__(self) -> str:
        return f"HostLinks({dict.__repr__(self)}, whole={self.whole})"

    def held(self) -> dict[str, Link]:
        """What has been read so far (nothing more is read)."""
        return dict(dict.items(self))

    def held_link(self, name: str) -> Link | None:
        """The link `name` if it has been read (nothing more is read)."""
        return dict.get(self, name)

    def names_of(self, indexes) -> dict[int, str]:
        """{index: name} of every link held, and of each of `indexes` not held, read by its index."""
        out = {link.index: name for name, link in dict.items(self)}
        for i in indexes:
            if i and i not in out and not self.whole:
                link = self._by_index(i)
                if link is not None:
                    dict.__setitem__(self, link.name, link)
                    out[i] = link.name
        return out
