"""Dual stack in the language: a bridge's two addresses and pool6, a container's address of each family,
`expect ... over ipv6`, their errors, and what the planner makes of them (no kernel here; the real kernel
is tests/engine/test_dual_stack.py)."""

from __future__ import annotations

import pytest
from netaddr import IPAddress, IPNetwork

from pipenet.expect.targets import Targets
from pipenet.lang import load_text
from pipenet.lang.fmt import format_text
from pipenet.lang.load import analyse
from pipenet.plan.compile import compile_topology
from pipenet.plan.etc import hosts

DUAL = """topology dual
bridge d {
    address 172.17.42.1/16
    address fd00:17::1/64
    pool 172.17.0.0/24
    pool6 fd00:17::/80
    icc off
}
container web { net d; expose 80; publish 8080:80; link db }
container db { net d; address 172.17.0.100; address fd00:17::100; expose 5432 }
container v6first { net d; address fd00:17::7 }
container other { interface eth1 on d address fd00:17::9 address 172.17.0.9 }
expect web can reach db:5432/tcp over ipv6
expect web cannot reach host over ipv4
expect web can reach host as db over ipv6
"""


def ip(a) -> str:
    return str(a.ip) if a is not None else None


def test_a_dual_stack_bridge_and_its_containers_get_an_address_of_each_family():
    t = load_text(DUAL, "dual.pn")
    b = t.bridge_map["d"]
    assert (str(b.address), str(b.address6)) == ("172.17.42.1/16", "fd00:17::1/64")
    assert (b.pool, b.pool6) == (IPNetwork("172.17.0.0/24"), IPNetwork("fd00:17::/80"))
    eth0 = {c.name: c.primary for c in t.containers if c.primary is not None}
    # pool addresses in file order; ::0 (the subnet-router anycast) and the bridge's ::1 skipped
    assert (ip(eth0["web"].address), ip(eth0["web"].address6)) == ("172.17.0.1", "fd00:17::2")
    assert (ip(eth0["db"].address), ip(eth0["db"].address6)) == ("172.17.0.100", "fd00:17::100")
    # an IPv6 address given alone: the IPv4 one still comes from the pool (and the MAC from it, Docker's)
    assert (ip(eth0["v6first"].address), ip(eth0["v6first"].address6)) == ("172.17.0.2", "fd00:17::7")
    assert eth0["v6first"].mac == "02:42:ac:11:00:02"
    eth1 = t.container_map["other"].interface("eth1")
    assert (str(eth1.address), str(eth1.address6)) == ("172.17.0.9/16", "fd00:17::9/64")
    assert [e.family for e in t.expectations] == [6, 4, 6]
    assert t.expectations[0].describe() == "web can reach db:5432/tcp over ipv6"
    assert load_text(format_text(DUAL, "dual.pn"), "dual.pn") == t


def test_a_bridge_with_one_family_keeps_it_in_address_and_pool6_is_its_pool():
    t = load_text("bridge six { address fd00:6::1/64; pool6 fd00:6::100/120 }\ncontainer a { net six }\n", "s.pn")
    b = t.bridge_map["six"]
    assert (str(b.address), b.address6, b.pool, b.pool6) == ("fd00:6::1/64", None, IPNetwork("fd00:6::100/120"), None)
    assert str(t.container_map["a"].primary.address) == "fd00:6::100/64"


def _plan(src: str):
    ops, _ = compile_topology(load_text(src, "dual.pn"))
    return ops


def test_the_plan_has_both_addresses_both_default_routes_and_ip6tables_tables():
    ops = _plan(DUAL)
    sh = "\n".join(line for op in ops for line in op.describe())
    assert "ip addr add fd00:17::1/64 dev d nodad" in sh
    assert "ip -n dual@web route add default via 172.17.42.1 proto 112" in sh
    assert "ip -n dual@web route add default via fd00:17::1 proto 112" in sh
    assert len({op.key for op in ops}) == len(ops)  # the two default routes are two operations
    assert "sysctl -q -w net.bridge.bridge-nf-call-ip6tables=1" in sh
    fw = {op.table: op for op in ops if op.kind == "firewall"}
    assert set(fw) == {"filter", "nat", "ip6:filter", "ip6:nat"}
    v6 = dict(fw["ip6:filter"].chains)["PN-dual-FWD"]
    assert any("-s fd00:17::2/128 -d fd00:17::100/128" in r and "--dport 5432" in r for r in v6)
    assert any("--icmpv6-type neighbour-solicitation" in r and r.endswith("-j ACCEPT") for r in v6)
    assert v6[-1].startswith("-i d -o d -m comment") and v6[-1].endswith("-j DROP")
    v4 = dict(fw["filter"].chains)["PN-dual-FWD"]
    assert any("-s 172.17.0.1/32 -d 172.17.0.100/32" in r for r in v4) and not any("fd00" in r for r in v4)
    pre = dict(fw["ip6:nat"].chains)["PN-dual-PRE"]
    assert list(pre) == ["-p tcp -m tcp --dport 8080 -m comment --comment pipenet:dual -j DNAT --to-destination "
                   "[fd00:17::2]:80"]
    assert "ip6tables -w -t nat -N PN-dual-PRE" in sh
    # IPv6 is routed, not NAT'd: no MASQUERADE of the IPv6 subnet going out
    assert not any(r.startswith("-s fd00:17::/64 ! -o d") for r in dict(fw["ip6:nat"].chains)["PN-dual-POST"])
    assert any(r.startswith("-s 172.17.0.0/16 ! -o d") for r in dict(fw["nat"].chains)["PN-dual-POST"])


def test_a_route_default_of_the_file_replaces_only_the_automatic_one_of_its_family():
    ops = _plan(DUAL.replace("container web { net d;", "container web { net d; route default via 172.17.0.100;"))
    defaults = [op for op in ops if op.kind == "route" and op.node == "web" and op.dest is None]
    assert sorted(op.via for op in defaults) == ["172.17.0.100", "fd00:17::1"]


def test_hosts_lists_both_addresses_of_a_dual_stack_container():
    t = load_text(DUAL.replace("topology dual", "topology dual\nhosts auto"), "dual.pn")
    text = hosts(t, t.container_map["web"])
    assert "172.17.0.1\tweb\n" in text and "fd00:17::2\tweb\n" in text
    assert "172.17.0.100\tdb\n" in text and "fd00:17::100\tdb\n" in text


def test_over_ipv6_aims_at_the_ipv6_address_of_every_name():
    t = load_text(DUAL, "dual.pn")
    targets = Targets(t, {})
    first, second, third = t.expectations
    assert targets.aim(first).ip == "fd00:17::100"
    assert targets.aim(second).ip == "172.17.42.1"
    assert targets.aim(third).ip == "fd00:17::1" and targets.expected_as(third) == "fd00:17::100"
    v4only = load_text("bridge b { address 10.8.0.1/24 }\ncontainer a { net b }\ncontainer c { net b }\n"
                       "expect a can reach c over ipv6\nexpect a can reach host over ipv6\n", "v4.pn")
    aims = [Targets(v4only, {}).aim(e) for e in v4only.expectations]
    assert [a.ip for a in aims] == [None, None]
    assert "c has no IPv6 address to probe" == aims[0].why and "no IPv6 address" in aims[1].why


BR = "bridge d { address 10.1.0.1/24; address fd00:1::1/64 }\n"
ERRORS = [
    ("two-ipv6-addresses", "bridge d { address fd00:1::1/64; address fd00:2::1/64 }\n", 1, 42,
     "an IPv6 `address` is given twice"),
    ("pool6-ipv4", "bridge d { address 10.1.0.1/24; pool6 10.1.0.0/25 }\n", 1, 39, "pool6 10.1.0.0/25 is not an IPv6"),
    ("pool6-outside", BR.replace(" }", "; pool6 fd00:9::/80 }"), 1, 61, "pool fd00:9::/80 is not inside"),
    ("pool6-no-ipv6", "bridge d { address 10.1.0.1/24; pool6 fd00:1::/80 }\n", 1, 39,
     "bridge d has no IPv6 address, so it cannot have an IPv6 pool"),
    ("address6-outside", BR + "container a { net d; address fd00:2::5 }\n", 2, 30,
     "address fd00:2::5 is outside bridge d's subnet fd00:1::/64"),
    ("address6-v4-bridge", "bridge d { address 10.1.0.1/24 }\ncontainer a { net d; address fd00:2::5 }\n", 2, 30,
     "d has no IPv6 address"),
    ("two-ipv4-in-container", BR + "container a { net d; address 10.1.0.5; address 10.1.0.6 }\n", 2, 48,
     "an IPv4 `address` is given twice in container a"),
    ("address6-twice-on-segment", BR + "container a { net d; address fd00:1::5 }\ncontainer b { net d; address "
     "fd00:1::5 }\n", 3, 30, "address fd00:1::5 is used twice on one segment"),
    ("address6-gateway", BR + "container a { net d; address fd00:1::1 }\n", 2, 30, "bridge d's own address"),
    ("over-family", BR + "container a { net d }\nexpect a can reach host over ipv5\n", 3, 30,
     "`ipv5` is not an address family"),
    ("over-written-address", BR + "container a { net d }\nexpect a can reach 10.1.0.1 over ipv6\n", 3, 34,
     "10.1.0.1 is an IPv4 address, and the expectation is over ipv6"),
    ("pool6-exhausted", "bridge d { address 10.1.0.1/24; address fd00:1::1/64; pool6 fd00:1::/127 }\n"
     "container a { net d }\ncontainer b { net d }\n", 2, 19, "pool fd00:1::/127 of bridge d has no address left"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_dual_stack_errors_are_located(case):
    _id, src, line, col, message = case
    _topo, diags, _sources = analyse(src, "t.pn")
    match = [d for d in diags if message in d.message]
    assert match, [d.message for d in diags]
    assert (match[0].span.line, match[0].span.column) == (line, col), match[0]


def test_a_segment_with_ipv6_keeps_autoconfiguration_and_one_without_gets_none():
    """The quiet-links rule: IPv6 on a bridge (dual stack included) keeps link-local addresses there and
    in its containers; a bridge of IPv4 only, and its containers, get no IPv6 autoconfiguration."""
    quiet = {op.key: op.quiet for op in _plan(DUAL) if op.kind in ("bridge", "netns")}
    assert quiet and not any(quiet.values()), quiet
    v4 = DUAL.replace("    address fd00:17::1/64\n", "").replace("    pool6 fd00:17::/80\n", "")
    v4 = v4.replace("; address fd00:17::100", "").replace("container v6first { net d; address fd00:17::7 }\n", "")
    v4 = v4.replace(" address fd00:17::9", "").replace(" over ipv6", "")
    quiet = {op.key: op.quiet for op in _plan(v4) if op.kind in ("bridge", "netns")}
    assert quiet and all(quiet.values()), quiet
