"""Dual stack on the real kernel: examples/docker0-dual.pn (Docker's docker0 with IPv6 turned on).

Its expectations pass over both families; the rules are in ip6tables where
Docker puts them; `status` sees an IPv6 address, default route or ip6tables
rule removed by hand, and `up` puts it back; `down` leaves the world (its
ip6tables included, Docker's IPv6 chains among them) exactly as before.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from tests import snapshot

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "docker0-dual.pn")
NAME = "docker0-dual"


def _test(netns, path: str = EXAMPLE) -> dict:
    r = netns.pipenet("test", path, "--json")
    doc = json.loads(r.stdout or "{}")
    assert r.returncode == 0 and doc.get("failed") == 0, (r.stdout, r.stderr)
    return doc


def test_the_dual_stack_docker_example_passes_over_both_families_and_leaves_nothing(netns):
    before = snapshot.settled_world(netns)
    doc = _test(netns)
    text = open(EXAMPLE).read()
    assert doc["passed"] == len(re.findall(r"^expect ", text, re.M))
    assert len(re.findall(r"^expect .* over ipv6$", text, re.M)) >= 4
    db = netns.pipenet("exec", "db", "--", "ip", "-o", "addr", "show", "eth0").stdout
    assert "172.17.0.100/16" in db and "fd00:17::100/64" in db
    routes = netns.pipenet("exec", "web", "--", "ip", "-6", "route", "show", "default").stdout
    assert "default via fd00:17::1 dev eth0" in routes
    assert "default via 172.17.42.1 dev eth0" in netns.pipenet("exec", "web", "--", "ip", "route").stdout
    hosts = netns.pipenet("exec", "web", "--", "cat", "/etc/hosts").stdout
    assert "172.17.0.1\twww.example.com web" in hosts and "fd00:17::2\twww.example.com web" in hosts
    v6 = netns.out(["ip6tables-save"])
    fwd = [l for l in v6.splitlines() if l.startswith("-A PN-docker0-dual-FWD ")]
    assert any("-s fd00:17::2/128 -d fd00:17::100/128" in l and "--dport 5432" in l for l in fwd), fwd
    assert any("-s fd00:17::100/128 -d fd00:17::2/128" in l and "--sport 5432" in l for l in fwd), fwd
    assert fwd[-1].startswith("-A PN-docker0-dual-FWD -i docker0 -o docker0") and fwd[-1].endswith("-j DROP")
    assert "--to-destination [fd00:17::2]:80" in v6
    assert "-A FORWARD -j DOCKER-USER" in v6  # Docker's IPv6 chains are still there
    assert netns.out(["sysctl", "-n", "net.bridge.bridge-nf-call-ip6tables"]).strip() == "1"
    # the IPv6 above crossed bridge ports whose host ends have no IPv6 of their own (Kernel.veth_add)
    ports = [l.split(": ")[1].split("@")[0] for l in netns.out(["ip", "-o", "link", "show", "master", "docker0"]).splitlines()]
    assert len(ports) >= 2, ports
    for port in ports:
        assert netns.out(["cat", f"/proc/sys/net/ipv6/conf/{port}/disable_ipv6"]).strip() == "1", port
    status = netns.pipenet("status", NAME, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["drift"] == [], status.stdout
    assert netns.pipenet("down", NAME).returncode == 0
    after = snapshot.settled_world(netns)
    assert snapshot.diff(before, after) == []


def test_without_the_link_icc_off_blocks_ipv6_between_containers(netns, tmp_path):
    path = tmp_path / "nolink.pn"
    text = open(EXAMPLE).read().replace("topology docker0-dual", "topology nolink").replace("    link db\n", "")
    text = re.sub(r"^expect .*$", "", text, flags=re.M)
    path.write_text(text + "expect web cannot reach db:5432/tcp over ipv6\n"
                           "expect web can reach db over ipv6\n")  # (ICMPv6 is dropped too: see below)
    r = netns.pipenet("test", str(path), "--json")
    doc = json.loads(r.stdout or "{}")
    # icc off drops every packet between ports, ping included: the second expectation fails, and says why
    assert doc["failed"] == 1 and doc["results"][0]["passed"] and not doc["results"][1]["passed"], r.stdout
    assert netns.pipenet("down", "nolink").returncode == 0


DRIFT = {
    "address": (["ip", "-n", f"{NAME}@db", "addr", "del", "fd00:17::100/64", "dev", "eth0"], "fd00:17::100"),
    "route": (["ip", "-n", f"{NAME}@cache", "-6", "route", "del", "default", "via", "fd00:17::1"], "default"),
    "ip6tables": (["ip6tables", "-F", "PN-docker0-dual-FWD"], "ip6:filter"),
    "ip6tables-nat": (["ip6tables", "-t", "nat", "-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL",
                       "-m", "comment", "--comment", f"pipenet:{NAME}", "-j", "PN-docker0-dual-PRE"], "ip6:nat"),
}


@pytest.mark.parametrize("case", list(DRIFT))
def test_ipv6_drift_is_seen_and_up_heals_it(netns, case):
    argv, word = DRIFT[case]
    _test(netns)
    netns.run(argv)
    r = netns.pipenet("status", NAME, "--json")
    assert r.returncode == 1, r.stdout
    drift = json.loads(r.stdout)["drift"]
    assert any(word in json.dumps(d) for d in drift), drift
    assert netns.pipenet("up", EXAMPLE).returncode == 0
    assert netns.pipenet("status", NAME).returncode == 0
    _test(netns)  # and every expectation passes again, over both families
    assert netns.pipenet("down", NAME).returncode == 0


def test_a_second_topology_on_the_same_ipv6_subnet_is_refused_before_any_change(netns, tmp_path):
    first, second = tmp_path / "one.pn", tmp_path / "two.pn"
    first.write_text("topology one\nbridge b1 { address 10.61.0.1/24; address fd00:61::1/64 }\n")
    second.write_text("topology two\nbridge b2 { address 10.62.0.1/24; address fd00:61::1:1/64 }\n")
    assert netns.pipenet("up", str(first)).returncode == 0
    before = snapshot.world(netns)
    r = netns.pipenet("up", str(second))
    assert r.returncode != 0 and "subnet fd00:61::/64 overlaps fd00:61::/64 of topology one" in r.stderr, r.stderr
    assert snapshot.diff(before, snapshot.world(netns)) == []
    assert netns.pipenet("down", "one").returncode == 0


def test_down_force_without_a_record_finds_and_removes_the_ip6tables_chains(netns):
    before = snapshot.settled_world(netns)
    assert netns.pipenet("up", EXAMPLE).returncode == 0
    netns.run(["sh", "-c", 'echo "[1, 2, 3]" > "$0"', f"/run/pipenet/{NAME}/record.json"])  # a record lost
    r = netns.pipenet("down", "--force", NAME)
    assert r.returncode == 0, r.stderr
    v6 = netns.out(["ip6tables-save"])
    assert "PN-docker0-dual" not in v6 and "pipenet:" not in v6
    after = snapshot.settled_world(netns)
    # Without the record pipenet cannot tell it made the (now empty) IPv6 nat table, so a forced down
    # keeps it, as it keeps an IPv4 one: everything else is as before, Docker's IPv6 chains included.
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed <= {"ip6tables", "nft"}, snapshot.diff(before, after)
    assert "*nat" not in before["ip6tables"] and after["ip6tables"][:len(before["ip6tables"])] == before["ip6tables"]
    assert after["ip6tables"][len(before["ip6tables"]):] == [
        "*nat", ":PREROUTING ACCEPT [-]", ":INPUT ACCEPT [-]", ":OUTPUT ACCEPT [-]", ":POSTROUTING ACCEPT [-]", "COMMIT"]
