"""Edits that delete or remake one end of what joins two nodes: a point-to-point pair whose other namespace
goes, and the processes of a `net container` node whose shared namespace is made again.

The kernel removes a veth pair with one of its namespaces only once it frees that namespace, which is
asynchronous and waits for whoever holds it (the run itself, to mount it back on a rollback): the end
in the other namespace stays meanwhile. These edits used to fail (`create veth p0: File exists`, rolled
back, exit 2) or to leave a process in a namespace that was gone.
"""

from __future__ import annotations

import os
import textwrap

from tests import snapshot


def _up(netns, path: str, text: str):
    """`up` of `path` once it holds `text` (the file edited in place, as a user edits it)."""
    with open(path, "w") as f:
        f.write(text)
    return netns.pipenet("up", path)


def _converged(netns, path: str, name: str) -> None:
    """`status` finds everything as made, and `plan` of the same file has nothing to do."""
    st = netns.pipenet("status", name)
    assert st.returncode == 0, st.stdout + st.stderr
    plan = netns.pipenet("plan", path)
    assert plan.returncode == 0 and "nothing to do" in plan.stderr, plan.stdout + plan.stderr


def test_a_p2p_link_whose_other_container_goes_is_deleted_at_once_and_made_again(netns, tmp_path):
    before = snapshot.settled_world(netns)
    path = str(tmp_path / "re.pn")
    first = textwrap.dedent("""
        topology re
        container a
        container b
        container c
        p2p a:p0 10.76.0.1/30 -- c:p0 10.76.0.2/30
    """)
    second = textwrap.dedent("""
        topology re
        container a
        container b
        p2p a:p0 10.76.0.1/30 -- b:p0 10.76.0.2/30
    """)
    assert _up(netns, path, first).returncode == 0
    with open(path, "w") as f:
        f.write(second)
    plan = netns.pipenet("plan", path).stdout
    assert "ip -n re@a link del" in plan.replace("delete", "del"), plan  # the end in a, on its own step
    r = netns.pipenet("up", path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert netns.pipenet("exec", "a", "--", "ping", "-c1", "-W2", "10.76.0.2").returncode == 0
    _converged(netns, path, "re")
    r = _up(netns, path, first)  # and back: b's end goes, c is made again
    assert r.returncode == 0, r.stdout + r.stderr
    assert netns.pipenet("exec", "c", "--", "ping", "-c1", "-W2", "10.76.0.1").returncode == 0
    assert "p0" not in netns.pipenet("exec", "b", "--", "ip", "-o", "link").stdout
    _converged(netns, path, "re")
    assert netns.pipenet("down", "re").returncode == 0
    assert snapshot.settled_world(netns) == before


def test_a_node_gaining_ipv6_is_made_again_with_its_p2p_links(netns, tmp_path):
    """A node that gains (or loses) IPv6 gets a namespace made anew (with or without IPv6
    autoconfiguration); its link to a node that keeps its own namespace is made again too."""
    path = str(tmp_path / "pq.pn")
    v4 = textwrap.dedent("""
        topology pq
        container a
        container c
        container e
        p2p a:eth1 10.51.0.1/30 -- c:eth0 10.51.0.2/30
    """)
    v6 = v4 + "p2p a:eth2 fd00:9::1/64 -- e:eth0 fd00:9::2/64\n"
    for text in (v4, v6, v4):
        r = _up(netns, path, text)
        assert r.returncode == 0, r.stdout + r.stderr
        assert netns.pipenet("exec", "a", "--", "ping", "-c1", "-W2", "10.51.0.2").returncode == 0
        _converged(netns, path, "pq")
    assert netns.pipenet("down", "pq").returncode == 0


def test_a_sharers_processes_are_started_again_in_the_namespace_made_again(netns, tmp_path):
    """y shares x's namespace (`net container x`); when x's namespace is made again (its bridge gains
    IPv6), y's process is started again in it, in the same `up`."""
    path = str(tmp_path / "sq.pn")
    n = 100_000 + os.getpid() % 50_000 * 2  # (sleeps of their own: another run's must not be counted)
    v4 = textwrap.dedent(f"""
        topology sq
        bridge br {{ address 10.71.0.1/24 }}
        container x {{ net br; run "sleep {n}" }}
        container y {{ net container x; run "sleep {n + 1}" }}
    """)
    assert _up(netns, path, v4).returncode == 0
    r = _up(netns, path, v4.replace("address 10.71.0.1/24 }", "address 10.71.0.1/24; address fd00:71::1/64 }"))
    assert r.returncode == 0, r.stdout + r.stderr
    _converged(netns, path, "sq")
    ns_x = netns.out(["stat", "-L", "-c", "%i", "/run/netns/sq@x"]).strip()
    pids = netns.out(["pgrep", "-f", f"^sleep ({n}|{n + 1})$"]).split()
    assert len(pids) == 2
    assert {netns.out(["stat", "-L", "-c", "%i", f"/proc/{p}/ns/net"]).strip() for p in pids} == {ns_x}
    assert netns.pipenet("down", "sq").returncode == 0


def test_a_rolled_back_p2p_link_to_a_new_container_leaves_nothing_in_the_old_one(netns, tmp_path):
    """An `up` that adds c and a link from a to c, then fails (c's process dies at once), rolls back: the
    pair is deleted on its own step, so a has no p0 left once `up` returns (the end in a used to stay
    until the kernel freed c's namespace, after the run)."""
    before = snapshot.settled_world(netns)
    path = str(tmp_path / "rb.pn")
    assert _up(netns, path, "topology rb\ncontainer a\n").returncode == 0
    r = _up(netns, path, "topology rb\ncontainer a\ncontainer c { run \"sh -c 'exit 3'\" }\n"
                         "p2p a:p0 10.77.0.1/30 -- c:p0 10.77.0.2/30\n")
    assert r.returncode == 2 and "rolled back" in r.stderr, r.stderr
    assert "p0" not in netns.out(["ip", "-n", "rb@a", "-o", "link"])
    assert netns.pipenet("down", "rb").returncode == 0
    assert snapshot.settled_world(netns) == before
