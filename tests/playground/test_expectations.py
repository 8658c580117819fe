"""`pipenet test` on every example, every kind of expectation failing when wrong, and link shaping."""

from __future__ import annotations

import glob
import json
import os
import re
import sys
import textwrap

import pytest

EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "*.pn")))
#: (the FRR routing lab needs FRR and a /run/frr: tests/playground/test_frr.py brings it up)
WITH_EXPECT = [p for p in EXAMPLES
               if re.search(r"^expect ", open(p).read(), re.M) and "/usr/lib/frr/" not in open(p).read()]


def before_up(path: str) -> list[list[str]]:
    """The commands an example says run before it (`#   ip ...` lines: the guide's own, for `-b bridge0`)."""
    return [line[1:].split() for line in open(path).read().splitlines() if re.match(r"#\s+ip ", line)]


def test_every_example_passes_its_expectations_and_has_no_drift(netns):
    assert len(WITH_EXPECT) >= 10
    for path in WITH_EXPECT:
        for argv in before_up(path):
            netns.run(argv)
        r = netns.pipenet("test", path, "--json")
        doc = json.loads(r.stdout or "{}")
        assert r.returncode == 0 and doc.get("failed") == 0, (path, r.stdout, r.stderr)
        assert doc["passed"] == len(re.findall(r"^expect ", open(path).read(), re.M))
        name = doc["topology"]
        status = netns.pipenet("status", name, "--json")  # right after up: no drift (IPv6 ones included)
        assert status.returncode == 0 and json.loads(status.stdout)["drift"] == [], (path, status.stdout)
        assert netns.pipenet("down", path).returncode == 0
        for argv in before_up(path):  # what the example's own commands made goes too (`down` left it)
            if argv[:3] == ["ip", "link", "add"]:
                netns.run(["ip", "link", "del", argv[argv.index("name") + 1]])


def test_each_kind_of_expectation_can_fail(netns, tmp_path):
    path = tmp_path / "wrong.pn"
    path.write_text(textwrap.dedent("""
        topology wrong
        bridge docker0 { address 172.17.42.1/16; icc off }
        container db { net docker0; expose 5432 }
        container app { net docker0; link db }
        container stranger { net docker0 }
        container modem { net docker0; forwarding on; masquerade out eth0 }
        expect app can reach db:5432/tcp                # right
        expect stranger can reach db:5432/tcp           # wrong: icc off, no link
        expect app cannot reach db:5432/tcp             # wrong: the link allows it
        expect app can reach db:5432/tcp as 172.17.0.99 # wrong: db sees app's own address
        expect app resolves db to 172.17.0.77           # wrong address
        expect app resolves nowhere.invalid to 10.0.0.1 # does not resolve
        expect stranger can reach db                    # wrong: icc off drops ICMP too
        expect app can reach host:5353/udp              # right: UDP echo from a temporary listener
        expect stranger can reach db:53/udp             # wrong: dropped
    """))
    r = netns.pipenet("test", str(path), "--json")
    assert r.returncode == 4, r.stderr
    doc = json.loads(r.stdout)
    verdicts = [x["passed"] for x in doc["results"]]
    assert verdicts == [True, False, False, False, False, False, False, True, False], doc
    details = [x["detail"] for x in doc["results"]]
    assert details[3] == "connected, but db saw 172.17.0.2, not 172.17.0.99"
    assert details[4] == "db resolved to 172.17.0.1"
    text = netns.pipenet("test", str(path))
    assert text.returncode == 4 and "FAIL" in text.stdout and "2 passed, 7 failed" in text.stdout
    netns.pipenet("down", "wrong")


def test_rate_shaping_is_seen_in_a_bulk_transfer(netns, tmp_path):
    path = tmp_path / "shape.pn"
    path.write_text(textwrap.dedent("""
        topology shape
        container a
        container b
        container c
        p2p a:eth0 10.90.0.1/24 -- b:eth0 10.90.0.2/24 { rate 8mbit }
        p2p a:eth1 10.91.0.1/24 -- c:eth0 10.91.0.2/24
    """))
    assert netns.pipenet("up", str(path)).returncode == 0
    sink = ("import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            "s.bind(('0.0.0.0', 5001)); s.listen(); print('ready', flush=True)\n"
            "while True:\n c,_=s.accept()\n while c.recv(1<<16): pass\n c.close()")
    send = ("import socket,sys,time; s=socket.create_connection((sys.argv[1], 5001)); buf=b'x'*65536; n=0; "
            "t=time.monotonic()\nwhile time.monotonic()-t < 1.5:\n s.sendall(buf); n+=len(buf)\n"
            "s.close(); print(n*8/(time.monotonic()-t))")
    import subprocess
    sinks = [subprocess.Popen(netns.argv([sys.executable, "-m", "pipenet", "exec", node, "--", sys.executable,
                                          "-c", sink]), stdout=subprocess.PIPE, text=True) for node in ("b", "c")]
    try:
        for p in sinks:
            assert p.stdout.readline().strip() == "ready"
        shaped = float(netns.pipenet("exec", "a", "--", sys.executable, "-c", send, "10.90.0.2").stdout)
        free = float(netns.pipenet("exec", "a", "--", sys.executable, "-c", send, "10.91.0.2").stdout)
    finally:
        for p in sinks:
            p.kill()
            p.wait()
    # what leaves a on the shaped link is held to about 8 Mbit/s (plus what the socket buffers absorb)
    assert 4e6 < shaped < 14e6, shaped
    assert free > 10 * shaped, (free, shaped)
    netns.pipenet("down", "shape")
