"""`pipenet test` killed in the middle of a run takes its helpers along.

Its resolver agents are started with a parent-death signal, and its
temporary listeners are sockets of its own process, so neither can outlive
it, whether it is killed outright (SIGKILL: no code of its own runs) or
terminated (SIGTERM: it also gives back the neighbour entries its probes
made, then dies of the signal).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

# icc off: a's packets to b are dropped, so the TCP probe waits out its 3 s with a temporary listener
# in b, and a's lookups (b is its DNS server) each wait out their 1 s timeout, once per search domain
LAB = """
topology killme
bridge k1 { address 10.64.0.1/24; icc off }
container a { net k1; dns 10.64.0.3; dns-search one.example two.example three.example four.example }
container b { net k1; address 10.64.0.3 }
expect a resolves nowhere to 10.9.9.9
expect a can reach b:7070/tcp
"""


def listening(netns, node: str, port: int) -> bool:
    out = netns.run(["ip", "netns", "exec", f"killme@{node}", "ss", "-Hltn", f"sport = :{port}"]).stdout
    return out.strip() != ""


def neighbours(netns, node: str) -> str:
    return netns.run(["ip", "-n", f"killme@{node}", "-4", "neigh", "show"]).stdout.strip()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_run_leaves_no_agent_and_no_listener(netns, tmp_path, sig):
    path = tmp_path / "killme.pn"
    path.write_text(LAB)
    assert netns.pipenet("up", str(path)).returncode == 0
    assert neighbours(netns, "a") == "" and neighbours(netns, "b") == ""
    proc = subprocess.Popen(netns.argv([sys.executable, "-m", "pipenet", "test", str(path), "--json"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (netns.pids("pipenet.expect.agent") and listening(netns, "b", 7070)):
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "the agent and the listener never showed up together"
            time.sleep(0.05)
        assert neighbours(netns, "a") != ""  # the TCP probe is under way
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == -sig
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 1  # the signal is immediate; a lookup of its own would last seconds
    while netns.pids("pipenet.expect.agent") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert netns.pids("pipenet.expect.agent") == []
    assert not listening(netns, "b", 7070)
    if sig == signal.SIGTERM:  # it had the time to give back what its probes made
        assert neighbours(netns, "a") == "" and neighbours(netns, "b") == ""
    assert netns.pipenet("down", "killme").returncode == 0
