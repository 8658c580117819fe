"""Golden tests: one invalid file per kind of error, each checked for line, column and message."""

from __future__ import annotations

import pytest

from pipenet.diagnostics import render
from pipenet.lang import analyse

BR = "bridge br0 { address 10.0.0.1/24 }\n"

# (id, source, line, column, message fragment, hint fragment or None)
CASES = [
    ("unknown-top", "bridgee br0\n", 1, 1, "unknown keyword `bridgee` at the top level", "did you mean `bridge`?"),
    ("unknown-container", BR + "container a {\n  adress 10.0.0.5\n}\n", 3, 3, "unknown keyword `adress` in a container",
     "did you mean `address`?"),
    ("unknown-bridge", "bridge b { icc of; mtux 9000 }\n", 1, 20, "unknown keyword `mtux` in a bridge", "`mtu`"),
    ("missing-brace", "container a {\n  net none\n", 1, 13, "a closing } is missing", "every { needs a matching }"),
    ("stray-brace", "container a\n}\n", 2, 1, "unmatched `}`", None),
    ("extra-value", "bridge b { address 10.0.0.1/24 10.0.0.2 }\n", 1, 32, "expected the end of the statement", None),
    ("missing-value", "bridge b {\n  mtu\n}\n", 2, 6, "expected an MTU like 1500", None),
    ("bad-char", "container a@b\n", 1, 12, "unexpected character `@`", None),
    ("single-quote", "container a { run 'ls' }\n", 1, 19, "unexpected character `'`", "double quotes"),
    ("unclosed-string", 'container a {\n  run "echo hi\n}\n', 2, 7, "this string is never closed", "on the same line"),
    ("unclosed-escaped", 'container a { run "x\\" }\n', 1, 19, "this string is never closed", 'write \\"'),
    ("bad-ipv4", BR + "container a { net br0; address 10.0.0.300 }\n", 2, 32, "is not an IPv4 address", None),
    ("bad-prefix", "bridge b { address 10.0.0.1/33 }\n", 1, 20, "`/33` is not a prefix length", None),
    ("bad-mac", BR + "container a { net br0; mac 02:42:zz:00:00:01 }\n", 2, 28, "expected a MAC address", None),
    ("multicast-mac", BR + "container a { net br0; mac 01:00:5e:00:00:01 }\n", 2, 28, "is a multicast address",
     "unicast"),
    ("ifname-too-long", "container a { interface averyveryverylongname dummy }\n", 1, 25, "the kernel allows 15",
     "shorten"),
    ("bad-ifname", "container a { net none }\np2p a:eth/0 -- b:eth0\ncontainer b\n", 2, 5,
     "not a valid interface name", None),
    ("duplicate-node", "container a\ncontainer a\n", 2, 11, "container `a` is declared twice", "line 1"),
    ("bridge-container-clash", "bridge x\ncontainer x\n", 2, 11, "already the name of a bridge", None),
    ("duplicate-interface", "bridge s\ncontainer a {\n  interface eth1 on s\n  interface eth1 on s\n}\n", 4, 13,
     "a has two interfaces named `eth1`", "line 3"),
    ("undeclared-bridge", "bridge homeA\ncontainer a { net homeB }\n", 2, 19, "bridge `homeB` is not declared",
     "did you mean `homeA`?"),
    ("undeclared-link", BR + "container a { net br0; link dbb }\ncontainer db { net br0 }\n", 2, 29,
     "linked container `dbb` is not declared", "did you mean `db`?"),
    ("undeclared-p2p-node", "container a\np2p a:eth0 -- bb:eth0\n", 2, 15, "node `bb` is not declared", None),
    ("outside-subnet", BR + "container a { net br0; address 10.9.0.5 }\n", 2, 32,
     "outside bridge br0's subnet 10.0.0.0/24", "must be in 10.0.0.0/24"),
    ("network-address", BR + "container a { net br0; address 10.0.0.0 }\n", 2, 32, "is the network address", None),
    ("broadcast-address", BR + "container a { net br0; address 10.0.0.255 }\n", 2, 32, "is the broadcast address",
     None),
    ("gateway-address", BR + "container a { net br0; address 10.0.0.1 }\n", 2, 32, "bridge br0's own address",
     None),
    ("prefix-required", "bridge s\ncontainer a { interface eth1 on s address 192.168.1.11 }\n", 2, 43,
     "needs a prefix", "addresses on bridge s need a prefix, e.g. 192.168.1.11/24"),
    ("bridge-prefix", "bridge b { address 10.0.0.1 }\n", 1, 20, "bridge b's address needs a prefix", None),
    ("pool-outside", "bridge b { address 10.0.0.1/24; pool 10.1.0.0/28 }\n", 1, 38, "is not inside bridge b's subnet",
     None),
    ("pool-host-bits", "bridge b { address 10.0.0.1/24; pool 10.0.0.3/28 }\n", 1, 38, "has host bits set",
     "did you mean 10.0.0.0/28?"),
    ("pool-too-small", "bridge b { address 10.0.0.1/24; pool 10.0.0.0/30 }\n"
     "container a { net b }\ncontainer c { net b }\ncontainer d { net b }\n", 4, 19, "has no address left for d:eth0", "larger"),
    ("overlapping-bridges", "bridge a { address 10.0.0.1/16 }\nbridge b { address 10.0.5.1/24 }\n", 2, 20,
     "overlaps bridge a's", None),
    ("duplicate-address", BR + "container a { net br0; address 10.0.0.5 }\ncontainer b { net br0; address 10.0.0.5 }\n",
     3, 32, "address 10.0.0.5 is used twice on one segment", None),
    ("duplicate-mac", BR + "container a { net br0; mac 02:00:00:00:00:01 }\n"
     "container b { net br0; mac 02:00:00:00:00:01 }\n", 3, 28, "MAC 02:00:00:00:00:01 is used twice", None),
    ("gateway-not-on-link", BR + "container a { net br0; route 10.9.0.0/16 via 192.168.7.1 }\n", 2, 46,
     "gateway 192.168.7.1 is not on a link of a", "10.0.0.0/24"),
    ("route-dev-missing", "container a { route 10.0.0.0/8 dev eth9 }\n", 1, 36, "`eth9` is not an interface of a",
     None),
    ("route-needs-via", "container a { route 10.0.0.0/8 }\n", 1, 15, "needs a gateway or a device", None),
    ("net-container-cycle", "container a { net container b }\ncontainer b { net container a }\n", 1, 29,
     "makes a cycle", None),
    ("net-container-interfaces", "bridge s\ncontainer a\ncontainer b { net container a; interface eth1 on s }\n",
     3, 32, "shares a's network namespace: it cannot declare interface", None),
    ("publish-net-none", "container a { publish 8080:80 }\n", 1, 23, "net none: publish needs a bridge", None),
    ("publish-net-host", "container a { net host; publish 8080:80 }\n", 1, 33, "host's network namespace", None),
    ("publish-conflict", BR + "container a { net br0; publish 8080:80 }\ncontainer b { net br0; publish 8080:81 }\n",
     3, 32, "host port 8080/tcp is published twice", None),
    ("port-range", BR + "container a { net br0; publish 8080:70000 }\n", 2, 32, "port 70000 is out of range",
     "1 to 65535"),
    ("bad-protocol", BR + "container a { net br0; expose 80/icmp }\n", 2, 31, "unknown protocol `icmp`", None),
    ("link-other-bridge", BR + "bridge br1 { address 10.1.0.1/24 }\ncontainer a { net br0; link b }\n"
     "container b { net br1 }\n", 3, 29, "b is on bridge br1, not on a's bridge br0", None),
    ("reserved-host", "container host\n", 1, 11, "`host` is reserved", None),
    ("expect-unknown-node", "container a\nexpect a can reach wwww:80\ncontainer www\n", 2, 20,
     "node `wwww` is not declared", "did you mean `www`?"),
    ("unknown-variable", "let count = 2\ncontainer h${cuont}\n", 2, 14, "unknown variable `cuont`",
     "did you mean `count`?"),
    ("division-by-zero", "container h${4 / 0}\n", 1, 16, "division by zero", None),
    ("empty-range", "for i in 5..1 { container h${i} }\n", 1, 10, "the range 5..1 is empty", None),
    ("huge-loop", "for i in 1..10000000 { container h${i} }\n", 1, 10, "more than 200,000 iterations", None),
    ("name-too-long", "container " + "a" * 70 + "\n", 1, 11, "pipenet allows 64", None),
    ("nesting", "container a " + "{ " * 70 + "}" * 70 + "\n", 1, 141, "nest more than 64 deep", None),
    ("expression-too-long", "container h${" + "1+" * 250 + "1}\n", 1, 14, "longer than 400 characters", None),
    ("let-cycle", "let a = ${b}\nlet b = ${a}\ncontainer x${a}\n", 1, 11, "defined in terms of itself", None),
    ("switch", BR.replace("}", "; icc maybe }"), 1, 40, "expected on or off", None),
    ("duration", "container a { interface e0 dummy; shape e0 delay 5 }\n", 1, 50, "expected a duration", None),
    ("rate", "container a { interface e0 dummy; shape e0 rate fast }\n", 1, 49, "expected a rate", None),
    ("percent", "container a { interface e0 dummy; shape e0 loss 200% }\n", 1, 49, "more than 100%", None),
    ("jitter-without-delay", "container a { interface e0 dummy; shape e0 jitter 5ms }\n", 1, 51, "`jitter` needs a `delay`",
     None),
    ("address-without-bridge", "container a { address 10.0.0.5/24 }\n", 1, 23, "eth0's address, which only `net BRIDGE`",
     None),
    ("interface-kind", "container a { interface eth1 address 10.0.0.1/24 }\n", 1, 25, "needs a kind", None),
    ("two-topology", "topology a\ntopology b\n", 2, 1, "`topology` is given more than once", None),
    ("hostname", "container a { hostname bad_name! }\n", 1, 32, "unexpected character `!`", None),
    ("invalid-hostname", "container a { hostname a_b }\n", 1, 24, "is not a valid hostname", None),
    ("sysctl-not-net", "container a { sysctl kernel.panic 1 }\n", 1, 22, "is not a network sysctl", None),
    ("hosts-auto", "hosts all\n", 1, 7, "expected `hosts auto`", None),
    ("unknown-macvlan-mode", "container a { interface m0 macvlan of host:eth0 mode sideways }\n", 1, 54,
     "unknown macvlan mode", None),
    ("vlan-id", "container a { interface e0 dummy; interface v vlan 5000 of e0 }\n", 1, 52, "VLAN id 5000 is out of range",
     None),
    ("link-self", BR + "container a { net br0; link a }\n", 2, 29, "a cannot link to itself", None),
    ("pool-no-address", "bridge b { pool 10.0.0.0/24 }\n", 1, 17, "has no address, so it cannot have a pool", None),
    ("masquerade-no-address", "bridge b { masquerade on }\n", 1, 23, "cannot masquerade", None),
    ("auto-static", "bridge b { address auto }\ncontainer a { net b; address 10.0.0.5/24 }\n", 2, 30,
     "chooses its own subnet", None),
    ("duplicate-single", BR + "container a { net br0; hostname x; hostname y }\n", 2, 45, "`hostname` is given twice", None),
    ("p2p-self", "container a\np2p a:e0 -- a:e0\n", 2, 1, "cannot join an interface to itself", None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_error(case):
    _id, src, line, col, message, hint = case
    topo, diags, sources = analyse(src, "t.pn")
    rendered = render(diags, sources)
    match = sorted((d for d in diags if message in d.message), key=lambda d: d.sort_key())
    assert match, f"no diagnostic containing {message!r}; got:\n{rendered}"
    d = match[0]
    assert (d.span.line, d.span.column) == (line, col), rendered
    if hint is not None:
        assert d.hint and hint in d.hint, rendered
    # the rendered form: FILE:LINE:COL: error: MESSAGE, the source line, a caret under the token
    first = f"t.pn:{line}:{col}: error: {d.message}"
    lines = rendered.splitlines()
    i = lines.index(first)
    src_line = src.splitlines()[line - 1]
    assert lines[i + 1].endswith(src_line)
    caret = lines[i + 2]
    assert caret.split("|", 1)[1][col] == "^"


def test_at_least_forty_kinds():
    assert len(CASES) >= 40


def test_a_container_declared_twice_is_one_error():
    """Said once, at the second declaration, not again for the interfaces the two have in common (their
    `eth0`, its host end's name; a new user's trial found three errors for one mistake)."""
    src = (BR + "bridge br1 { address 10.1.0.1/24 }\ncontainer b { net br1 }\ncontainer b { net br0 }\n")
    topo, diags, sources = analyse(src, "t.pn")
    assert [(d.span.line, d.message) for d in diags] == [(4, "container `b` is declared twice")], \
        render(diags, sources)


def test_one_address_mistake_is_one_error():
    """Two ports given one address is said once, not again for the MACs the allocator makes from it; a
    MAC written twice, or one made from an address no other port has, is still said."""
    def errors(src):
        topo, diags, sources = analyse(src, "t.pn")
        return [(d.span.line, d.message) for d in diags]

    assert errors(BR + "container a { net br0; address 10.0.0.7 }\ncontainer b { net br0; address 10.0.0.7 }\n") == [
        (3, "address 10.0.0.7 is used twice on one segment (a:eth0 and b:eth0)")]
    assert errors(BR + "container a { net br0; address 10.0.0.7; mac 02:00:00:00:00:01 }\n"
                  "container b { net br0; address 10.0.0.8; mac 02:00:00:00:00:01 }\n") == [
        (3, "MAC 02:00:00:00:00:01 is used twice on one segment (a:eth0 and b:eth0)")]
    # c's address is a's, and the MAC made from it is the one b wrote: both said
    assert sorted(errors(BR + "container a { net br0; address 10.0.0.5; mac 02:00:00:00:00:01 }\n"
                         "container b { net br0; address 10.0.0.9; mac 02:42:0a:00:00:05 }\n"
                         "container c { net br0; address 10.0.0.5 }\n")) == [
        (4, "MAC 02:42:0a:00:00:05 is used twice on one segment (b:eth0 and c:eth0)"),
        (4, "address 10.0.0.5 is used twice on one segment (a:eth0 and c:eth0)")]


def test_an_address_that_cannot_be_read_takes_no_pool_address_in_its_place():
    """An unreadable `address` is one error: its interface is not given a pool address instead, which on a
    small pool left the next container none and added a second error about the pool."""
    def errors(src):
        topo, diags, sources = analyse(src, "t.pn")
        return [(d.span.line, d.message) for d in diags]

    small = "bridge br0 { address 10.0.0.1/30 }\n"
    for bad in ("container a { net br0; address 10.0.0.300 }\n",
                "container a { interface eth0 on br0 address 10.0.0.300/30 }\n"):
        assert errors(small + bad + "container b { net br0 }\n") == [
            (2, "`10.0.0.300` is not an IPv4 address (each part is 0 to 255)")]
    # (the pool still runs out when it does: a readable address is no excuse)
    assert errors(small + "container a { net br0 }\ncontainer b { net br0 }\n") == [
        (3, "pool 10.0.0.0/30 of bridge br0 has no address left for b:eth0")]


@pytest.mark.parametrize("header, body", [
    ("for i in 1..3 x {", "    container a${i} { net br0 }\n    container b${i} { net br0 }\n"),
    ("for i 1..3 {", "    container a${i} { net br0 }\n"),
    ("container c x {", "  net br0\n  mac 02:42:00:00:00:01\n"),
    ("bridge br1 y {", "  address 10.1.0.1/24\n  mtu 1400\n"),
    ("p2p a:eth1 -- b:eth1 z {", "  mtu 1400\n"),
    ("host x {", "  forwarding on\n"),
])
def test_a_broken_block_line_is_one_error_and_its_body_is_read_as_its_own(header, body):
    """The line that opens a block is broken: that is the one error. Its body is read as that statement's
    body (a loop's as the top level), so its statements are not each taken for a second error, and a
    syntax error in it is still found."""
    def errors(src):
        topo, diags, sources = analyse(src, "t.pn")
        return [d.span.line for d in diags if "declared" not in d.message]

    src = BR + header + "\n" + body + "}\n"
    assert errors(src) == [2], render(analyse(src, "t.pn")[1], analyse(src, "t.pn")[2])
    broken = BR + header + "\n" + body + "  x { {\n}\n}\n"  # (a line in the body that is wrong in any block)
    assert sorted(errors(broken))[:2] == [2, 3 + body.count("\n")]


def test_a_block_its_statement_does_not_take_there_is_read_as_its_body():
    """`interface eth1 on br0 {` (the block form takes no parts on its line): one error at the brace, and
    the block read as the interface's, not its lines each taken for a statement of the container (nor its
    closing brace for a stray one); a line with other braces is still mended by dropping the stray one."""
    def lines(src):
        topo, diags, sources = analyse(src, "t.pn")
        return [(d.span.line, d.span.column) for d in diags]

    assert lines(BR + "container a {\n  net br0\n  interface eth1 on br0 {\n    address 10.0.0.5/24\n"
                      "    mtu 1400\n  }\n}\n") == [(4, 25)]
    assert lines(BR + "bridge b1 { external } {\ncontainer a { net br0 }\n") == [(2, 24)]


def test_the_parsers_own_placeholders_never_show_and_cannot_be_written():
    """A broken `container` line inside a block left open above it: its placeholder cannot stand there, and
    the plain one takes its place, unsaid (the user reads of their own words only). Written by hand, a
    placeholder is an unknown keyword, not a block whose contents are never checked."""
    def said(src):
        topo, diags, sources = analyse(src, "t.pn")
        return render(diags, sources)

    for src in (BR + "container a {\n    net br0\n\ncontainer b {\n    net br0\n}\n",
                "container a { net none\n  machine m1 x { }\n}\n",
                "container a { net none\n  for i in 1..2 x {\n  }\n}\n"):
        assert "_pn_" not in said(src)
    text = said("_pn_top_ {\n  container evil { net none }\n}\ncontainer _pn_top_ { net none }\n")
    assert "1:1: error: unknown keyword `_pn_top_`" in text and "4:" not in text  # (as a name it is a name)


def test_an_external_bridges_live_address_taken_by_a_port_is_refused():
    """The address of an external bridge is known only when the engine reads it from the host
    (`resolved`): a port given that address is refused then, by the segment's check."""
    from netaddr import IPAddress

    from pipenet.ir import IfAddr
    from pipenet.lang.load import _analyse

    src = "topology d\nbridge br0 { external }\ncontainer a { net br0; address 192.168.5.1/24 }\n"
    _topo, diags, _ = _analyse(src, "d.pn", {"br0": IfAddr(IPAddress("192.168.5.1"), 24)}, {})
    assert [d.message for d in diags] == ["address 192.168.5.1 is used twice on one segment (bridge br0 and a:eth0)"]


def test_every_error_in_one_run():
    src = (
        "bridgee x\n"                                   # syntax-level unknown keyword
        "bridge br0 { address 10.0.0.1/24 }\n"
        "container a { net br1 }\n"                     # undeclared bridge
        "container b { net br0; address 10.9.9.9 }\n"   # outside subnet
        "container c {\n  mtu\n}\n"                     # a syntax error in a block
        "container a\n"                                 # duplicate
    )
    _topo, diags, _ = analyse(src, "t.pn")
    lines = sorted(d.span.line for d in diags)
    assert lines == [1, 3, 4, 6, 8], [(d.span.line, d.message) for d in diags]


def test_loop_errors_name_the_iteration():
    src = "bridge s { address 10.0.0.1/24 }\nfor i in 1..3 {\n  container h${i} { net s; address 10.0.0.${252 + i} }\n}\n"
    _t, diags, sources = analyse(src, "t.pn")
    [d] = [d for d in diags if "outside" in d.message or "broadcast" in d.message or "not an IPv4" in d.message]
    assert d.span.loop is not None and d.span.loop.value in (2, 3)
    assert "in iteration i=" in render([d], sources)


def test_syntax_error_words_not_terminal_names():
    for src in ("container a {\n  net\n}\n", "p2p a:e0\n", "bridge b { address }\n", "for i in 1 { }\n"):
        _t, diags, _ = analyse(src, "t.pn")
        assert diags, src
        for d in diags:
            for bad in ("WORD", "_NL", "RBRACE", "LBRACE", "__ANON", "$END", "SEMICOLON"):
                assert bad not in d.message, (src, d.message)


def test_a_number_out_of_range_is_named_without_its_article():
    """"port 70000 is out of range", not "a port 70000 ...": the article belongs to "expected a port"."""
    for src, message in ((BR + "container a { net br0; publish 8080:70000 }\n", "port 70000 is out of range"),
                         ("container a { interface e0 dummy; interface v vlan 5000 of e0 }\n",
                          "VLAN id 5000 is out of range"),
                         (BR + "container a { net br0; publish 8080:x }\n", "expected a port, got `x`")):
        _topo, diags, _sources = analyse(src, "t.pn")
        assert [d.message for d in diags if "range" in d.message or "expected" in d.message] == [message]


@pytest.mark.parametrize("src, message, hint", [
    ("let x = 1 + 2\ncontainer c${x}\n", "unexpected `+` in the value of `let`", "write `let x = ${1 + 2}`"),
    ("for i in 1..3 {\n  let j = i * 2\n  container c${j}\n}\n", "unexpected `*` in the value of `let`",
     "write `let j = ${i * 2}`"),
    ("for i in 1..3 { let j = i * 2; container c${j} }\n", "unexpected `*` in the value of `let`",
     "write `let j = ${i * 2}`"),
    ("let n = 3\nfor i in 1..n { container c${i} }\n", "expected a loop bound, got `n`",
     "${n} for the variable `n`"),
    ("container c1\ncontainer c2\nexpect all of c[^1] can reach all of c*\n", "unexpected character `^`",
     "write [!1], not [^1]"),
    ("container c1\ncontainer c2\nexpect all of c* can reach all of c* as c1\n",
     "expected the end of the statement, found `as`", "it does not go with `all of`"),
], ids=["let-arith", "let-in-loop", "let-after-brace", "bound-name", "glob-caret", "all-of-as"])
def test_what_a_new_user_writes_first_is_one_error_that_says_what_to_write(src, message, hint):
    """Each of these was found by a newcomer's trial; a `let` that cannot be read no longer makes every
    use of its variable an "unknown variable" too."""
    _topo, diags, sources = analyse(src, "t.pn")
    assert [d.message for d in diags] == [message], render(diags, sources)
    assert hint in diags[0].hint, diags[0].hint


def test_a_let_is_not_blamed_for_an_error_after_it_on_its_line():
    _topo, diags, _sources = analyse("let net = 10.1.0.0/16; bridge br { mtu 1500 1500 }\n", "t.pn")
    assert diags and all("value of `let`" not in d.message for d in diags), [d.message for d in diags]
