"""Test-suite harness.

- `netns`: a private network + mount namespace for a kernel test (tests/harness.py).
- The host guard: the machine's own interfaces, addresses, routes, iptables
  and nftables rules, forwarding sysctls, /run/netns and /etc/netns are
  recorded when the session starts and compared when it ends; any difference
  fails the run, whatever the tests said.
"""

from __future__ import annotations

import os

import pytest

from tests import snapshot
from tests.harness import Netns

_HOST_BEFORE: dict | None = None


def pytest_sessionstart(session):
    global _HOST_BEFORE
    if os.geteuid() == 0:
        _HOST_BEFORE = snapshot.take()


def pytest_sessionfinish(session, exitstatus):
    if _HOST_BEFORE is None:
        return
    after = snapshot.take()
    changes = snapshot.diff(_HOST_BEFORE, after)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if changes:
        if reporter:
            reporter.write_line("HOST NETWORK CHANGED BY THE TEST RUN:", red=True)
            for c in changes:
                reporter.write_line(c, red=True)
        session.exitstatus = 1
    elif reporter:
        reporter.write_line("host guard: the machine's network is exactly as before the run "
                            "(links, addresses, routes, iptables, nft, sysctls, /run/netns, /etc/netns)")


def pytest_configure(config):
    config.addinivalue_line("markers", "kernel: the test changes a kernel network state (in a private namespace)")


@pytest.fixture
def netns():
    ns = Netns(user=os.geteuid() != 0)  # without root, a user namespace gives the same powers inside
    try:
        yield ns
    finally:
        ns.close()
