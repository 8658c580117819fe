"""Each kind of expectation target, passing when the network allows it and failing when it does not.

Targets: a node (its primary address), an address (a loopback address being
the source's own), `host` (the host's address as the source sees it), a
port (with a temporary listener when nothing listens), and `as` (the address
the server really saw).
"""

from __future__ import annotations

import re
import textwrap

from tests.expect.lab import run_file as run, write

ANSWERED = r"answered in [\d.]+ ms"


def verdicts(results):
    return [ok for _, ok, _ in results]


def test_node_targets(netns, tmp_path):
    path = write(tmp_path, """
        expect a can reach b                  # right
        expect a cannot reach b               # wrong: b answers
        expect x can reach y                  # wrong: icc off drops it
        expect x cannot reach y               # right
        expect a can reach lonely             # wrong: lonely has no address
    """)
    assert netns.pipenet("up", path).returncode == 0
    r = run(netns, path)
    assert verdicts(r) == [True, False, False, True, False], r
    assert re.fullmatch(f"ping 10.71.0.3: {ANSWERED}", r[0][2])
    assert r[2][2] == "ping 10.72.0.3: no echo reply within 3 s"
    assert r[4][2] == "lonely has no address to probe"
    # the same file once b's link is cut: now the network says the opposite
    assert netns.pipenet("exec", "b", "--", "ip", "link", "set", "eth0", "down").returncode == 0
    assert verdicts(run(netns, path)) == [False, True, False, True, False]
    netns.pipenet("down", "kinds")


def test_address_targets(netns, tmp_path):
    path = write(tmp_path, """
        expect a can reach 10.71.0.3          # right: b
        expect a can reach 10.71.0.99         # wrong: nobody has it
        expect a cannot reach 10.71.0.99      # right
        expect a can reach 10.99.0.1          # wrong: no network has it; the host says so
        expect a can reach 127.0.0.1          # right: a's own loopback
        expect lonely can reach 127.0.0.1     # right: lonely's own loopback, though it has no link
    """)
    assert netns.pipenet("up", path).returncode == 0
    r = run(netns, path)
    assert verdicts(r) == [True, False, True, False, True, True], r
    assert r[1][2].startswith("ping 10.71.0.99: no echo reply within 3 s")
    assert r[3][2] == "ping 10.99.0.1: no echo reply within 3 s (network unreachable (reported by 10.71.0.1))"
    assert re.fullmatch(f"ping 127.0.0.1: {ANSWERED}", r[5][2])
    netns.pipenet("down", "kinds")


def test_host_target_is_the_hosts_address_as_the_source_sees_it(netns, tmp_path):
    path = write(tmp_path, """
        expect a can reach host               # right: the gateway of a's bridge
        expect edge can reach host            # right: the host's end of edge's point-to-point link
        expect lonely can reach host          # wrong: lonely has no link to the host
        expect lonely cannot reach host       # right
        expect a can reach host:7001/tcp      # right: a listener in the host, reached at 10.71.0.1
        expect lonely can reach host:7001/tcp # wrong
        expect a cannot reach host            # wrong
    """)
    assert netns.pipenet("up", path).returncode == 0
    r = run(netns, path)
    assert verdicts(r) == [True, True, False, True, True, False, False], r
    assert re.fullmatch(f"ping 10.71.0.1: {ANSWERED}", r[0][2])
    assert re.fullmatch(f"ping 10.73.0.1: {ANSWERED}", r[1][2])
    why = ("no route to host: the host has no address reachable from lonely (no bridge with an address, "
           "no point-to-point link to the host)")
    assert r[2][2] == why and r[3][2] == why and r[5][2] == why
    assert re.fullmatch(f"tcp 10.71.0.1:7001: {ANSWERED}", r[4][2])
    # the host's listener was temporary
    assert ":7001 " not in netns.out(["ss", "-ltn"])
    netns.pipenet("down", "kinds")


def test_port_targets(netns, tmp_path):
    path = write(tmp_path, """
        expect a can reach b:8080/tcp         # right: a temporary listener in b
        expect a can reach b:5353/udp         # right: a temporary UDP echo in b
        expect x can reach y:8080/tcp         # wrong: icc off
        expect x cannot reach y:8080/tcp      # right
        expect x can reach y:5353/udp         # wrong
        expect a cannot reach b:8080/tcp      # wrong
    """)
    assert netns.pipenet("up", path).returncode == 0
    r = run(netns, path)
    assert verdicts(r) == [True, True, False, True, False, False], r
    assert re.fullmatch(f"tcp 10.71.0.3:8080: {ANSWERED}", r[0][2])
    assert re.fullmatch(f"udp 10.71.0.3:5353: {ANSWERED}", r[1][2])
    assert r[2][2] == "tcp 10.72.0.3:8080: timed out after 3 s"
    assert r[4][2] == "udp 10.72.0.3:5353: no answer within 3 s"
    for node in ("b", "y"):  # the listeners were temporary
        ss = netns.pipenet("exec", node, "--", "ss", "-ltun").stdout
        assert ":8080 " not in ss and ":5353 " not in ss
    netns.pipenet("down", "kinds")


def test_as_targets(netns, tmp_path):
    path = write(tmp_path, """
        expect a can reach b:8080/tcp as a                # right
        expect a can reach b:8080/tcp as 10.71.0.2        # right
        expect a can reach b:8080/tcp as 10.71.0.1        # wrong: b sees a's own address
        expect edge can reach host:8080/tcp as 10.73.0.2  # right: from outside, the client keeps its address
        expect a can reach host:8080/tcp as 10.71.0.1     # right: a neighbour through the host is NATed
        expect a can reach host:8080/tcp as a             # wrong
    """)
    assert netns.pipenet("up", path).returncode == 0
    r = run(netns, path)
    assert verdicts(r) == [True, True, False, True, True, False], r
    assert r[0][2].endswith(", seen as 10.71.0.2")
    assert r[2][2] == "connected, but b saw 10.71.0.2, not 10.71.0.1"
    assert r[3][2].startswith("tcp 10.73.0.1:8080: answered") and r[3][2].endswith("seen as 10.73.0.2")
    assert r[5][2] == "connected, but web saw 10.71.0.1, not 10.71.0.2"
    netns.pipenet("down", "kinds")


def test_ipv6_targets_right_after_up(netns, tmp_path):
    """`test` brings the lab up itself, and new IPv6 addresses are tentative for a second or so: probing
    waits for that, or `cannot reach` would pass only because the address was not usable yet."""
    path = tmp_path / "six.pn"
    path.write_text(textwrap.dedent("""
        topology six
        container a
        container b
        p2p a:eth0 fd00:70::1/64 -- b:eth0 fd00:70::2/64
        expect a can reach b                  # right
        expect b cannot reach fd00:70::1      # wrong: a answers
        expect a can reach fd00:70::9         # wrong: nobody has it
        expect a can reach b:8080/tcp         # right
    """))
    r = run(netns, str(path))
    assert verdicts(r) == [True, False, False, True], r
    assert re.fullmatch(f"ping fd00:70::2: {ANSWERED}", r[0][2])
    assert re.fullmatch(f"ping fd00:70::1: {ANSWERED}", r[1][2])
    assert re.fullmatch(f"tcp \\[fd00:70::2\\]:8080: {ANSWERED}", r[3][2])  # (bracketed, as in a URL)
    netns.pipenet("down", "six")


def test_a_net_host_container_is_aimed_at_as_the_host_and_a_missing_family_is_named():
    """`expect a can reach h`, h being `net host`, probes the host's address as a sees it (it said "h has
    no address to probe", so `expect all of * can reach all of *` failed every pair into h); and a
    source linked to the host by IPv4 only is told that its links have no IPv6 address, not that it
    has no link."""
    from pipenet.expect.targets import Aim, Targets
    from pipenet.lang import load_text

    topo = load_text(textwrap.dedent("""
        topology t
        bridge br { address 10.9.0.1/24 }
        container a { net br }
        container h { net host }
        container lone
        expect a can reach h
        expect a can reach host over ipv6
        expect lone can reach host
    """), "t.pn")
    aims = [Targets(topo, {}).aim(e) for e in topo.expectations]
    assert aims[0] == Aim("10.9.0.1", "host")
    assert aims[1].ip is None and aims[1].why == (
        "no route to host: the host has no IPv6 address reachable from a (its links to the host have no IPv6 "
        "address)")
    assert aims[2].why == ("no route to host: the host has no address reachable from lone (no bridge with an "
                           "address, no point-to-point link to the host)")
