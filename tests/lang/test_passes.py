"""Checks that are about the network, not a statement's words, are validation passes: they hold for an IR
however it was made (by the expander, or built directly as here), and are located the same from a file."""

from __future__ import annotations

from pipenet.ir import Container, Interface, Topology
from pipenet.lang import analyse
from pipenet.source import Span
from pipenet.validate import validate

AT = Span("t.pn", 3, 5, 3, 9)


def messages(topo: Topology) -> list[tuple[str, Span]]:
    return [(d.message, d.span) for d in validate(topo)]


def test_a_long_topology_name_is_a_pass():
    long = "t" * 33
    assert (f"topology name `{long}` is longer than 32 characters", AT) in messages(
        Topology(long, "t.pn", span=AT))
    assert not any("longer than" in m for m, _ in messages(Topology("t" * 32, "t.pn", span=AT)))
    _topo, diags, _ = analyse(f"topology {long}\ncontainer a\n", "t.pn")
    [d] = diags
    assert (d.span.line, d.span.column, d.message) == (1, 10, f"topology name `{long}` is longer than 32 characters")
    assert "shorten it" in d.hint


def test_a_long_name_from_the_file_name_is_located_at_the_top():
    long = "n" * 40
    _topo, diags, _ = analyse("container a\n", f"/tmp/{long}.pn")
    [d] = diags
    assert (d.span.line, d.span.column) == (1, 1) and "longer than 32" in d.message


def test_host_name_on_a_kind_other_than_a_port_is_a_pass():
    dummy = Interface("d0", "dummy", host_name="vethd", spans={"host_name": AT})
    topo = Topology("t", "t.pn", containers=(Container("a", "a", interfaces=(dummy,)),))
    assert ("`host-name` names the host end of a bridge port, and d0 is a dummy interface", AT) in messages(topo)
    port = Interface("e1", "port", bridge="s", host_name="vethe", spans={"host_name": AT})
    topo = Topology("t", "t.pn", containers=(Container("a", "a", interfaces=(port,)),))
    assert not any("host-name" in m for m, _ in messages(topo))
