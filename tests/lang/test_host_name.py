"""`interface eth1 on br1 host-name vethweb`: the host end's name (pipework's -l)."""

from __future__ import annotations

import pytest

from pipenet.diagnostics import render
from pipenet.lang import analyse, load_text
from pipenet.lang.fmt import format_text
from pipenet.plan.compile import compile_topology

SRC = """topology hn
bridge br1 { address 10.5.0.1/24 }
container web {
    interface eth1 on br1 host-name vethweb
    interface eth2 { on br1; host-name vethweb2; address 10.5.0.20 }
}
"""


def test_host_name_reaches_the_ir_and_the_plan():
    topo = load_text(SRC, "t.pn")
    web = topo.container_map["web"]
    assert web.interface("eth1").host_name == "vethweb" and web.interface("eth2").host_name == "vethweb2"
    ops, _ = compile_topology(topo)
    veths = [op for op in ops if op.kind == "veth"]
    assert [(v.name, v.peer) for v in veths] == [("vethweb", "eth1"), ("vethweb2", "eth2")]
    assert format_text(SRC) == SRC and load_text(format_text(SRC), "t.pn") == topo


CASES = [
    ("too-long", "interface eth1 on br1 host-name averyveryverylongname", 4, 37, "the kernel allows 15"),
    ("bad-chars", "interface eth1 on br1 host-name veth/x", 4, 37, "not a valid interface name"),
    ("bridge-name", "interface eth1 on br1 host-name br1", 4, 37, "`br1` on the host is already bridge br1 (line 2)"),
    ("twice", "interface eth1 on br1 host-name v1\n    interface eth2 on br1 host-name v1", 5, 37,
     "`v1` on the host is already the host end of web:eth1 (line 4)"),
    ("host-p2p-end", "interface eth1 on br1 host-name pn0\n}\np2p host:pn0 -- web:eth9\ncontainer other {", 4, 37,
     "`pn0` on the host is already the p2p end host:pn0"),
    ("made-form", "interface eth1 on br1 host-name pn0123456789", 4, 37, "has the form of the names pipenet makes"),
    ("not-a-port", "interface d0 dummy host-name vethd", 4, 34, "names the host end of a bridge port"),
    ("given-twice", "interface eth1 on br1 host-name va host-name vb", 4, 50, "`host-name` is given twice"),
    ("missing", "interface eth1 on br1 host-name", 4, 36, "an interface name for the host end"),
]


@pytest.mark.parametrize("stmt,line,col,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_host_name_errors_are_located(stmt, line, col, fragment):
    src = f"topology hn\nbridge br1 {{ address 10.5.0.1/24 }}\ncontainer web {{\n    {stmt}\n}}\n"
    topo, diags, sources = analyse(src, "t.pn")
    text = render(diags, sources)
    assert any(fragment in d.message and (d.span.line, d.span.column) == (line, col) for d in diags), text
