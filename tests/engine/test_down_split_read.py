"""`down` reads every namespace's mark (its loopback's alias) in two processes past a few hundred namespaces
(`Kernel.read_marks_many`: the host's links here, then the /etc checks and the namespaces' marks shared
with a forked child from one queue): it must refuse exactly what the one-process read refuses.

The driver runs in a fresh Python inside the test world, once with the split read forced from two
namespaces on and once with it never used, against the same damaged lab: a namespace whose loopback
mark was changed, one whose mark was removed, one deleted under pipenet, one replaced by a foreign
namespace of the same name, and one whose /etc file was replaced by a symlink. Both runs must leave
the same namespaces, with the same interfaces inside, and count the same removals; the split run must
really have forked (the read was shared out).
"""

from __future__ import annotations

import json
import sys
import textwrap

LAB = textwrap.dedent("""
    topology sr
    bridge br0 { address 10.71.0.1/24 }
    for i in 1..8 { container c${i} { net br0 } }
""")

DRIVER = textwrap.dedent("""
    import json, subprocess, sys, time
    import pipenet
    import pipenet.backends.kernel as K

    path, split_at = sys.argv[1], int(sys.argv[2])
    K.SPLIT_LINKS_AT = split_at
    forks = []
    split_work = K.Kernel.split_work

    def counted(self, in_child, here):
        forks.append(1)
        return split_work(self, in_child, here)

    K.Kernel.split_work = counted

    def ip(*argv):
        return subprocess.run(["ip", *argv], check=True, capture_output=True, text=True).stdout

    lab = pipenet.load(path)
    lab.up()
    ip("-n", "sr@c2", "link", "set", "dev", "lo", "alias", "someone else's")   # mark changed
    ip("-n", "sr@c3", "link", "set", "dev", "lo", "alias", "")                 # mark removed
    ip("netns", "delete", "sr@c4")                                           # deleted under pipenet
    ip("netns", "delete", "sr@c5")                                           # replaced by a foreign one
    ip("netns", "add", "sr@c5")
    ip("-n", "sr@c5", "link", "add", "x0", "type", "veth", "peer", "name", "x1")
    import os
    os.remove("/etc/netns/sr@c6/hosts")                                       # an /etc file replaced by a
    os.symlink("/etc/hostname", "/etc/netns/sr@c6/hosts")                     # symlink: never written through
    deadline = time.monotonic() + 10  # (the kernel removes the deleted namespace's pair asynchronously)
    while len(ip("-o", "link", "show", "master", "br0").splitlines()) != 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    forks.clear()
    change = lab.down()
    left = sorted(n for n in ip("netns", "list").split() if n.startswith("sr@"))
    inside = {n: sorted(l.split(":")[1].strip().split("@")[0] for l in ip("-n", n, "-o", "link").splitlines())
              for n in left}
    etc6 = sorted(os.listdir("/etc/netns/sr@c6")) if os.path.isdir("/etc/netns/sr@c6") else None
    link6 = os.path.islink("/etc/netns/sr@c6/hosts")
    subprocess.run(["rm", "-rf", "/etc/netns/sr@c6"], check=True)
    print(json.dumps({"left": left, "inside": inside, "forks": len(forks), "etc6": etc6, "link6": link6,
                      "counts": sorted(f"{a} {w} {n}" for (a, w), n in change.counts.items()),
                      "bridge": ip("-o", "link", "show", "type", "bridge").count("br0")}))
    for n in left:
        ip("netns", "delete", n)
""")


def _run(netns, path, split_at: int) -> dict:
    r = netns.run([sys.executable, "-c", DRIVER, str(path), str(split_at)], check=False, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_the_split_read_refuses_exactly_what_the_single_read_refuses(netns, tmp_path):
    path = tmp_path / "sr.pn"
    path.write_text(LAB)
    single = _run(netns, path, 10**9)
    split = _run(netns, path, 2)
    assert single["forks"] == 0 and split["forks"] >= 1  # the second run did share the read out
    # the namespaces whose mark is not pipenet's stay, with what is inside them; the others are gone
    assert split["left"] == single["left"] == ["sr@c2", "sr@c3", "sr@c5"]
    assert split["inside"] == single["inside"]
    assert split["inside"]["sr@c5"] == ["lo", "x0", "x1"]
    assert split["counts"] == single["counts"]
    assert {"remove namespaces 4", "remove veth pairs 6"} <= set(split["counts"])  # c1, c6, c7, c8
    assert split["bridge"] == single["bridge"] == 0
    # the /etc files are checked while the marks are read (by either process): c6's, one of them a
    # symlink pipenet did not make, are left whole in both runs
    assert split["link6"] and single["link6"] and split["etc6"] == single["etc6"] and "hosts" in split["etc6"]


SHARED = textwrap.dedent("""
    import json, os, subprocess, sys, time
    import pipenet.backends.kernel as K

    K.MARK_CHUNK = 2
    names = [f"tq{i}" for i in range(6)]
    for n in names:
        subprocess.run(["ip", "netns", "add", n], check=True)
        subprocess.run(["ip", "-n", n, "link", "set", "dev", "lo", "alias", f"mark of {n}"], check=True)

    def work(i):
        def fn():
            time.sleep(0.05)  # (long enough that both processes take some of it)
            return {str(i): os.getpid()}
        return fn

    k = K.Kernel()
    try:
        marks, extra = k.read_marks_many(["", *names], split_at=2, meanwhile=[work(i) for i in range(16)])
        remembered = {n: k.netns_mark(n) for n in names}
    finally:
        k.close()
    for n in names:
        subprocess.run(["ip", "netns", "delete", n], check=True)
    print(json.dumps({"marks": {r: v.links["lo"].alias for r, v in marks.items() if r}, "remembered": remembered,
                      "host": marks.get("") is not None and "lo" in marks[""].links, "extra": sorted(extra),
                      "processes": len(set(extra.values()))}))
""")


def test_the_marks_and_the_caller_s_work_are_shared_by_both_processes_and_all_come_back(netns):
    """`read_marks_many` past `split_at`: the caller's work first, then the marks, taken from one queue by
    this process (once it has read the host) and a forked child; every mark and every piece of work
    comes back, whichever process did it, and the child's marks are remembered here as this process's."""
    r = netns.run([sys.executable, "-c", SHARED], check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.splitlines()[-1])
    want = {f"tq{i}": f"mark of tq{i}" for i in range(6)}
    assert got["marks"] == want and got["remembered"] == want and got["host"]
    assert got["extra"] == sorted(str(i) for i in range(16))
    assert got["processes"] == 2  # (both took some of the work)
