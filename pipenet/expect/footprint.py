"""Probes leave the neighbour tables as they found them.

The kernel keeps ONE neighbour (ARP/NDP) table for the whole machine, shared
by every network namespace, the host's own included, and refuses new entries
once it holds `gc_thresh3` of them (1,024 by default; only entries more than
5 s old can be reclaimed to make room). A probe between two nodes on one
segment leaves two entries behind: the source's entry for the target and the
target's entry for the source (made when it answers the ARP request). A
hundred nodes each probing ten others is 2,000 entries in a few seconds: the
table overflows ("neighbour table overflow" in the kernel log, `table_fulls`
in /proc/net/stat/arp_cache), ARP requests go unanswered, and probes fail
with "no echo reply" although the network is fine. That was issue 20.

So each probe takes a reference on the neighbour entries its packets need
at both ends (the first hop from the source to the target, and from the
target back to the source), and when the last probe holding an entry is done
(plus a short linger, so that the last packets of a TCP close or a late echo
reply still find it) the entry is deleted, unless it was there before pipenet
needed it: entries that were there first (the lab's own traffic) are never
touched, and the table holds at most the entries of the probes in flight
(the runner bounds those, lingering included).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipenet.expect.rtnl import Rtnl

Key = tuple[str, int, str]  # (namespace ref, interface index, neighbour address)


@dataclass
class _Entry:
    holders: int = 0
    found: bool = False  # there before any probe needed it: never deleted


@dataclass
class Footprint:
    """Reference counts on neighbour entries, per namespace (`rtnl(ref)` gives that namespace's socket)."""

    rtnl: object  # callable: ref -> Rtnl
    entries: dict[Key, _Entry] = field(default_factory=dict)
    deleted: int = 0

    def take(self, src_ref: str, dst_ip: str, dst_ref: str | None) -> list[Key]:
        """Hold the entries a probe from `src_ref` to `dst_ip` (answered from `dst_ref`) will need."""
        keys: list[Key] = []
        out = self._path(src_ref, dst_ip)
        if out is None:
            return keys
        keys.append((src_ref, out[0], out[1]))
        if dst_ref is not None and out[2] is not None and dst_ref != src_ref:
            back = self._path(dst_ref, out[2])
            if back is not None:
                keys.append((dst_ref, back[0], back[1]))
        for key in keys:
            e = self.entries.get(key)
            if e is None:
                e = self.entries[key] = _Entry(found=self._sock(key[0]).has_neighbour(key[1], key[2]))
            e.holders += 1
        return keys

    def give_back(self, keys: list[Key]) -> None:
        for key in keys:
            e = self.entries.get(key)
            if e is None:
                continue
            e.holders -= 1
            if e.holders > 0:
                continue
            del self.entries[key]
            if not e.found:
                self._sock(key[0]).forget_neighbour(key[1], key[2])
                self.deleted += 1

    def _sock(self, ref: str) -> Rtnl:
        return self.rtnl(ref)

    def _path(self, ref: str, ip: str) -> tuple[int, str, str | None] | None:
        p = self._sock(ref).route(ip)
        return None if p is None else (p.oif, p.neighbour, p.source)

    def give_back_all(self) -> None:
        """At an interrupted run's end: delete every entry a probe made, whoever still holds it."""
        for key, e in list(self.entries.items()):
            del self.entries[key]
            if not e.found:
                try:
                    self._sock(key[0]).forget_neighbour(key[1], key[2])
                except OSError:
                    pass


def table_overflows() -> int | None:
    """How many times the machine's neighbour tables (ARP and NDP) have refused a new entry so far.

    The counters are the kernel's own (`table_fulls`, one line per CPU). They are
    shown in the initial namespace only, so from a sandbox they are read
    through process 1's view; None when neither can be read.
    """
    total = None
    for name in ("arp_cache", "ndisc_cache"):
        for base in ("/proc/net/stat", "/proc/1/net/stat"):
            try:
                with open(f"{base}/{name}") as f:
                    lines = f.read().split("\n")
            except OSError:
                continue
            head = lines[0].split()
            if "table_fulls" not in head:
                continue
            col = head.index("table_fulls")
            total = (total or 0) + sum(int(x.split()[col], 16) for x in lines[1:] if len(x.split()) > col)
            break
    return total
