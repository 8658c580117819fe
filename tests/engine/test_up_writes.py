"""The writes of `up`, made with fewer system calls (issue 18) and still taken over after a crash.

The journal writes the `start` lines of steps made together (a plan's namespaces) in one durable write
before the first of them runs, and their `done` lines (with what each learned: its inode) in one after;
a plain `done` line is buffered and reaches the file with the next line. A node's /etc files in a
directory `up` has just made are made in place, mode 0644 whatever the umask, their stamps read from
their descriptors; one that cannot be written leaves neither the files nor the directory behind."""

from __future__ import annotations

import sys

from pipenet import faults
from pipenet.engine import journal as journals
from tests.engine.test_batched_namespaces import _plan


def test_the_journal_has_a_batch_started_before_it_runs_and_done_after_it(tmp_path):
    from pipenet.backends.recording import RecordingKernel
    from pipenet.engine.executor import execute
    from pipenet.engine.journal import Journal

    path = str(tmp_path / "journal")
    plan = _plan()
    batch = [n for n, s in enumerate(plan.steps) if s.op.kind == "netns"]
    assert len(batch) == 3 and batch == list(range(batch[0], batch[0] + 3))
    after = batch[-1] + 2  # the step after the batch (its fault points count from 1)
    seen = {}

    def hook(name, detail):
        if name == "step" and detail in (batch[0] + 1, after) and detail not in seen:
            with open(path) as f:
                seen[detail] = (journals.read(path), f.read())

    faults.install(hook)
    try:
        execute(plan, RecordingKernel(), Journal(path))
    finally:
        faults.install(None)
    # before the first namespace is made, all three are started (a crash there is taken over for each)
    first, _text = seen[batch[0] + 1]
    assert [first.steps.index(s) for s in first.started] == list(range(batch[-1] + 1))
    # before the next step: each namespace's done line with its inode, written durably together
    later, text = seen[after]
    lines = text.splitlines()
    inodes = {n: later.steps[n].op.saved["inode"] for n in batch}
    assert inodes == {n: plan.steps[n].op.saved["inode"] for n in batch}  # (the kernel's, read back)
    done = [lines.index(f'{{"done":{n},"saved":{{"inode":{inodes[n]}}}}}') for n in batch]
    assert done == list(range(done[0], done[0] + 3)), lines  # one after the other: one write
    assert lines[-1].startswith(f'{{"start":{after - 1},'), lines


def test_a_plain_done_line_goes_out_with_the_next_line(tmp_path):
    from pipenet.engine.journal import Journal

    plan = _plan()
    bridge = next(n for n, s in enumerate(plan.steps) if s.op.kind == "bridge")
    j = Journal(str(tmp_path / "journal"))
    j.begin(plan.steps, 0)
    j.start(bridge, plan.steps[bridge])
    j.done(bridge, plan.steps[bridge])
    assert (tmp_path / "journal").read_text().splitlines()[-1].startswith(f'{{"start":{bridge},')
    j.rollback()
    assert (tmp_path / "journal").read_text().splitlines()[-2:] == [f'{{"done":{bridge}}}', '{"rollback":true}']
    j.finish()
    assert not (tmp_path / "journal").exists()


WRITE_NEW = """
import os, stat, sys
from pipenet import faults
from pipenet.backends import files
os.umask(0o077)
stamps = files.write("/etc/netns/uw", {"hosts": "127.0.0.1 localhost\\n", "resolv.conf": "nameserver 10.0.0.1\\n"})
for n in ("hosts", "resolv.conf"):
    st = os.lstat("/etc/netns/uw/" + n)
    assert stamps[n] == [st.st_ino, st.st_size, st.st_mtime_ns], (n, stamps, st)
    print(n, oct(stat.S_IMODE(st.st_mode)), repr(open("/etc/netns/uw/" + n).read()))
print(files.inspect("/etc/netns/uw", ["hosts", "resolv.conf"], stamps))
def full(name, detail):
    if name == "write" and str(detail).endswith("/resolv.conf"):
        raise OSError(28, "No space left on device (injected)")
faults.install(full)
try:
    files.write("/etc/netns/uw2", {"hosts": "x\\n", "resolv.conf": "y\\n"})
except OSError as e:
    print("failed", e.errno, os.path.exists("/etc/netns/uw2"))
"""


def test_files_in_a_new_directory_are_made_in_place_and_undone_on_a_failure(netns):
    out = netns.out([sys.executable, "-c", WRITE_NEW]).splitlines()
    assert out == ["hosts 0o644 '127.0.0.1 localhost\\n'", "resolv.conf 0o644 'nameserver 10.0.0.1\\n'",
                   "{'hosts': ('same',), 'resolv.conf': ('same',)}", "failed 28 False"]
    assert netns.out(["ls", "-A", "/etc/netns/uw"]).split() == ["hosts", "resolv.conf"]  # no temporary file
    netns.run(["rm", "-r", "/etc/netns/uw"])


PEER_IN_ONE_SEND = """
from pipenet.backends.kernel import Kernel
from pipenet.backends.netlink import NetlinkError
k = Kernel()
k.bridge_add("uwbr", None, alias="pipenet:uw:bridge", quiet=True)
k.netns_create("uw@a", "pipenet:uw:netns:a", quiet=True)
k.veth_add("", "uwa", "uw@a", "eth0", master="uwbr", alias="pipenet:uw:a", peer_alias="pipenet:uw:a-eth0",
           quiet=True, peer_quiet=True)
nl = k._h("uw@a").nl
print(nl.index["eth0"], [m["index"] for m in nl.links() if m.get_attr("IFLA_IFNAME") == "eth0"],
      k.link_alias("uw@a", "eth0"))
k.addr_add("uw@a", "eth0", "10.77.0.2", 24)  # (by the cached index)
try:  # a refusal in the middle: the first one is raised, after every answer is read
    nl.link_set_many("eth0", [{"mtu": 100000}, {"alias": "x"}])
except NetlinkError as e:
    print("refused", e.errno)
print(nl.link_set_many("eth0", [{"mtu": 1400}]) == nl.index["eth0"], k.link_alias("uw@a", "eth0"))
"""


def test_a_container_end_is_marked_quiet_up_and_indexed_in_one_send(netns):
    """The peer of a bridge port: marked and made quiet, then up, then its index asked, in one send; it
    has no IPv6 address, carries its mark, is up, and its address is added by the cached index. A
    refusal in such a send is raised once every answer is read (the socket answers the next request)."""
    out = netns.out([sys.executable, "-c", PEER_IN_ONE_SEND]).splitlines()
    index = out[0].split()[0]
    assert out[0] == f"{index} [{index}] pipenet:uw:a-eth0", out
    assert out[1] == "refused 22", out
    assert out[2] == "True x", out  # (the kernel went on after the refused MTU: the alias was set)
    link = netns.out(["ip", "-n", "uw@a", "-d", "-o", "link", "show", "eth0"])
    assert "state UP" in link and "addrgenmode none" in link and "mtu 1400" in link, link
    addrs = netns.out(["ip", "-n", "uw@a", "-o", "addr", "show", "dev", "eth0"])
    assert "10.77.0.2/24" in addrs and "fe80" not in addrs, addrs
    netns.run(["ip", "netns", "del", "uw@a"])
    netns.run(["ip", "link", "del", "uwbr"])
