"""Test-suite harness.

- `netns`: a private network + mount namespace for a kernel test (tests/harness.py).
- The host guard: the machine's own interfaces, addresses, routes, iptables
  and nftables rules, forwarding sysctls, /run/netns and /etc/netns are
  recorded when the session starts and compared when it ends; any difference
  fails the run, whatever the tests said. So does any process pipenet started
  (a `run` process, a sandbox holder) that outlives the run. The run's
  processes are told from those of another pipenet (or test run) on the same
  machine by a mark in their environment (`RUN_MARK`), which every process
  the run starts inherits.
- Every test world is a lived-in machine: see tests/harness.py.
"""

from __future__ import annotations

import os

import pytest

from tests import snapshot
from tests.harness import Netns

_HOST_BEFORE: dict | None = None
_PROCS_BEFORE: set[int] = set()

#: In the environment of every process this run starts (pipenet hands its own environment on to
#: the `run` processes and sandbox holders it starts), so that neither the guard nor a test takes
#: another run's process for one of its own, or ends it.
RUN_MARK = "PIPENET_TEST_RUN"
os.environ[RUN_MARK] = f"{os.getpid()}-{os.urandom(4).hex()}"


def pipenet_processes(pattern: bytes = b"") -> set[int]:
    """Processes of this run that pipenet starts: `run` processes (marked in their environment) and
    sandbox holders (whose command line contains `pattern`, when given)."""
    mine = f"{RUN_MARK}={os.environ[RUN_MARK]}".encode()
    out = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if mine not in env.split(b"\0") or pattern not in cmd:
            continue
        if b"PIPENET_PROCESS=" in env or b"pipenet.sandbox.holder" in cmd:
            out.add(int(d))
    return out


def pytest_sessionstart(session):
    global _HOST_BEFORE, _PROCS_BEFORE
    if os.geteuid() == 0:
        _HOST_BEFORE = snapshot.take()
        _PROCS_BEFORE = pipenet_processes()


def pytest_sessionfinish(session, exitstatus):
    if _HOST_BEFORE is None:
        return
    after = snapshot.take()
    changes = snapshot.diff(_HOST_BEFORE, after)
    import time

    deadline = time.monotonic() + 5  # a holder told to stop may take a moment to go
    while (strays := pipenet_processes() - _PROCS_BEFORE) and time.monotonic() < deadline:
        time.sleep(0.1)
    changes += [f"process {pid} started by the run is still running" for pid in sorted(strays)]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if changes:
        if reporter:
            reporter.write_line("HOST NETWORK CHANGED BY THE TEST RUN:", red=True)
            for c in changes:
                reporter.write_line(c, red=True)
        session.exitstatus = 1
    elif reporter:
        reporter.write_line("host guard: the machine's network is exactly as before the run "
                            "(links, addresses, routes, iptables, nft, sysctls, /run/netns, /etc/netns), "
                            "and no process it started is left")


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: the test changes a kernel network state (in a private namespace)")


@pytest.fixture
def inject():
    """Faults for in-process tests: `inject(fail_step=N, fail_undo=M)` makes step N of the next plan fail
    (and the undo of step M); removed when the test ends. (Subprocess tests use tests/faultrun.py.)"""
    from pipenet import faults

    def install(fail_step=None, fail_undo=None):
        def hook(name, detail):
            if (name, detail) in (("step", fail_step), ("undo", fail_undo)):
                raise faults.InjectedFault(name, detail)

        faults.install(hook)

    yield install
    faults.install(None)


@pytest.fixture
def netns():
    ns = Netns(user=os.geteuid() != 0)  # without root, a user namespace gives the same powers inside
    try:
        yield ns
    finally:
        ns.close()
