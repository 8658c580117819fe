"""The memo of the no-op's check (`engine.verified`): after a check that finds everything live as made,
the digest of each namespace's dumps as read then; the next check still reads every namespace, but does
not decode or check again the operations of one whose dumps did not change by a byte (`Op.vouched_by`).

What must hold: it never hides drift (anything that makes `status` see drift makes the check say no,
with the memo as without it), it is used only for the record and the code it was made for, a
namespace read twice in one command with two answers is not vouched for, and the host's ends of the
bridge ports are checked every time. On the real kernel: a no-op `up` writes it, and drift in a
container or on a host end is still seen, planned and repaired.
"""

from __future__ import annotations

import json

import pytest

from pipenet.engine.live import SPLIT_AT, LiveView, all_live

N = SPLIT_AT // 5 + 20  # (five recorded operations a container: the check is shared by two processes)


def topology(n: int = N) -> str:
    return ("topology memo\nbridge br0 { address 10.61.0.1/16 }\n"
            f"for i in 1..{n} {{\n    container c${{i}} {{ net br0 }}\n}}\n")


def _applied(tmp_path, n: int = N):
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    ops, _ns = compile_topology(load_text(topology(n), "memo.pn"))
    k = RecordingKernel()
    plan = diff(ops, [])
    execute(plan, k, Journal(str(tmp_path / "journal")))
    return k, [op.to_json() for op in plan.final]


def _memo(k, docs) -> dict:
    view = LiveView(k, {})
    assert all_live(docs, view)
    return view.settled()


def _made(monkeypatch) -> list:
    """(kind, namespace) of each operation made from the record's JSON from now on."""
    from pipenet.plan.ops.base import Op

    made = []
    real = Op.from_json

    def counting(d):
        made.append((d.get("kind"), d.get("ns")))
        return real(d)

    monkeypatch.setattr(Op, "from_json", staticmethod(counting))
    return made


@pytest.mark.parametrize("n", [N, 3], ids=["shared by two processes", "one process"])
def test_a_second_check_decodes_and_checks_nothing_of_an_unchanged_namespace(tmp_path, monkeypatch, n):
    k, docs = _applied(tmp_path, n)
    memo = _memo(k, docs)
    assert len(memo) == n and all(ref.startswith("memo@c") for ref in memo)
    k.reads.clear()
    made = _made(monkeypatch)
    view = LiveView(k, memo)
    assert all_live(docs, view)
    read = {ref for what, ref in k.reads if what == "addresses and routes"}
    assert read >= set(memo)  # every namespace is still read from the kernel...
    assert not any(what == "decoded" for what, _ref in k.reads)  # ...and none is decoded
    # no container's own operation is made or checked; the host's, its ends of the ports and the files are
    assert not [m for m in made if m[1]], made
    kinds = [kind for kind, _ns in made]
    assert kinds.count("veth") == n and kinds.count("etc") == n and kinds.count("bridge") == 1
    assert view.settled() == memo


# drift made on the recording kernel after the memo was taken
DRIFTS = {
    "an address in a container": lambda k: k.addr_del("memo@c1", "eth0", *_addr(k, "memo@c1")),
    "an address in the child's half": lambda k: k.addr_del("memo@c99", "eth0", *_addr(k, "memo@c99")),
    "a route": lambda k: k.route_del("memo@c98", None, "10.61.0.1", None, None),
    "a container's end of its pair": lambda k: k.link_del("memo@c97", "eth0"),
    "a namespace": lambda k: k.netns_delete("memo@c96"),
    "the mark on a namespace": lambda k: k.link_set("memo@c95", "lo", alias="someone else"),
    "the host's end of a port, off its bridge": lambda k: k.link_set("", _host_end(k, "memo@c94"), nomaster=True),
    "the host's end of a port, down": lambda k: k.link_set("", _host_end(k, "memo@c1"), up=False),
    "the bridge": lambda k: k.link_del("", "br0"),
}


def _addr(k, ref: str) -> tuple[str, int]:
    (ifname, cidr), = [a for a in k.state["ns"][ref]["addrs"] if a[0] == "eth0"]
    ip, plen = cidr.split("/")
    return ip, int(plen)


def _host_end(k, ref: str) -> str:
    """The host's end of the pair whose other end is eth0 in `ref`."""
    return k.state["ns"][ref]["links"]["eth0"]["peer"][1]


@pytest.mark.parametrize("case", list(DRIFTS))
def test_the_memo_never_hides_drift(tmp_path, case):
    """With the memo of a clean check, `all_live` says yes exactly when `status` finds no drift."""
    from pipenet.engine.records import recorded_ops
    from pipenet.engine.status import drift

    k, docs = _applied(tmp_path)
    memo = _memo(k, docs)
    DRIFTS[case](k)
    found = drift(recorded_ops({"ops": docs}), LiveView(k))
    assert found, case
    assert all_live(docs, LiveView(k, memo)) is False


def test_a_namespace_read_twice_with_two_answers_is_not_vouched_for(tmp_path):
    k, docs = _applied(tmp_path, 3)
    view = LiveView(k, {})
    assert all_live(docs, view)
    ref = "memo@c2"
    got = view.settled()[ref]
    view.given({ref: "another digest"})  # (what another process of the command read there)
    assert ref not in view.settled() and "memo@c1" in view.settled()
    other = LiveView(k, {})
    other.given({ref: got})
    assert other.digest(ref) == got and ref in other.settled()


def test_the_memo_is_kept_for_its_record_and_code_only(tmp_path, monkeypatch):
    from pipenet.engine import inputs, verified
    from pipenet.engine.state import StateDir

    monkeypatch.setenv("PIPENET_STATE_DIR", str(tmp_path / "state"))
    state = StateDir("memo")
    state.ensure()
    record = {"generation": 3, "written": 1234.5}
    verified.save(state, record, {}, {"memo@c1": "aa", "memo@c2": "bb"})
    assert verified.load(state, record) == {"memo@c1": "aa", "memo@c2": "bb"}
    assert verified.load(state, dict(record, generation=4)) == {}  # (the record was written again)
    assert verified.load(state, dict(record, written=1234.6)) == {}
    assert verified.load(state, {"generation": 3}) == {}  # (a record without its time: no memo)
    monkeypatch.setattr(inputs, "_CODE", ["another pipenet"])
    assert verified.load(state, record) == {}
    monkeypatch.setattr(inputs, "_CODE", [])
    path = tmp_path / "state" / "memo" / verified.NAME
    for broken in (b"", b"{", b"[]", json.dumps({"version": 1, "key": None, "namespaces": {}}).encode(),
                   json.dumps({"version": 1, "key": verified._key(record), "namespaces": []}).encode()):
        path.write_bytes(broken)
        assert verified.load(state, record) == {}
    path.write_bytes(json.dumps({"version": 1, "key": verified._key(record),
                                 "namespaces": {"memo@c1": "aa", "": "bb", "memo@c3": 7}}).encode())
    assert verified.load(state, record) == {"memo@c1": "aa"}  # (what is not a digest of a namespace: dropped)
    state.remove()
    assert not path.exists()


def test_what_the_digest_leaves_out_is_never_what_decoding_reads():
    """A link's counters and per-family data are zeroed before its message is digested (they change by
    themselves); that is safe only while decoding reads none of them."""
    from pipenet.backends import netlink, nlmsg

    link_attrs = nlmsg._SHAPES[nlmsg.RTM_NEWLINK][2]
    assert netlink._LINK_NOISE and not set(link_attrs) & netlink._LINK_NOISE


def test_a_link_message_is_digested_without_its_noise():
    from pipenet.backends import netlink, nlmsg

    def message(stats: bytes, alias: str) -> bytearray:
        attrs = (nlmsg.string(nlmsg.IFLA_IFNAME, "eth0") + nlmsg.attr(23, stats)
                 + nlmsg.string(nlmsg.IFLA_IFALIAS, alias) + nlmsg.nested(nlmsg.IFLA_AF_SPEC, nlmsg.attr(10, stats)))
        return bytearray(nlmsg.frame(nlmsg.RTM_NEWLINK, 2, 1, nlmsg.ifinfo(index=2) + attrs))

    a, b, c = message(bytes(8), "x"), message(b"\x07" * 8, "x"), message(bytes(8), "y")
    for m in (a, b, c):
        netlink._quieten(m, 0, len(m))
    assert a == b  # (the counters differ: the same bytes once quietened)
    assert a != c  # (the alias, which decoding reads, is kept)


# ---- the real kernel ---------------------------------------------------------------------------------------
def _host_end_live(netns, node: str) -> str:
    """The host's end of the bridge port of `node`, by its peer's index."""
    peer = netns.out(["ip", "-n", f"memo@{node}", "-o", "link", "show", "eth0"]).split(":")[1].split("@if")[1]
    line = [x for x in netns.out(["ip", "-o", "link", "show"]).splitlines() if x.startswith(f"{peer}:")][0]
    return line.split(":")[1].strip().split("@")[0]


def test_a_no_op_keeps_the_memo_and_drift_is_still_seen_planned_and_repaired(netns, tmp_path):
    path = tmp_path / "memo.pn"
    path.write_text(topology())
    assert netns.pipenet("up", str(path)).returncode == 0
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr  # (checks all: writes the memo)
    kept = json.loads(netns.out(["cat", "/run/pipenet/memo/verified.json"]))
    assert len(kept["namespaces"]) == N
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr  # (vouched for)

    # traffic changes a container's counters, which no check reads: its digest stays (it is vouched for)
    netns.run(["ip", "netns", "exec", "memo@c3", "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.61.0.1"])
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    assert json.loads(netns.out(["cat", "/run/pipenet/memo/verified.json"]))["namespaces"] == kept["namespaces"]

    # a change that leaves every operation as made: still nothing to change, and a new digest there
    netns.run(["ip", "-n", "memo@c7", "addr", "add", "10.99.0.7/32", "dev", "lo"])
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    again = json.loads(netns.out(["cat", "/run/pipenet/memo/verified.json"]))["namespaces"]
    assert again["memo@c7"] != kept["namespaces"]["memo@c7"]
    assert {r: d for r, d in again.items() if r != "memo@c7"} == {
        r: d for r, d in kept["namespaces"].items() if r != "memo@c7"}

    # drift in a container alone (in each half of the shared check), then on the host's end of a port
    for node, action, repair in (
            ("c1", ["route", "del", "default"], "ip -n memo@c1 route add default via 10.61.0.1"),
            ("c99", ["link", "set", "eth0", "mtu", "1400"], "ip -n memo@c99 link set dev eth0 mtu 1500")):
        netns.run(["ip", "-n", f"memo@{node}", *action])
        plan = netns.pipenet("plan", str(path))
        assert plan.returncode == 0 and repair in plan.stdout, (plan.stdout, plan.stderr)
        up = netns.pipenet("up", str(path))
        assert up.returncode == 0 and "nothing to change" not in up.stderr, up.stderr
        assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    assert "default via 10.61.0.1" in netns.out(["ip", "-n", "memo@c1", "route"])
    assert "mtu 1500" in netns.out(["ip", "-n", "memo@c99", "-o", "link", "show", "eth0"])
    host_end = _host_end_live(netns, "c5")
    netns.run(["ip", "link", "set", "dev", host_end, "nomaster"])
    plan = netns.pipenet("plan", str(path))
    assert f"ip link set dev {host_end} master br0" in plan.stdout, plan.stdout
    up = netns.pipenet("up", str(path))
    assert up.returncode == 0 and "nothing to change" not in up.stderr, up.stderr
    assert "master br0" in netns.out(["ip", "-o", "link", "show", "dev", host_end])
    st = json.loads(netns.pipenet("status", "memo", "--json").stdout)
    assert st["drift"] == []
    assert "nothing to change" in netns.pipenet("up", str(path)).stderr
    # the record was written again: the memo of the one before is not used (a new one is kept)
    assert json.loads(netns.out(["cat", "/run/pipenet/memo/verified.json"]))["key"] != kept["key"]
    assert netns.pipenet("down", "memo").returncode == 0
    assert netns.run(["test", "-e", "/run/pipenet/memo/verified.json"], check=False).returncode != 0
