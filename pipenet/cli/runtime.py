"""`pipenet link`, `pipenet shape` and `pipenet capture`: a running lab's links changed, and its packets
seen, from the command line.

Glue only, as in `pipenet.cli.commands`: the argument NODE:IFACE is split here, the node's lab found
by the library (`api.find_node`), and everything else decided by `Lab.link`, `Lab.shape` and
`Lab.capture`.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from pipenet.cli import output
from pipenet.cli.glue import Exit, call, topology_arg


def _target(target: str, topology: Optional[str], command: str):
    """(lab, node, interface) of NODE:IFACE: one line and exit 1 when it is not that."""
    from pipenet import api

    node, sep, iface = target.partition(":")
    if not sep or not node or not iface:
        output.message(f"pipenet: {command} takes NODE:IFACE (say a:eth0), not `{target}`")
        raise Exit(1)
    topology_arg(topology)
    return call(lambda: api.find_node(node, topology, command)), node, iface


def _said(lab, notes: list[str]) -> None:
    for note in notes:
        output.message(f"{lab.name}: {note}")


def link(target: str, state: str, topology: Optional[str] = None) -> None:
    """Set NODE:IFACE down or up at runtime (recorded; `up FILE` puts the file's state back)."""
    if state not in ("up", "down"):
        output.message(f"pipenet: link NODE:IFACE takes up or down, not `{state}`")
        raise Exit(1)
    lab, node, iface = _target(target, topology, "link")
    _said(lab, call(lambda: lab.link(node, iface, state == "up")))


def shape(target: str, settings: Optional[Sequence[str]] = None, clear: bool = False,
          topology: Optional[str] = None) -> None:
    """Shape NODE:IFACE at runtime (rate 1mbit, delay 50ms, ...), or --clear its shaping."""
    lab, node, iface = _target(target, topology, "shape")
    _said(lab, call(lambda: lab.shape_words(node, iface, list(settings or []), clear)))


def capture(target: str, filter: Optional[Sequence[str]] = None, write: Optional[str] = None,
            count: Optional[str] = None, topology: Optional[str] = None) -> None:
    """tcpdump on NODE:IFACE inside the node; -w FILE (or - for pcap on stdout), -c COUNT, a FILTER."""
    if count is not None and not (count.isdigit() and 0 < int(count) < 1 << 31):
        output.message(f"pipenet: -c is a number of packets, not `{count}`")
        raise Exit(1)
    if write == "-" and sys.stdout.isatty():
        output.message("pipenet: -w - writes pcap, which a terminal cannot show: pipe it (| wireshark -k -i -) "
                       "or give a file")
        raise Exit(1)
    lab, node, iface = _target(target, topology, "capture")
    sys.stdout.flush()
    r = call(lambda: lab.capture(node, iface, count=None if count is None else int(count), write=write,
                                  filter=list(filter or []), stdout=sys.stdout.buffer, stderr=sys.stderr))
    raise Exit(r.returncode)
