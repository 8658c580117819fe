"""Refusals found against the live system before `up` changes anything (`pipenet.errors.Conflict`),
reported one cause a line; a cause about what the file asks of the host (a published port, a subnet or
a bridge another topology holds) is reported at its place in the file, as a located diagnostic with its
source line and a hint. A cause about an object on the live system (an interface, a namespace, a chain
pipenet did not make) stays the one line that names that object.

The engine words each cause for a person; this module only finds, from those words, the statement
they are about. A cause it cannot place is printed as it is.
"""

from __future__ import annotations

import re

from pipenet.diagnostics import Diagnostic, render
from pipenet.ir import Topology
from pipenet.source import SourceFile, Span

_PORT = re.compile(r"host port (\d+)/(\w+)(?: of (\S+))? is already (in use|published by topology (\S+))")
_BRIDGE = re.compile(r"bridge (\S+) (belongs to topology|is declared external)")
_SUBNET = re.compile(r"subnet (\S+) overlaps")


def _publish_span(topo: Topology, port: int, proto: str, node: str | None) -> Span | None:
    chosen = None
    for c in topo.containers:
        if node is not None and c.name != node:
            continue
        for p in c.publish:
            if p.proto == proto and p.host_port == port:
                return p.span
            if p.proto == proto and p.host_port is None and chosen is None:
                chosen = p.span  # a host port pipenet chose for `publish PORT`
        if c.publish_all and chosen is None and node is not None:
            chosen = c.spans.get("publish_all")
    return chosen


def _interface_span(topo: Topology, name: str) -> Span | None:
    for b in topo.bridges:
        if b.name == name:
            return b.spans.get("name", b.span)
    for c in topo.containers:
        for i in c.interfaces:
            if i.host_name == name:
                return i.spans.get("host_name", i.span)
    for link in topo.p2p:
        for end in (link.a, link.b):
            if end.node == "host" and end.ifname == name:
                return end.spans.get("ref", end.span)
    return None


def locate(problem: str, topo: Topology) -> tuple[Span, str] | None:
    """(where in the file, a hint) for one cause, or None."""
    m = _PORT.search(problem)
    if m:
        span = _publish_span(topo, int(m.group(1)), m.group(2), m.group(3))
        if span is None:
            return None
        if m.group(5):
            return span, f"pick another host port, or take topology {m.group(5)} down first"
        return span, f"pick another host port, or stop the program that listens on {m.group(1)}/{m.group(2)} " \
                     f"(ss -lntup shows it)"
    m = _BRIDGE.search(problem)
    if m and m.group(2).startswith("belongs"):
        span = _interface_span(topo, m.group(1))
        return (span, "pick another bridge name") if span else None
    m = _SUBNET.search(problem)
    if m:
        for b in topo.bridges:
            if b.subnet is not None and str(b.subnet) == m.group(1):
                return b.spans.get("address", b.span), "give the bridge a subnet of its own"
        return None
    return None


def report(problems: list[str], loaded: tuple[str, Topology] | None) -> list[str]:
    """The lines to print: located causes rendered like the file's own errors, then the others."""
    located, plain = [], []
    for problem in problems:
        where = locate(problem, loaded[1]) if loaded is not None else None
        if where is None:
            plain.append(f"pipenet: {problem}")
        else:
            located.append(Diagnostic(problem, where[0], where[1]))
    lines = []
    if located:
        file = located[0].span.file
        lines.extend(render(located, {file: SourceFile(file, loaded[0])}).splitlines())
    lines.extend(plain)
    return lines


def show(problems: list[str], lab) -> None:
    """Print the causes (stderr), located in the file of `lab` (a pipenet.api.Lab) where they have a place."""
    from pipenet.cli import output
    from pipenet.errors import PipenetError

    loaded = None
    if lab is not None:
        try:
            loaded = lab.loaded
        except PipenetError:
            pass
    for line in report(problems, loaded):
        output.message(line)
    if len(problems) > 1:
        output.message(f"{len(problems)} problems; nothing was changed")
