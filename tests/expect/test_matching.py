"""A probe's verdict is its own: replies and ICMP errors are matched to the probe they answer.

Every probe of a node shares that node's raw ICMP socket, which sees all the
ICMP of the namespace. Here some probes of `a` wait for a reply that comes
late (0.4 s) while other probes of `a`, to an address no network has, get
"network unreachable" from the host at once: the late probes must still
pass, and the others fail with their own error. (The per-process agent that
probes used to be took any destination-unreachable it saw as its own.)
"""

from __future__ import annotations

import os
import re
import time

from tests.expect.lab import run_file as run

LATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "late_echo.py")


def test_errors_about_other_probes_do_not_fail_a_probe(netns, tmp_path):
    path = tmp_path / "match.pn"
    path.write_text(f"""
topology match
bridge m1 {{ address 10.74.0.1/24 }}
container a {{ net m1; address 10.74.0.2 }}
container late {{
    net m1
    address 10.74.0.3
    sysctl net.ipv4.icmp_echo_ignore_all 1
    run "python3 {LATE} 0.4"
}}
expect a can reach late
expect a can reach 10.99.0.1
expect a can reach late
expect a can reach 10.99.0.2
expect a can reach late
expect a can reach 10.99.0.3
""")
    assert netns.pipenet("up", str(path)).returncode == 0
    deadline = time.monotonic() + 10
    while netns.pipenet("exec", "a", "--", "ping", "-c1", "-W2", "10.74.0.3").returncode != 0:
        assert time.monotonic() < deadline, "the late responder never answered"
    r = run(netns, str(path))
    assert [ok for _, ok, _ in r] == [True, False] * 3, r
    errors = 0
    for _, ok, detail in r:
        if ok:
            m = re.fullmatch(r"ping 10\.74\.0\.3: answered in ([\d.]+) ms", detail)
            assert m and float(m.group(1)) >= 400, detail
        else:  # the host rate-limits its ICMP errors, so not every attempt gets one
            m = re.fullmatch(r"ping 10\.99\.0\.\d: no echo reply within 3 s"
                             r"( \(network unreachable \(reported by 10\.74\.0\.1\)\))?", detail)
            assert m, detail
            errors += m.group(1) is not None
    assert errors >= 1  # the errors did arrive while the late probes were waiting
    netns.pipenet("down", "match")
