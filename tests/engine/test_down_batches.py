"""`down` removes a topology's host interfaces, its bridges with them, in one request, and its namespaces in
one batch, on the real kernel; never an interface pipenet did not make, even one put into the topology's
netdev group; and a namespace batch that fails partway is rolled back like any failed step.

Why: each bridge removed on its own after its ports waited about 40 ms for the kernel, and each namespace's
unmount waits for an RCU grace period that unmounts made together share (docs/performance.md).
"""

from __future__ import annotations

import errno
import json
import sys
import textwrap

import pytest

from pipenet.errors import ApplyFailed
from pipenet.plan.names import port_group
from tests import snapshot

TOPO = """
    topology db
    bridge br0 { address 10.91.0.1/24 }
    bridge br1 { address 10.92.0.1/24 }
    container a { net br0 }
    container b { net br0 }
    container c { net br1 }
    container d { interface eth0 on br0; interface eth1 on br1 }
    for i in 1..6 {
        container f${i} { net br1 }
    }
    host { sysctl net.ipv4.conf.br0.proxy_arp 1 }
"""

# `pipenet down db` in this process, with every netlink request's description written to stdout as JSON
SPY = """
import json, sys
from pipenet.backends import netlink
seen = []
real = netlink.Netlink.request
def request(self, mtype, flags, body, what, *a, **kw):
    seen.append(what)
    return real(self, mtype, flags, body, what, *a, **kw)
netlink.Netlink.request = request
real_raw = netlink.Netlink.dump_raw
def dump_raw(self, mtype, body, what, *a, **kw):
    seen.append(what)
    return real_raw(self, mtype, body, what, *a, **kw)
netlink.Netlink.dump_raw = dump_raw
sys.argv = ["pipenet", "down", "db"]
code = 0
try:
    from pipenet.cli.dispatch import main  # (not `run`, which ends the process when the command is done)
    main()
except SystemExit as e:
    code = e.code
print(json.dumps({"requests": seen, "code": code}))
"""


def _up(netns, tmp_path) -> None:
    path = tmp_path / "db.pn"
    path.write_text(textwrap.dedent(TOPO))
    r = netns.pipenet("up", str(path))
    assert r.returncode == 0, r.stderr


def _down_spied(netns) -> list[str]:
    r = netns.run([sys.executable, "-c", SPY], check=False)
    assert r.stdout.strip(), r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["code"] in (0, None), r.stderr
    return out["requests"]


def _links(netns) -> set[str]:
    return {line.split(":")[1].strip().split("@")[0] for line in netns.out(["ip", "-o", "link", "show"]).splitlines()}


def test_down_removes_the_bridges_and_their_ports_in_one_request_and_leaves_the_world_as_before(netns, tmp_path):
    """Ten namespaces (their unmounts shared by threads), a host sysctl on one of the topology's own
    bridges (put back before the bridge goes), and everything as before after."""
    before = snapshot.settled_world(netns)
    proxy_arp = "/proc/sys/net/ipv4/conf/br0/proxy_arp"
    _up(netns, tmp_path)
    assert {"br0", "br1"} <= _links(netns)
    assert netns.out(["cat", proxy_arp]).strip() == "1"
    requests = _down_spied(netns)
    group = port_group("db")
    # each namespace read for its mark alone (its loopback), the host's links once (checked, and that
    # read, a moment old, used for the ports' request), no namespace's dump of its interfaces
    assert requests.count("loopback") == 10 and requests.count("list links") == 1, requests
    assert requests.count(f"delete interface group {group}") == 1
    assert not [w for w in requests if w.startswith("delete ") and "group" not in w], requests  # none one by one
    assert sorted(w for w in requests if f" group {group}" in w and w.startswith("set ")) == [
        f"set br0 group {group} mcast_snooping 0", f"set br1 group {group} mcast_snooping 0"]
    assert not {"br0", "br1"} & _links(netns)
    assert snapshot.diff(before, snapshot.settled_world(netns)) == []  # namespaces, /etc/netns and all


def test_an_interface_put_into_the_topology_s_group_by_someone_else_survives_down(netns, tmp_path):
    _up(netns, tmp_path)
    group = port_group("db")
    netns.run(["ip", "link", "add", "name", "fx", "type", "veth", "peer", "name", "fy"])
    netns.run(["ip", "link", "set", "dev", "fx", "group", str(group)])
    requests = _down_spied(netns)
    assert f"delete interface group {group}" not in requests  # the group is not all pipenet's: one by one
    left = _links(netns)
    assert {"fx", "fy"} <= left
    assert not {"br0", "br1"} & left and not [n for n in left if n.startswith("pn")]
    assert f"group {group}" in netns.out(["ip", "-d", "link", "show", "dev", "fx"])


FAILING_GROUP_DEL = SPY.replace("netlink.Netlink.request = request", """netlink.Netlink.request = request
def group_del(self, group):
    raise netlink.NetlinkError(5, f"delete interface group {group}", "refused for the test")
netlink.Netlink.group_del = group_del""")


# the ports' request refused once the namespaces are gone from /run/netns (removed while it runs)
REFUSED_AFTER_NAMESPACES = SPY.replace("netlink.Netlink.request = request", """netlink.Netlink.request = request
import os, time
def group_del(self, group):
    deadline = time.monotonic() + 10
    while any(n.startswith("db@") for n in os.listdir("/run/netns")) and time.monotonic() < deadline:
        time.sleep(0.01)
    seen.append("namespaces gone meanwhile: " + ",".join(sorted(os.listdir("/run/netns"))))
    raise netlink.NetlinkError(5, f"delete interface group {group}", "refused for the test")
netlink.Netlink.group_del = group_del""")


def test_the_namespaces_go_while_the_ports_request_runs_and_a_refusal_mounts_the_same_ones_back(netns, tmp_path):
    """`down` unmounts the namespaces while the kernel removes the host interfaces (an unmount needs no
    RTNL lock); this run keeps a descriptor on each, so when the request is refused, the rollback mounts
    back the very namespaces (the same inodes, a setting made by hand inside one still there), not new
    ones remade from the record; the world is as it was after `up`, and a later `down` removes it."""
    before = snapshot.settled_world(netns)
    _up(netns, tmp_path)
    netns.run(["ip", "netns", "exec", "db@a", "sysctl", "-q", "-w", "net.ipv4.ip_default_ttl=33"])
    names = sorted(n for n in netns.out(["ls", "/run/netns"]).split() if n.startswith("db@"))  # (and the world's own)
    assert len(names) == 10

    def inodes() -> dict:
        return dict(zip(names, netns.out(["stat", "-L", "-c", "%i", *(f"/run/netns/{n}" for n in names)]).split()))

    was, up_world = inodes(), snapshot.settled_world(netns)
    r = netns.run([sys.executable, "-c", REFUSED_AFTER_NAMESPACES], check=False)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["code"] not in (0, None) and "refused for the test" in r.stderr and "rolled back" in r.stderr, r.stderr
    left = [w for w in out["requests"] if w.startswith("namespaces gone meanwhile: ")]
    assert len(left) == 1 and "db@" not in left[0], out["requests"]  # (none of the topology's left while it ran)
    assert inodes() == was
    assert netns.out(["ip", "netns", "exec", "db@a", "sysctl", "-n", "net.ipv4.ip_default_ttl"]).strip() == "33"
    assert snapshot.diff(up_world, snapshot.settled_world(netns)) == []
    assert netns.pipenet("status", "db").returncode == 0
    assert netns.pipenet("down", "db").returncode == 0
    assert snapshot.diff(before, snapshot.settled_world(netns)) == []


def test_a_refused_group_request_leaves_each_bridge_with_its_group_and_multicast_snooping(netns, tmp_path):
    """The topology's bridges join its ports' group with their multicast snooping off (each port's
    release would otherwise re-arm the snooping timers of every other port); when the request that
    removes them is refused, each bridge is given back its own group and its snooping, as it was (br1's
    snooping turned off by hand beforehand stays off), and a later `down` removes everything."""
    before = snapshot.settled_world(netns)
    _up(netns, tmp_path)
    netns.run(["ip", "link", "set", "dev", "br1", "type", "bridge", "mcast_snooping", "0"])
    shown = {b: netns.out(["ip", "-d", "link", "show", "dev", b]) for b in ("br0", "br1")}
    assert "mcast_snooping 1" in shown["br0"] and "mcast_snooping 0" in shown["br1"]
    r = netns.run([sys.executable, "-c", FAILING_GROUP_DEL], check=False)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["code"] not in (0, None) and "refused for the test" in r.stderr, r.stderr
    group = port_group("db")
    assert f"set br0 group {group} mcast_snooping 0" in out["requests"], out["requests"]
    assert f"set br1 group {group}" in out["requests"], out["requests"]  # (its snooping was off already)
    assert "set br0 group 0 mcast_snooping 1" in out["requests"], out["requests"]
    for b in ("br0", "br1"):
        now = netns.out(["ip", "-d", "link", "show", "dev", b])
        assert "group default" in now, now
        want = "mcast_snooping 1" if b == "br0" else "mcast_snooping 0"
        assert want in now, now
    assert netns.pipenet("status", "db").returncode == 0
    assert netns.pipenet("down", "db").returncode == 0
    assert snapshot.diff(before, snapshot.settled_world(netns)) == []


def test_a_namespace_batch_that_fails_partway_is_made_again_and_the_message_names_the_step(tmp_path, monkeypatch):
    """On the recording kernel: the third namespace of the batch cannot be removed; those removed before
    it are made again by the rollback, and the record still lists everything."""
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    ops, _ns = compile_topology(load_text(textwrap.dedent(TOPO), "db.pn"))
    k = RecordingKernel()
    up = diff(ops, [])
    execute(up, k, Journal(str(tmp_path / "j1")))
    made = _contents(k)
    removal = diff([], up.final)
    kinds = [s.op.kind for s in removal.steps]
    first_ns = kinds.index("netns")
    assert kinds[first_ns:] == ["netns"] * 10  # one batch, after the interfaces
    real = k.netns_delete
    calls = []

    def failing(name, mark=None):
        calls.append(name)
        if len(calls) == 3:
            raise OSError(16, "Device or resource busy")
        return real(name, mark)

    monkeypatch.setattr(k, "netns_delete", failing)
    with pytest.raises(ApplyFailed) as e:
        execute(removal, k, Journal(str(tmp_path / "j2")))
    assert f"step {first_ns + 3} of {len(removal.steps)} failed" in str(e.value)
    assert "rolled back" in str(e.value)
    assert ("netns_delete_many", 10) in k.batches
    # the two removed before the failure are back, with their addresses and routes (made again after the
    # interfaces they sit on: those were removed before the namespaces)
    assert _contents(k) == made


def _contents(k) -> dict:
    """Each namespace of a recording kernel: its links (name, kind, mark), addresses and routes."""
    return {ref: (sorted((n, link.get("kind"), link.get("alias")) for n, link in ns["links"].items()),
                  sorted(ns["addrs"]), sorted(ns["routes"], key=repr))
            for ref, ns in k.state["ns"].items()}


TOPO_FULL = TOPO + """
    container e { net br0; run "sleep 1000" }
"""


def _record(tmp_path):
    """A recording kernel with TOPO_FULL made, and the `down` plan of it as `down` orders it."""
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal
    from pipenet.engine.session import host_ends_first
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    ops, _ns = compile_topology(load_text(textwrap.dedent(TOPO_FULL), "db.pn"))
    k = RecordingKernel()
    up = diff(ops, [])
    execute(up, k, Journal(str(tmp_path / "j1")))
    removal = diff([], up.final)
    removal.steps = host_ends_first(removal.steps)
    return k, removal


def _everything(k) -> tuple:
    return _contents(k), {d: dict(f) for d, f in k.state.get("etc", {}).items()}, \
        {ref: dict(ns.get("sysctls", {})) for ref, ns in k.state["ns"].items()}


def test_down_puts_host_settings_back_then_removes_the_host_interfaces_files_firewall_and_namespaces(tmp_path):
    k, removal = _record(tmp_path)
    kinds = [s.op.kind for s in removal.steps]
    squeezed = [kind for n, kind in enumerate(kinds) if n == 0 or kinds[n - 1] != kind]
    assert squeezed == ["process", "host-setting", "veth", "bridge", "etc", "firewall", "netns"], squeezed
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal

    execute(removal, k, Journal(str(tmp_path / "j2")))
    assert set(k.state["ns"]) == {""} and not any(k.state.get("etc", {}).values())
    assert not [n for n in k.state["ns"][""]["links"] if n != "lo"]


@pytest.mark.parametrize("fail", ["the host interfaces' request", "a file removal while it runs"])
def test_a_failure_while_the_host_interfaces_go_in_a_thread_rolls_everything_back(tmp_path, monkeypatch, fail):
    """The host interfaces' request runs in a thread while files and firewall rules go: when it fails (after
    the others went on), or when one of those fails while it runs, everything done is made again, the
    thread's part included."""
    import threading
    import time

    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal

    k, removal = _record(tmp_path)
    before = _everything(k)
    where: dict[str, str] = {}
    real_del, real_etc = k.link_del_many, k.etc_restore

    def link_del_many(*a, **kw):
        where["links"] = threading.current_thread().name
        time.sleep(0.3)  # (the kernel at work: the files go meanwhile)
        if fail.startswith("the host"):
            raise OSError(5, "Input/output error")
        return real_del(*a, **kw)

    def etc_restore(directory, *a, **kw):
        where.setdefault("etc", threading.current_thread().name)
        if fail.startswith("a file") and directory.endswith("db@c"):
            raise OSError(13, "Permission denied")
        return real_etc(directory, *a, **kw)

    monkeypatch.setattr(k, "link_del_many", link_del_many)
    monkeypatch.setattr(k, "etc_restore", etc_restore)
    t0 = time.monotonic()
    with pytest.raises(ApplyFailed) as e:
        execute(removal, k, Journal(str(tmp_path / "j2")))
    assert "rolled back" in str(e.value)
    assert where["links"] != threading.main_thread().name and where["etc"] == threading.main_thread().name
    assert ("Input/output error" if fail.startswith("the host") else "Permission denied") in str(e.value)
    assert time.monotonic() - t0 >= 0.3
    assert _everything(k) == before


def test_the_progress_is_told_while_the_executor_waits_for_the_host_interfaces_request(tmp_path, monkeypatch):
    """`kernel_at_work()`: the executor has nothing left to do but wait for the kernel's request (the CLI
    makes its summary's imports then); called once, while that request is still under way (the request
    here waits for that call), and never for a run without such a request."""
    import threading

    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal

    k, removal = _record(tmp_path)
    real_del = k.link_del_many
    told, finished = threading.Event(), threading.Event()

    def link_del_many(*a, **kw):
        told.wait(5)  # (the kernel at work until the executor says it waits for it)
        real_del(*a, **kw)
        finished.set()

    class Progress:
        def __init__(self):
            self.calls, self.steps = [], 0

        def kernel_at_work(self):
            self.calls.append(not finished.is_set())  # (the request still under way)
            told.set()

        def __call__(self, done, total, step):
            self.steps += 1

    monkeypatch.setattr(k, "link_del_many", link_del_many)
    seen = Progress()
    execute(removal, k, Journal(str(tmp_path / "j2")), progress=seen)
    assert seen.calls == [True] and seen.steps > 0 and finished.is_set()
    from pipenet.backends.recording import RecordingKernel
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    again = Progress()
    execute(diff(compile_topology(load_text(textwrap.dedent(TOPO), "db.pn"))[0], []), RecordingKernel(),
            Journal(str(tmp_path / "j3")), progress=again)
    assert again.calls == [] and again.steps > 0


def test_ctrl_c_while_the_host_interfaces_go_in_a_thread_waits_for_the_kernel_s_work(tmp_path, monkeypatch):
    """An interruption during a step made alongside the thread's request is raised only once that request
    is over (the kernel's work under way is never abandoned; the journal then says what was started)."""
    import time

    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal

    k, removal = _record(tmp_path)
    finished = []
    real_del = k.link_del_many

    def link_del_many(*a, **kw):
        time.sleep(0.3)
        real_del(*a, **kw)
        finished.append(time.monotonic())

    def etc_restore(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(k, "link_del_many", link_del_many)
    monkeypatch.setattr(k, "etc_restore", etc_restore)
    with pytest.raises(KeyboardInterrupt):
        execute(removal, k, Journal(str(tmp_path / "j2")))
    assert finished and finished[0] <= time.monotonic()
    assert not [n for n in k.state["ns"][""]["links"] if n.startswith("pn")]  # the ports did go


# in the world: remove two of the topology's namespaces, put a plain file where one of them was, then
# ask for both back (the kernel backend, as a rollback would)
RESTORE = """
import json, os
from pipenet.backends.kernel import Kernel
k = Kernel()
before = {n: os.stat("/run/netns/" + n).st_ino for n in ("db@a", "db@b")}
k.netns_delete_many([("db@a", None), ("db@b", None)])
gone = [os.path.exists("/run/netns/" + n) for n in ("db@a", "db@b")]
open("/run/netns/db@b", "w").write("someone else's")
back = {}
for n in ("db@a", "db@b", "db@c"):
    try:
        back[n] = k.netns_restore(n)
    except OSError as e:
        back[n] = e.errno
print(json.dumps({"before": before, "gone": gone, "back": back,
                  "a": os.stat("/run/netns/db@a").st_ino, "b": open("/run/netns/db@b").read()}))
k.close()
"""


def test_a_removed_namespace_is_mounted_back_only_where_its_name_is_still_free(netns, tmp_path):
    """`netns_restore` mounts back the namespace this run removed (the same inode, its interfaces inside);
    a name someone took meanwhile is left exactly as it is and refused loudly (EBUSY: a rollback must not
    make a namespace of its own there), and one this run never removed is not restored."""
    _up(netns, tmp_path)
    r = netns.run([sys.executable, "-c", RESTORE])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["gone"] == [False, False]
    assert out["back"] == {"db@a": True, "db@b": errno.EBUSY, "db@c": False}
    assert out["a"] == out["before"]["db@a"] and out["b"] == "someone else's"
    assert "eth0" in netns.out(["ip", "-n", "db@a", "-o", "link", "show"])
    netns.run(["rm", "/run/netns/db@b"])
    assert netns.pipenet("down", "db").returncode == 0  # (db@b is gone: the rest goes as usual)


def test_the_recording_kernel_mounts_a_removed_namespace_back_with_its_pairs(tmp_path):
    k, _removal = _record(tmp_path)
    before = _everything(k)
    inode = k.state["ns"]["db@a"]["inode"]
    assert k.netns_delete("db@a") and "db@a" not in k.state["ns"]
    assert not k.netns_restore("db@a", inode + 1000)  # (not the one removed there)
    assert k.netns_restore("db@a", inode) and not k.netns_restore("db@a") and not k.netns_restore("db@zz")
    assert _everything(k) == before


QUIET = """
    topology q
    bridge br0 { address 10.81.0.1/24 }
    bridge lan6 { address fd00:81::1/64 }
    container a { net br0 }
    container z { net lan6 }
"""
LOUD = """
    topology q
    bridge br0 { address 10.81.0.1/24 }
    bridge lan6 { address fd00:81::1/64 }
    container a { interface eth0 on br0; interface eth1 on lan6 }
    container z { net lan6 }
    p2p a:eth2 10.83.0.1/30 -- z:eth2 10.83.0.2/30
"""


def test_a_rolled_back_up_that_replaced_a_namespace_mounts_back_the_one_it_removed(tmp_path, monkeypatch):
    """An edit that makes container a's namespace another one (it gains IPv6, so it is no longer quiet):
    `up` removes the old namespace and makes a new one under the same name; when a later step fails, the
    rollback undoes the new one and mounts back the old one (by its inode), not the new one it just undid
    with what this run put inside it."""
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal
    from pipenet.lang import load_text
    from pipenet.plan.compile import compile_topology
    from pipenet.plan.diff import diff

    k = RecordingKernel()
    first = diff(compile_topology(load_text(textwrap.dedent(QUIET), "q.pn"))[0], [])
    execute(first, k, Journal(str(tmp_path / "j1")))
    before = _everything(k)
    inode = k.state["ns"]["q@a"]["inode"]
    edit = diff(compile_topology(load_text(textwrap.dedent(LOUD), "q.pn"))[0], first.final)
    assert [s.action for s in edit.steps if s.op.key == "netns:a"] == ["remove", "apply"]
    last = edit.steps[-1].op
    real = type(last).apply

    def apply(self, k):
        if self is last:
            raise OSError(5, "Input/output error")
        return real(self, k)

    monkeypatch.setattr(type(last), "apply", apply)
    with pytest.raises(ApplyFailed) as e:
        execute(edit, k, Journal(str(tmp_path / "j2")))
    assert "rolled back" in str(e.value)
    assert k.state["ns"]["q@a"]["inode"] == inode
    assert _everything(k) == before


def test_a_topology_of_bridges_alone_goes_down(netns, tmp_path):
    """Bridges without ports are removed in one batch too (it has no port to take the namespace from)."""
    path = tmp_path / "bo.pn"
    path.write_text("topology bo\nbridge br0 { address 10.93.0.1/24 }\nbridge br1 { address 10.94.0.1/24 }\n")
    r = netns.pipenet("up", str(path))
    assert r.returncode == 0, r.stderr
    r = netns.pipenet("down", "bo")
    assert r.returncode == 0, r.stderr
    assert not {"br0", "br1"} & _links(netns)


def test_a_host_interface_removal_that_stops_partway_makes_again_those_removed(tmp_path, monkeypatch):
    """One by one (the group holds someone else's interface), the third removal fails: the two removed
    before it are made again, with their namespaces' addresses."""
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal
    from pipenet.errors import PartlyDone

    k, removal = _record(tmp_path)
    before = _everything(k)

    def link_del_many(ns, names, group, aliases=None, join=()):
        for name in names[:2]:
            k._drop_link(ns, name)
        raise PartlyDone(names[:2], OSError(16, "Device or resource busy"))

    monkeypatch.setattr(k, "link_del_many", link_del_many)
    with pytest.raises(ApplyFailed) as e:
        execute(removal, k, Journal(str(tmp_path / "j2")))
    assert "Device or resource busy" in str(e.value) and "rolled back" in str(e.value)
    assert _everything(k) == before


def test_a_host_setting_that_cannot_be_put_back_stays_in_the_ledger_with_its_original_value(tmp_path):
    """Before, the ledger forgot the topology's hold before it wrote the original value back: a write that
    failed (the sysctl's interface gone) lost the original for good, and a second `down` succeeded without
    restoring anything."""
    from pipenet.backends.ledger import Ledger

    values = {"net.ipv4.conf.br0.proxy_arp": "0"}
    broken = []

    def set_(name, value):
        if broken:
            raise OSError(2, "No such file or directory")
        values[name] = value

    ledger = Ledger(str(tmp_path), values.get, set_)
    ledger.acquire("db", "net.ipv4.conf.br0.proxy_arp", "1")
    assert values["net.ipv4.conf.br0.proxy_arp"] == "1"
    broken.append(True)
    with pytest.raises(OSError):
        ledger.release("db", "net.ipv4.conf.br0.proxy_arp")
    assert ledger.load()["net.ipv4.conf.br0.proxy_arp"] == {"original": "0", "users": {"db": "1"}}
    broken.clear()
    ledger.release("db", "net.ipv4.conf.br0.proxy_arp")
    assert values["net.ipv4.conf.br0.proxy_arp"] == "0" and ledger.load() == {}


def test_a_host_read_older_than_read_fresh_is_read_again_for_the_ports_request(netns, tmp_path):
    """What the interfaces' request removes was read at most READ_FRESH before its turn: an older read
    is made again (forced here with READ_FRESH below zero)."""
    _up(netns, tmp_path)
    spy = SPY.replace("sys.argv = ", "import pipenet.backends.kernel as K\nK.READ_FRESH = -1\nsys.argv = ")
    r = netns.run([sys.executable, "-c", spy], check=False)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["code"] in (0, None), r.stderr
    assert out["requests"].count("list links") == 2, out["requests"]  # (checked, then read again)
    assert not {"br0", "br1"} & _links(netns)


REUSE = """
import json, subprocess, sys, time
import pipenet.backends.kernel as K
from pipenet.backends import netlink
from pipenet.api import kernel
reads = []
real = netlink.Netlink.link_marks
def link_marks(self):
    reads.append(1)
    return real(self)
netlink.Netlink.link_marks = link_marks
out = {}
for case in ("fresh", "voided", "old", "not all ours"):
    subprocess.run(["ip", "link", "add", "name", "gx0", "group", "4242", "type", "veth", "peer", "name", "gy0"], check=True)
    subprocess.run(["ip", "link", "set", "dev", "gx0", "alias", "m0"], check=True)
    if case == "not all ours":  # (someone else's interface in the group: one by one, as read just before)
        subprocess.run(["ip", "link", "set", "dev", "gy0", "group", "4242"], check=True)
    reads.clear()
    with kernel() as k:
        k.read_links("")
        if case == "voided":
            k.link_set("", "gy0", up=True)  # (a request in the host: the read no longer counts)
        if case == "old":
            time.sleep(K.READ_FRESH + 0.05)
        k.link_del_many("", ["gx0"], 4242, ["m0"])
    gone = "gx0" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    out[case] = [len(reads), gone]
    subprocess.run(["ip", "link", "del", "dev", "gy0"], capture_output=True)
print(json.dumps(out))
"""


def test_the_ports_request_uses_the_check_s_read_of_the_host_only_while_it_is_fresh_and_untouched(netns):
    """`link_del_many` in the host compares the marks and groups of this process's read for its checks
    when it is at most READ_FRESH old and no interface request went to the host since; when the group
    is not all pipenet's it removes one by one, as a read made just before shows them."""
    r = netns.run([sys.executable, "-c", REUSE], check=False)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"fresh": [0, True], "voided": [1, True], "old": [1, True], "not all ours": [1, True]}, out
