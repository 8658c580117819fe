"""Live truth at scale: past `SPLIT_AT` recorded operations the live check is shared between two
processes (a forked child reads and checks about half of the namespaces), and the unchanged-file fast
path answers `up` and `plan` from it. Drift in either half must be seen exactly as on a small
topology: `status` names it, `plan` marks the repair, `up` makes it, and the fast path stays silent
until the system is back as recorded. On the recording kernel, the fast path's yes or no
(`live.all_live`) is checked against `status`'s drift, case by case.
"""

from __future__ import annotations

import json

import pytest

from pipenet.engine.live import SPLIT_AT

#: enough containers (five recorded operations each) for the check to be shared out
N = SPLIT_AT // 5 + 20


def topology() -> str:
    return ("topology scale\nbridge br0 { address 10.60.0.1/16 }\n"
            f"for i in 1..{N} {{\n    container c${{i}} {{ net br0 }}\n}}\n")


def address_of(netns, node: str) -> str:
    line = netns.out(["ip", "-n", f"scale@{node}", "-4", "-o", "addr", "show", "dev", "eth0"])
    return line.split()[3]


# what is done by hand to a container, the drift state `status` gives it, a word of its detail.
# The namespaces are read in name order, the first half here and the rest in the child: c1, c10,
# c100 ... in the first half, c95 ... c99 in the second.
CASES = {
    "address deleted": (("c1", "c99"), lambda n, node: ["ip", "-n", f"scale@{node}", "addr", "del",
                                                        address_of(n, node), "dev", "eth0"], "missing", "address"),
    "route deleted": (("c10", "c98"), lambda n, node: ["ip", "-n", f"scale@{node}", "route", "del", "default"],
                      "missing", "route default"),
    "interface deleted": (("c100", "c97"), lambda n, node: ["ip", "-n", f"scale@{node}", "link", "del", "eth0"],
                          "missing", "veth"),
    "mac changed": (("c101", "c96"), lambda n, node: ["ip", "-n", f"scale@{node}", "link", "set", "eth0",
                                                      "address", "02:00:00:00:00:99"], "changed",
                    "mac 02:00:00:00:00:99"),
    "namespace deleted": (("c102", "c95"), lambda n, node: ["ip", "netns", "del", f"scale@{node}"], "missing",
                          "namespace scale@"),
}


def about(item: dict) -> str:
    """The container a drift item is about (a bridge port's veth is the host's op, keyed by its
    container: link:NODE:eth0)."""
    return item["node"] if item["node"] != "host" else item["object"].split(":")[1]


def test_drift_in_both_halves_of_a_shared_check_is_seen_planned_and_repaired(netns, tmp_path):
    path = tmp_path / "scale.pn"
    path.write_text(topology())
    assert netns.pipenet("up", str(path)).returncode == 0
    st = json.loads(netns.pipenet("status", "scale", "--json").stdout)
    assert st["operations"] >= SPLIT_AT and st["drift"] == []
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr  # the fast path, shared check

    for node in ("c1", "c99"):  # drift in one half only: the fast path's answer from each half counts
        netns.run(["ip", "-n", f"scale@{node}", "route", "del", "default"])
        plan = netns.pipenet("plan", str(path))
        assert f"ip -n scale@{node} route add default via 10.60.0.1" in plan.stdout, plan.stdout
        up = netns.pipenet("up", str(path))
        assert up.returncode == 0 and "nothing to change" not in up.stderr, up.stderr
        assert "default via 10.60.0.1" in netns.out(["ip", "-n", f"scale@{node}", "route"])
        assert "nothing to change" in netns.pipenet("up", str(path)).stderr

    macs = {}
    for nodes, action, _state, _word in CASES.values():
        for node in nodes:
            macs[node] = netns.out(["ip", "-n", f"scale@{node}", "-o", "link", "show", "eth0"]).split(
                "link/ether ")[1].split()[0]
            netns.run(action(netns, node))

    r = netns.pipenet("status", "scale", "--json")
    assert r.returncode == 1, r.stdout
    items = json.loads(r.stdout)["drift"]
    for case, (nodes, _action, state, word) in CASES.items():
        for node in nodes:
            assert any(about(i) == node and i["state"] == state and word in i["detail"] for i in items), \
                (case, node, items)
    drifted = {node for nodes, *_ in CASES.values() for node in nodes}
    assert {about(i) for i in items} == drifted, items  # nothing else is called drift

    plan = netns.pipenet("plan", str(path))
    assert plan.returncode == 0, plan.stderr
    for node in drifted:
        assert f"scale@{node}" in plan.stdout, (node, plan.stdout)
    up = netns.pipenet("up", str(path))
    assert up.returncode == 0 and "nothing to change" not in up.stderr, up.stderr

    st = json.loads(netns.pipenet("status", "scale", "--json").stdout)
    assert st["drift"] == []
    for node in drifted:  # repaired as declared: the address, the route, the MAC it had
        assert netns.out(["ip", "-n", f"scale@{node}", "-o", "link", "show", "eth0"]).split(
            "link/ether ")[1].split()[0] == macs[node]
        assert "default via 10.60.0.1" in netns.out(["ip", "-n", f"scale@{node}", "route"])
        assert address_of(netns, node).startswith("10.60.")
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    assert netns.pipenet("down", "scale").returncode == 0


# ---- the same answer as `status`, on the recording kernel (fast: no root) --------------------------------
def _applied(tmp_path):
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    ops, _ns = compile_topology(load_text(topology(), "scale.pn"))
    k = RecordingKernel()
    plan = diff(ops, [])
    execute(plan, k, Journal(str(tmp_path / "journal")))
    return k, [op.to_json() for op in plan.final]


DRIFTS = {
    "nothing": lambda k: None,
    "an address in the first half": lambda k: k.addr_del("scale@c1", "eth0", *_addr(k, "scale@c1")),
    "an address in the second half": lambda k: k.addr_del("scale@c99", "eth0", *_addr(k, "scale@c99")),
    "a route in the second half": lambda k: k.route_del("scale@c98", None, "10.60.0.1", None, None),
    "an interface in the second half": lambda k: k.link_del("scale@c97", "eth0"),
    "a namespace in the second half": lambda k: k.netns_delete("scale@c96"),
    "the bridge": lambda k: k.link_del("", "br0"),
}


def _addr(k, ref: str) -> tuple[str, int]:
    (ifname, cidr), = [a for a in k.state["ns"][ref]["addrs"] if a[0] == "eth0"]
    ip, plen = cidr.split("/")
    return ip, int(plen)


@pytest.mark.parametrize("case", list(DRIFTS))
def test_the_fast_paths_yes_or_no_is_the_drift_of_status(tmp_path, case):
    """`live.all_live` (each half makes only its own operations, the child answers with one boolean) says
    yes exactly when `status` finds no drift, wherever the drift is."""
    from pipenet.engine.live import LiveView, all_live
    from pipenet.engine.records import recorded_ops
    from pipenet.engine.status import drift

    k, docs = _applied(tmp_path)
    assert len(docs) >= SPLIT_AT
    DRIFTS[case](k)
    found = drift(recorded_ops({"ops": docs}), LiveView(k))
    assert (found == []) == (case == "nothing"), found
    assert all_live(docs, LiveView(k)) is (found == [])


def test_entries_not_a_records_are_checked_with_the_host_s_and_refused_as_recorded_ops_refuses(tmp_path):
    """`live._partition` groups a namespace's entries by their scope; an entry with no known kind, an
    unhashable kind or a scope that is not names (a hand-edited record) goes with the host's, where
    `recorded_ops` refuses it, as it refuses it anywhere."""
    from pipenet.engine.live import LiveView, _partition, all_live
    from pipenet.engine.records import recorded_ops

    k, docs = _applied(tmp_path)
    host, homes, ports, anywhere = _partition(docs)
    assert sum(len(ds) for by in homes.values() for ds in by.values()) > 0 and ports and anywhere
    assert all(isinstance(scope, tuple) for by in (*homes.values(), *ports.values()) for scope in by)
    veth = next(d for d in docs if d["kind"] == "veth" and d["peer_ns"])
    odd = [{"kind": ["veth"]}, {"kind": "no such kind"}, {**veth, "peer_ns": 7}, "not an entry"]
    host2, homes2, ports2, _ = _partition(docs + odd)
    assert host2 == host + odd and homes2 == homes and ports2 == ports
    for bad in odd:
        with pytest.raises(ValueError) as refused:
            recorded_ops({"ops": docs + [bad]})
        with pytest.raises(ValueError) as e:
            all_live(docs + [bad], LiveView(k))
        assert str(e.value) == str(refused.value)
