"""Bad input of every size gives located diagnostics, never a traceback (the ownership issue)."""

from __future__ import annotations

import pytest

from pipenet.diagnostics import render
from pipenet.lang import analyse

HUGE = "9" * 5000  # past Python's 4,300-digit limit on int() of a string
D400 = "9" * 400

# (id, source, line, column, message fragment)
HUGE_NUMBERS = [
    ("let", f"let n = {HUGE}\ncontainer a\n", 1, 9, "has 5,000 digits"),
    ("let-used", f"container a${{n}}\nlet n = {HUGE}\n", 2, 9, "has 5,000 digits"),
    ("for-high", f"for i in 1..{HUGE} {{ container a${{i}} }}\n", 1, 13, "loop bound "),
    ("for-low", f"for i in {HUGE}..1 {{ container a${{i}} }}\n", 1, 10, "loop bound "),
    ("mtu", f"bridge b {{ mtu {HUGE} }}\n", 1, 16, "MTU "),
    ("p2p-mtu", f"container a\ncontainer b\np2p a:e -- b:e {{ mtu {HUGE} }}\n", 3, 22, "MTU "),
    ("metric", f"container a {{ interface d dummy address 10.0.0.1/24; route 10.1.0.0/16 via 10.0.0.2 metric {HUGE} }}\n",
     1, 92, "metric "),
    ("vlan", f"container a {{ interface d dummy; interface d.1 vlan {HUGE} of d }}\n", 1, 53, "VLAN id "),
    ("publish-host", f"bridge b {{ address 10.0.0.1/24 }}\ncontainer a {{ net b; publish {HUGE}:80 }}\n", 2, 30,
     "port "),
    ("publish-port", f"bridge b {{ address 10.0.0.1/24 }}\ncontainer a {{ net b; publish 80:{HUGE} }}\n", 2, 30,
     "port "),
    ("expose", f"bridge b {{ address 10.0.0.1/24 }}\ncontainer a {{ net b; expose {HUGE}/udp }}\n", 2, 29, "port "),
    ("expect-port", f"container a\nexpect a can reach a:{HUGE}\n", 2, 20, "port "),
    ("attach-pid", f"container a {{ attach pid {HUGE} }}\n", 1, 26, "process id "),
    ("attach-pid-string", f'container a {{ attach pid "{HUGE}" }}\n', 1, 26, "process id "),
    ("attach-pid-superscript", 'container a { attach pid "\u00b2" }\n', 1, 26, "expected a process id"),
    ("prefix", f"bridge b {{ address 10.0.0.1/{HUGE} }}\n", 1, 20, "is not a prefix length"),
    ("arith-literal", f"container a${{{'9' * 399}}}\n", 1, 14, "number too large"),
    ("arith-product", f"let n = 5\ncontainer a${{n * {'9' * 390}}}\n", 2, 18, "number too large"),
    ("rate", f"container a {{ interface d dummy; shape d rate {HUGE}mbit }}\n", 1, 47, "is too fast"),
    ("rate-past-tbf", "container a { interface d dummy; shape d rate 33gbit }\n", 1, 47, "is too fast"),
    ("delay-400-digits", f"container a {{ interface d dummy; shape d delay {D400}ms }}\n", 1, 48, "is too long"),
    ("delay-huge", f"container a {{ interface d dummy; shape d delay {HUGE}ms }}\n", 1, 48, "is too long"),
    ("delay-2min", "container a { interface d dummy; shape d delay 2m }\n", 1, 48, "is too long"),
    ("jitter", f"container a {{ interface d dummy; shape d delay 1ms jitter {HUGE}ms }}\n", 1, 59, "is too long"),
    ("p2p-delay", f"container a\ncontainer b\np2p a:e -- b:e {{ delay {D400}ms }}\n", 3, 24, "is too long"),
    ("loss", f"container a {{ interface d dummy; shape d loss {HUGE}% }}\n", 1, 47, "more than 100%"),
]


@pytest.mark.parametrize("src,line,col,fragment", [c[1:] for c in HUGE_NUMBERS], ids=[c[0] for c in HUGE_NUMBERS])
def test_huge_numbers_are_located_errors(src, line, col, fragment):
    topo, diags, sources = analyse(src, "t.pn")
    assert diags, "accepted"
    text = render(diags, sources)
    first = diags[0]
    assert (first.span.line, first.span.column) == (line, col), text
    assert fragment in first.message, text
    assert all(len(line) < 300 for line in text.splitlines() if "error:" in line), "a huge value quoted whole"


def test_limits_themselves_are_accepted():
    topo, diags, sources = analyse("container a { interface d dummy; shape d delay 60s jitter 60000ms rate 32gbit }\n"
                                   "let big = 00000000000000000000000001\n", "t.pn")
    assert not diags, render(diags, sources)
    s = topo.containers[0].shapes[0]
    assert s.delay_ms == 60000 and s.jitter_ms == 60000 and s.rate_bps == 32 * 10**9


# ---- names on the host -------------------------------------------------------------------------------------

def test_a_hash_collision_of_host_port_names_is_a_check_time_error():
    from pipenet.plan.names import host_port_name

    # Found by brute force over c0, c1, ... (about 2 million sha1s): these two node names give the same
    # 10 hex digits for eth0 in topology `collide`, so `up` would fail when the kernel refuses the second.
    a, b = "c883537", "c1981927"
    assert host_port_name("collide", a, "eth0") == host_port_name("collide", b, "eth0") == "pn47f7483588"
    src = f"topology collide\nbridge br0\ncontainer {a} {{ net br0 }}\ncontainer {b} {{ net br0 }}\n"
    topo, diags, sources = analyse(src, "t.pn")
    assert len(diags) == 1, render(diags, sources)
    d = diags[0]
    assert (d.span.line, d.span.column) == (4, 26)
    assert f"the host end of {b}:eth0 would be named pn47f7483588, as is {a}:eth0 (line 3)" == d.message
    assert "host-name" in d.hint
    # naming one host end by hand settles it
    fixed = src.replace(f"container {b} {{ net br0 }}", f"container {b} {{ interface eth0 on br0 host-name veth{b} }}")
    topo, diags, sources = analyse(fixed, "t.pn")
    assert not diags, render(diags, sources)


def test_more_ports_than_a_bridge_holds_is_a_check_time_error():
    src = "bridge big { address 10.0.0.1/16 }\nfor i in 1..2000 {\n    container c${i} { net big }\n}\n"
    topo, diags, sources = analyse(src, "t.pn")
    assert len(diags) == 1, render(diags[:3], sources)
    d = diags[0]
    assert d.message == "bridge big would have 2,000 ports; a Linux bridge holds at most 1,023"
    assert (d.span.line, d.span.column) == (3, 27) and "iteration i=1024" in d.span.loop.describe()
    assert "split the containers over several bridges" in d.hint
    ok = src.replace("1..2000", "1..1023")
    topo, diags, sources = analyse(ok, "t.pn")
    assert not diags, render(diags, sources)


def test_a_bridge_across_machines_is_counted_machine_by_machine():
    """Each machine has its own Linux bridge: its own containers' ports and one tunnel to the others. 1,200
    ports in all, 600 a machine, is fine; 1,023 containers on one machine, with its tunnel, are one port
    too many (it used to refuse the first and count the second as the whole segment's)."""
    head = ("machine local { underlay 10.50.0.10 }\nmachine m1 { ssh root@10.50.0.11; underlay 10.50.0.11 }\n"
            "bridge br { address 10.100.0.1/16 }\n"
            "for i in 1..600 { container c${i} { net br } }\n")
    topo, diags, sources = analyse(head + "for i in 1..600 { container f${i} { machine m1; net br } }\n", "t.pn")
    assert not diags, render(diags, sources)
    topo, diags, sources = analyse(head + "for i in 1..1023 { container f${i} { machine m1; net br } }\n", "t.pn")
    assert [d.message for d in diags] == [
        "bridge br would have 1,024 ports on machine m1 (with its tunnel); a Linux bridge holds at most 1,023"]
    assert "iteration i=1023" in diags[0].span.loop.describe()
    # `machine local` and no machine are one machine; a bridge placed on another machine has a tunnel too
    topo, diags, sources = analyse(head + "for i in 1..600 { container l${i} { machine local; net br } }\n"
                                   "container f1 { machine m1; net br }\n", "t.pn")
    assert [d.message for d in diags] == [
        "bridge br would have 1,201 ports on machine local (with its tunnel); a Linux bridge holds at most 1,023"]
    placed = head.replace("bridge br { address 10.100.0.1/16 }", "bridge br { machine m1; address 10.100.0.1/16 }")
    topo, diags, sources = analyse(placed + "for i in 601..1023 { container c${i} { net br } }\n", "t.pn")
    assert [d.message for d in diags] == [
        "bridge br would have 1,024 ports on machine local (with its tunnel); a Linux bridge holds at most 1,023"]


# ---- string escapes ------------------------------------------------------------------------------------------

def test_known_escapes_mean_what_docs_say():
    src = 'let n = 3\nlet v = "a\\\\b"\ncontainer a { run "printf \\"x\\ny\\tz\\" \\\\ ${n} ${v}" }\n'
    topo, diags, sources = analyse(src, "t.pn")
    assert not diags, render(diags, sources)
    run = topo.containers[0].run[0]
    # \" \\ \n \t are decoded once; an interpolated value (a\b) is not read again for escapes
    assert run.command == 'printf "x\ny\tz" \\ 3 a\\b'
    assert run.argv == ("printf", "x\ny\tz", " 3", "ab")  # then split as a shell would: \ escapes there too


@pytest.mark.parametrize("body,col,escape", [
    ("echo \\d", 25, "\\d"), ("\\$x", 20, "\\$"), ("a\\'", 21, "\\'"), ("x \\0 \\q", 22, "\\0"),
])
def test_unknown_escapes_are_located_errors(body, col, escape):
    src = f'container a {{ run "{body}" }}\n'
    topo, diags, sources = analyse(src, "t.pn")
    assert len(diags) == 1, render(diags, sources)
    d = diags[0]
    assert d.message == f"unknown escape `{escape}` in a string"
    assert (d.span.line, d.span.column, d.span.end_column) == (1, col, col + 2)
    assert "\\n" in d.hint and "\\t" in d.hint
