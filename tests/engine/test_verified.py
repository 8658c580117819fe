"""The memo of the no-op's check (`engine.verified`): after a check that finds everything live as made,
the digest of each namespace's dumps as read then; the next check still reads every namespace, but does
not decode or check again the operations of one whose dumps did not change by a byte (`Op.vouched_by`).

What must hold: it never hides drift (anything that makes `status` see drift makes the check say no,
with the memo as without it), it is used only for the record and the code it was made for, a
namespace read twice in one command with two answers is not vouched for, and the host's ends of the
bridge ports are read every time (from the bridges' own dump once the memo holds them: one whose
fields are all as the last check read them is not checked again, `backends.hostlinks`). On the real kernel: a no-op `up` writes it, and drift in a
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
    return _kept(k, docs)[0]


def _kept(k, docs) -> tuple[dict, dict]:
    """The memo of a clean check, and the host's bridge ports it read (`LiveView.host_ports`)."""
    view = LiveView(k, {})
    assert all_live(docs, view)
    return view.settled(), view.host_ports()


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


def test_a_container_with_settings_is_not_decoded_to_see_that_it_exists(tmp_path):
    """A sysctl's check asks whether its namespace exists: with the memo, the digest answers that (the
    namespace was read), and a vouched-for namespace is still not decoded."""
    text = ("topology memo\nbridge br0 { address 10.61.0.1/16 }\nfor i in 1..3 {\n"
            "    container c${i} { net br0; forwarding on; sysctl net.ipv4.conf.all.rp_filter 0 }\n}\n")
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    ops, _ns = compile_topology(load_text(text, "memo.pn"))
    k = RecordingKernel()
    plan = diff(ops, [])
    execute(plan, k, Journal(str(tmp_path / "journal")))
    docs = [op.to_json() for op in plan.final]
    assert sum(d["kind"] == "sysctl" for d in docs) >= 3
    memo = _memo(k, docs)
    k.reads.clear()
    assert all_live(docs, LiveView(k, memo))
    assert not [r for r in k.reads if r[0] == "decoded"], k.reads


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
    "the host's end of a port, another MTU": lambda k: k.link_set("", _host_end(k, "memo@c93"), mtu=1400),
    "another interface under the name of a port's host end": lambda k: _replaced(k, "memo@c92"),
    "the host's end of a port deleted and made again without its mark": lambda k: _remade(k, "memo@c91"),
}


def _remade(k, ref: str) -> None:
    """The host's end of `ref`'s pair removed and made again, as it was but for its mark: the recording
    kernel, as the real one, gives it a new index."""
    name = _host_end(k, ref)
    old = dict(k.state["ns"][""]["links"].pop(name))
    old.pop("index")
    k._new("", name, **{**old, "alias": None})


def _replaced(k, ref: str) -> None:
    """The host's end of `ref`'s pair is another interface of the same name: another index, no mark."""
    link = k.state["ns"][""]["links"][_host_end(k, ref)]
    link["index"] += 100000
    link["alias"] = None


def _addr(k, ref: str) -> tuple[str, int]:
    (ifname, cidr), = [a for a in k.state["ns"][ref]["addrs"] if a[0] == "eth0"]
    ip, plen = cidr.split("/")
    return ip, int(plen)


def _host_end(k, ref: str) -> str:
    """The host's end of the pair whose other end is eth0 in `ref`."""
    return k.state["ns"][ref]["links"]["eth0"]["peer"][1]


@pytest.mark.parametrize("ports", [True, False], ids=["ports kept", "host read in full"])
@pytest.mark.parametrize("case", list(DRIFTS))
def test_the_memo_never_hides_drift(tmp_path, case, ports):
    """With the memo of a clean check, `all_live` says yes exactly when `status` finds no drift, whether
    the host's ports are read from the bridges' dump (`backends.hostlinks`) or the host's links in full."""
    from pipenet.engine.records import recorded_ops
    from pipenet.engine.status import drift

    k, docs = _applied(tmp_path)
    memo, kept = _kept(k, docs)
    assert len(kept) == N
    DRIFTS[case](k)
    found = drift(recorded_ops({"ops": docs}), LiveView(k))
    assert found, case
    assert all_live(docs, LiveView(k, memo, kept if ports else None)) is False


def test_with_the_ports_kept_the_host_is_not_read_in_full(tmp_path, monkeypatch):
    """The ports come from the bridges' dump, vouched for by name and index; only an interface that is
    none of those is read, by name, as it is asked for; and the ports kept carry over unchanged."""
    k, docs = _applied(tmp_path)
    memo, kept = _kept(k, docs)
    k.reads.clear()
    view = LiveView(k, memo, kept)
    made = _made(monkeypatch)
    assert all_live(docs, view)
    assert ("links", "") not in k.reads and ("host links in part", "") in k.reads
    assert not [r for r in k.reads if r[0] == "link"], k.reads  # (every port vouched for)
    assert view.host_ports() == kept
    assert not [m for m in made if m[0] == "veth"]  # (every port as kept: none checked again)
    k.link_set("", _host_end(k, "memo@c9"), mtu=1400)
    made.clear()
    assert all_live(docs, LiveView(k, memo, kept)) is False
    assert [m for m in made if m[0] == "veth"] == [("veth", "")]  # (that one only)
    k.link_set("", _host_end(k, "memo@c9"), mtu=1500)
    _replaced(k, "memo@c5")
    k.reads.clear()
    view = LiveView(k, memo, kept)
    assert all_live(docs, view) is False
    assert ("link", _host_end(k, "memo@c5")) in k.reads and ("links", "") not in k.reads


def test_what_the_ports_kept_trust(tmp_path):
    """The one change to a port's host end the no-op with its ports kept does not see, as
    `backends.hostlinks` says: its alias edited in place (the same interface, by its index). The full
    read, which `status`, `plan` of a changed file and `down` make, sees it."""
    k, docs = _applied(tmp_path)
    memo, kept = _kept(k, docs)
    k.link_set("", _host_end(k, "memo@c7"), alias="edited in place")
    assert all_live(docs, LiveView(k, memo, kept)) is True
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
    record = {"topology": "memo", "ops": [], "ns": {}, "generation": 3}
    state.save(record)
    record = state.load()
    verified.save(state, record, {}, {"memo@c1": "aa", "memo@c2": "bb"})

    def again() -> dict:
        fresh = StateDir("memo")
        return verified.load(fresh, fresh.load())

    assert again() == {"memo@c1": "aa", "memo@c2": "bb"}
    state.save(record)  # (written again: another time)
    assert again() == {}
    record = state.load()
    verified.save(state, record, {}, {"memo@c1": "aa"})
    assert again() == {"memo@c1": "aa"}
    # the same generation and time, another byte (edited by hand, or restored from a copy): not used
    path = tmp_path / "state" / "memo" / "record.json"
    text = path.read_text()
    path.write_text(text.replace('"ops": []', '"ops": [ ]'))
    assert json.loads(path.read_text())["written"] == record["written"] and again() == {}
    path.write_text(text)
    assert again() == {"memo@c1": "aa"}
    monkeypatch.setattr(inputs, "_CODE", ["another pipenet"])
    assert again() == {}
    monkeypatch.setattr(inputs, "_CODE", [])
    memo = tmp_path / "state" / "memo" / verified.NAME
    key = verified._key(state, record)
    for broken in (b"", b"{", b"[]", json.dumps({"version": verified.VERSION, "key": None, "namespaces": {}}).encode(),
                   json.dumps({"version": verified.VERSION, "key": key, "namespaces": []}).encode()):
        memo.write_bytes(broken)
        assert again() == {}
    memo.write_bytes(json.dumps({"version": verified.VERSION, "key": key, "namespaces": {"memo@c1": "aa", "": "bb",
                                                                         "memo@c3": 7}}).encode())
    assert again() == {"memo@c1": "aa"}  # (what is not a digest of a namespace: dropped)
    state.remove()
    assert not memo.exists()


def test_the_ports_are_kept_beside_the_digests_and_only_in_their_shape(tmp_path, monkeypatch):
    from pipenet.engine import verified
    from pipenet.engine.state import StateDir

    monkeypatch.setenv("PIPENET_STATE_DIR", str(tmp_path / "state"))
    state = StateDir("memo")
    state.save({"topology": "memo", "ops": [], "ns": {}, "generation": 1})
    record = state.load()
    ports = {"veth1": [7, "pipenet:memo:x", 3, "0a:58:0a:00:00:07", 1500, True, "br0", 2, False],
             "veth2": [8, None, 0, None, None, False, None, None, None]}
    verified.save(state, record, {}, {"memo@c1": "aa"}, {}, ports)
    fresh = StateDir("memo")
    assert verified.load_both(fresh, fresh.load()) == ({"memo@c1": "aa"}, ports)
    path = tmp_path / "state" / "memo" / verified.NAME
    stamp = path.stat().st_mtime_ns
    verified.save(state, record, {"memo@c1": "aa"}, {"memo@c1": "aa"}, ports, dict(ports))
    assert path.stat().st_mtime_ns == stamp  # (nothing new: not written again)
    kept = json.loads(path.read_text())
    one = ports["veth1"]
    kept["ports"] = {**ports, "bad1": [0, *one[1:]], "bad2": [7, 5, *one[2:]], "bad3": one[:3], "": one,
                     "bad4": [True, *one[1:]], "bad5": "x", "bad6": [*one[:5], 1, *one[6:]],
                     "bad7": [*one[:8], "on"], "bad8": [*one, 0]}
    path.write_text(json.dumps(kept))
    assert verified.load_both(fresh, fresh.load())[1] == ports
    kept["ports"] = []
    path.write_text(json.dumps(kept))
    assert verified.load_both(fresh, fresh.load()) == ({"memo@c1": "aa"}, {})


class _Forking:
    """A recording kernel whose `split_work` forks, as the real one does: the child's share of the
    queue is its own, and its digests come back pickled."""

    @staticmethod
    def make(k, fail: bool = False):
        import os
        import pickle

        from pipenet.backends.recording import RecordingKernel

        class Forking(RecordingKernel):
            def split_work(self, in_child, here):
                rfd, wfd = os.pipe()
                pid = os.fork()
                if pid == 0:
                    code = 0
                    try:
                        os.close(rfd)
                        if fail:
                            raise SystemExit(3)
                        data = memoryview(pickle.dumps(in_child()))
                        while data:
                            data = data[os.write(wfd, data):]
                    except BaseException:  # noqa: BLE001
                        code = 1
                    os._exit(code)
                os.close(wfd)
                try:
                    mine, chunks = here(), []
                    while True:
                        chunk = os.read(rfd, 1 << 20)
                        if not chunk:
                            break
                        chunks.append(chunk)
                finally:
                    os.close(rfd)
                    _, status = os.waitpid(pid, 0)
                theirs = pickle.loads(b"".join(chunks)) if status == 0 else in_child()
                return mine, theirs

        out = Forking()
        out.__dict__.update(k.__dict__)
        return out


@pytest.mark.parametrize("fail", [False, True], ids=["child", "child fails"])
@pytest.mark.parametrize("case", ["nothing", *DRIFTS])
def test_two_real_processes_share_the_check_and_never_hide_drift(tmp_path, case, fail):
    """The child takes its own share of the queue (and, when it dies, this process does what it did not
    do itself); its digests come back and are merged; drift in any share is seen."""
    k, docs = _applied(tmp_path)
    memo, kept = _kept(k, docs)
    k = _Forking.make(k, fail)
    if case != "nothing":
        DRIFTS[case](k)
    view = LiveView(k, memo, kept)
    assert all_live(docs, view) is (case == "nothing")
    if case == "nothing":
        assert view.settled() == memo and view.host_ports() == kept


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
    assert len(kept["namespaces"]) == N and len(kept["ports"]) == N
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


def test_a_childs_answer_is_taken_when_whole_and_the_child_leaves_no_zombie():
    """`Kernel.split_work` takes the child's answer by its length (not at the pipe's end, which comes only
    once the child has exited), waits for its exit in a thread, and does the child's share itself when
    the child fails."""
    import os
    import time

    from pipenet.backends.kernel import Kernel

    k = Kernel()
    try:
        def child():
            return {"pid": os.getpid(), "big": "x" * 300_000}  # (more than a pipe holds at once)

        mine, theirs = k.split_work(child, lambda: "here")
        assert mine == "here" and theirs["pid"] != os.getpid() and len(theirs["big"]) == 300_000
        for _ in range(200):  # (reaped by the thread: no zombie left behind)
            if not os.path.exists(f"/proc/{theirs['pid']}"):
                break
            time.sleep(0.01)
        assert not os.path.exists(f"/proc/{theirs['pid']}")

        def failing():
            if os.getpid() != parent:
                raise RuntimeError("the child fails")
            return "done here"

        parent = os.getpid()
        assert k.split_work(failing, lambda: "here") == ("here", "done here")
    finally:
        k.close()


def test_a_lock_is_free_once_released_even_while_a_forked_child_still_holds_its_descriptor(tmp_path, monkeypatch):
    """The no-op's child may still be exiting (holding copies of every descriptor, the topology's lock
    among them) when the parent is done: the lock is released, not only closed."""
    import fcntl
    import os
    import time

    from pipenet.engine.state import StateDir

    monkeypatch.setenv("PIPENET_STATE_DIR", str(tmp_path / "state"))
    state = StateDir("memo")
    with state.lock():
        pid = os.fork()
        if pid == 0:
            time.sleep(1.0)
            os._exit(0)
    try:
        fd = os.open(os.path.join(state.path, "lock"), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # (raises while the child's copy holds it)
        finally:
            os.close(fd)
    finally:
        os.waitpid(pid, 0)


def test_the_worker_thread_starts_once_and_a_missing_child_is_no_error():
    import threading

    from pipenet.backends.kernel import _reap
    from pipenet.backends.netns import _Worker

    before = set(threading.enumerate())
    w = _Worker()
    assert w.t is None  # (no job yet: no thread)
    go = threading.Barrier(4)
    results = []

    def call():
        go.wait()
        results.append(w.run(lambda: threading.current_thread().name))

    callers = [threading.Thread(target=call) for _ in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert results == ["pipenet-netns"] * 4
    assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == ["pipenet-netns"]
    w.stop()
    w.t.join(5)
    assert not w.t.is_alive()
    _reap(2 ** 22 + 12345)  # (not a child of this process: nothing to wait for, no error)


def test_an_etc_directory_must_be_one_level_under_etc_netns():
    from pipenet.backends.files import _safe

    for bad in ("/etc/netns/..", "/etc/netns/.", "/etc/netns/", "/etc/netns/a/b", "/etc/x"):
        with pytest.raises(ValueError):
            _safe(bad, "hosts")
    assert _safe("/etc/netns/memo@c1", "hosts") == "/etc/netns/memo@c1/hosts"
