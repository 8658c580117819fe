"""Two runs at once: one topology (the second waits), two that share nothing (in parallel),
two that claim the same bridge, subnet or host port (the second fails before any change)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests import snapshot


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def start(netns, *args):
    return subprocess.Popen(netns.argv([sys.executable, "-m", "pipenet", *args]), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_ups_of_one_topology_one_waits(netns, tmp_path):
    body = "".join(f"container c{i} {{ net br0 }}\n" for i in range(40))
    path = write(tmp_path, "same.pn", "topology same\nbridge br0 { address 10.80.0.1/16 }\n" + body)
    a, b = start(netns, "up", path), start(netns, "up", path)
    (oa, ea), (ob, eb) = a.communicate(timeout=120), b.communicate(timeout=120)
    assert a.returncode == 0 and b.returncode == 0, (ea, eb)
    assert "waiting" in ea + eb  # the second said so, and waited
    plan = json.loads(netns.pipenet("plan", path, "--format", "json").stdout)
    assert plan["empty"]
    status = json.loads(netns.pipenet("status", "same", "--json").stdout)
    assert status["drift"] == [] and len(status["nodes"]) == 40
    netns.pipenet("down", "same")


def test_two_topologies_that_share_nothing_go_up_in_parallel(netns, tmp_path):
    paths = [write(tmp_path, f"p{n}.pn", f"topology p{n}\nbridge brp{n} {{ address 10.8{n}.0.1/24 }}\n"
                   + "".join(f"container c{i} {{ net brp{n} }}\n" for i in range(20))) for n in (1, 2)]
    procs = [start(netns, "up", p) for p in paths]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert not any("waiting" in e for _, e in results)
    for n in (1, 2):
        assert json.loads(netns.pipenet("status", f"p{n}", "--json").stdout)["drift"] == []
        netns.pipenet("down", f"p{n}")


def test_the_same_bridge_subnet_or_port_in_two_topologies(netns, tmp_path):
    first = write(tmp_path, "first.pn", """
        topology first
        bridge shared { address 10.90.0.1/24 }
        container w { net shared; publish 8088:80 }
    """)
    assert netns.pipenet("up", first).returncode == 0
    before = snapshot.take(netns.runner)
    cases = {
        "bridge": ("bridge shared { address 10.91.0.1/24 }\n", "bridge shared belongs to topology first"),
        "subnet": ("bridge other { address 10.90.0.129/25 }\n", "overlaps 10.90.0.0/24 of topology first"),
        "port": ("bridge other { address 10.92.0.1/24 }\ncontainer w { net other; publish 8088:80 }\n",
                 "8088/tcp of w is already published by topology first"),
    }
    for what, (body, message) in cases.items():
        path = write(tmp_path, f"{what}.pn", f"topology second{what}\n{body}")
        r = netns.pipenet("up", path)
        assert r.returncode == 1 and message in r.stderr, (what, r.stderr)
        assert snapshot.take(netns.runner) == before, what
    netns.pipenet("down", "first")


def test_racing_claims_on_one_subnet(netns, tmp_path):
    paths = [write(tmp_path, f"r{n}.pn", f"topology race{n}\nbridge brr{n} {{ address 10.95.0.1/24 }}\n"
                   + "".join(f"container c{i} {{ net brr{n} }}\n" for i in range(10))) for n in (1, 2)]
    procs = [start(netns, "up", p) for p in paths]
    results = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], results  # exactly one wins; the other changed nothing
    loser = [e for p, (_, e) in zip(procs, results) if p.returncode == 1][0]
    assert "overlaps 10.95.0.0/24" in loser
    for n in (1, 2):
        netns.pipenet("down", f"race{n}")
    assert "brr" not in netns.out(["ip", "-o", "link"])
