"""The routing lab (examples/frr-ospf.pn): three FRR routers learn their routes by OSPF, and the lab's
`expect ... within` lines pass once it has converged. Skipped only where FRR is not installed
(/usr/lib/frr/zebra, Debian's `frr` package, which tools/install installs)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

ZEBRA = "/usr/lib/frr/zebra"
LAB = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "frr-ospf.pn")

needs_frr = pytest.mark.skipif(not os.access(ZEBRA, os.X_OK), reason=f"FRR is not installed ({ZEBRA} is missing)")


@needs_frr
def test_the_frr_lab_converges_and_passes_pipenet_test(netns):
    # the test world's /run is a fresh tmpfs: make /run/frr as the frr package (and systemd-tmpfiles at
    # boot, /usr/lib/tmpfiles.d/frr.conf) makes it on a machine; it is the mount point of the private one
    netns.run(["install", "-d", "-o", "frr", "-g", "frr", "-m", "0755", "/run/frr"])
    host_run_frr = netns.out(["ls", "-A", "/run/frr"])
    r = netns.pipenet("test", LAB, "--json", timeout=180)
    doc = json.loads(r.stdout or "{}")
    assert r.returncode == 0 and doc.get("failed") == 0 and doc.get("passed") == 5, (r.stdout, r.stderr)
    # the routes were learned, not written: OSPF's, in the kernel of r1
    routes = netns.pipenet("exec", "r1", "--", "ip", "route", "show", "proto", "ospf").stdout
    assert "10.3.0.0/24" in routes and "10.23.0.0/30" in routes, routes
    # each router's daemons and vtysh share its private /var/run/frr; the host's is untouched
    nbrs = netns.pipenet("exec", "r2", "--", "vtysh", "--vty_socket", "/var/run/frr", "-c", "show ip ospf neighbor")
    assert nbrs.returncode == 0 and nbrs.stdout.count("Full") == 2, (nbrs.stdout, nbrs.stderr)
    assert netns.pipenet("exec", "r1", "--", "cat", "/etc/frr/zebra.conf").stdout.startswith("hostname r1\n")
    assert netns.out(["ls", "-A", "/run/frr"]) == host_run_frr
    status = json.loads(netns.pipenet("status", "frr-ospf", "--json").stdout)
    assert status["drift"] == [], status["drift"]
    assert netns.pipenet("down", "frr-ospf").returncode == 0
    assert netns.pids("/usr/lib/frr") == []


@needs_frr
def test_without_ospfd_the_labs_expectations_fail(netns, tmp_path):
    """The lab's lines are about learned routes: with zebra alone (no ospfd) nothing is learned, and each
    line fails at its deadline."""
    netns.run(["install", "-d", "-o", "frr", "-g", "frr", "-m", "0755", "/run/frr"])
    shutil.copytree(os.path.join(os.path.dirname(LAB), "frr-ospf"), tmp_path / "frr-ospf")
    text = open(LAB).read().replace("topology frr-ospf", "topology no-ospf").replace("within 30s", "within 2s")
    text = "\n".join(line for line in text.splitlines() if "/usr/lib/frr/ospfd" not in line) + "\n"
    (tmp_path / "no-ospf.pn").write_text(text)
    r = netns.pipenet("test", str(tmp_path / "no-ospf.pn"), "--json", timeout=120)
    doc = json.loads(r.stdout or "{}")
    assert r.returncode == 4 and doc["failed"] == 5, (r.stdout, r.stderr)
    assert all("still so after" in x["detail"] for x in doc["results"]), doc["results"]
    assert netns.pipenet("down", "no-ospf").returncode == 0
