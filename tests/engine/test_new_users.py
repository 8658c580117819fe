"""What new users hit, walking Docker's guide and pipework's README on an ordinary (lived-in) machine."""

from __future__ import annotations

import glob
import json
import os
import re
import textwrap

import pytest

from tests import snapshot
from tests.harness import Netns

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def write(tmp_path, name, text) -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def guide_bridge0(netns) -> None:
    """The guide's own commands for `-b bridge0`, and a port of the admin's own on it (the machine's
    NIC, say), so that the bridge keeps its carrier whatever pipenet's ports do."""
    netns.run(["ip", "link", "add", "name", "bridge0", "type", "bridge"])
    netns.run(["ip", "addr", "add", "192.168.5.1/24", "dev", "bridge0"])
    netns.run(["ip", "link", "set", "dev", "bridge0", "up"])
    netns.run(["ip", "link", "add", "name", "nic0", "type", "veth", "peer", "name", "nic0-wire"])
    netns.run(["ip", "link", "set", "dev", "nic0", "master", "bridge0", "up"])
    netns.run(["ip", "link", "set", "dev", "nic0-wire", "up"])


def test_the_guides_own_bridge0_is_used_as_it_is(netns, tmp_path):
    guide_bridge0(netns)
    before = snapshot.settled_world(netns)
    path = os.path.join(EXAMPLES, "bridge0.pn")
    assert netns.pipenet("up", path).returncode == 0
    a = netns.pipenet("exec", "a", "--", "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert "192.168.5.2/24" in a  # from the bridge's own subnet
    assert "default via 192.168.5.1 dev eth0" in netns.pipenet("exec", "a", "--", "ip", "route").stdout
    assert "-s 192.168.5.0/24 ! -o bridge0" in netns.out(["iptables-save", "-t", "nat"])  # MASQUERADE
    assert netns.pipenet("exec", "a", "--", "ping", "-c1", "-W2", "192.168.5.3").returncode == 0
    assert netns.pipenet("down", "bridge0").returncode == 0
    assert snapshot.settled_world(netns) == before  # bridge0 and its address stay, exactly


def test_a_declared_address_on_an_external_bridge_is_adopted_or_refused(netns, tmp_path):
    guide_bridge0(netns)
    same = write(tmp_path, "same.pn", """
        topology same
        bridge bridge0 { external; address 192.168.5.1/24 }
        container a { net bridge0 }
    """)
    r = netns.pipenet("up", same)
    assert r.returncode == 0, r.stderr  # the address is there already: adopted, not added
    assert netns.pipenet("status", "same").returncode == 0
    assert netns.pipenet("down", "same").returncode == 0
    assert "192.168.5.1/24" in netns.out(["ip", "-o", "addr", "show", "dev", "bridge0"])  # and not removed
    other = write(tmp_path, "other.pn", """
        topology other
        bridge bridge0 { external; address 192.168.6.1/24 }
        container a { net bridge0 }
    """)
    before = snapshot.settled_world(netns)
    r = netns.pipenet("up", other)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert "bridge bridge0 is external and has 192.168.5.1/24, but the file says address 192.168.6.1/24" in lines[0]
    assert snapshot.settled_world(netns) == before


def test_a_process_that_dies_at_once_shows_its_log_which_survives_the_rollback(netns, tmp_path):
    path = write(tmp_path, "dies.pn", """
        topology dies
        container a { run "sh -c 'echo cannot open /etc/app.conf >&2; exit 3'" }
    """)
    before = snapshot.settled_world(netns)
    r = netns.pipenet("up", path)
    assert r.returncode == 2 and "rolled back" in r.stderr, r.stderr
    assert "cannot open /etc/app.conf" in r.stderr  # the last lines of its log, in the error
    kept = re.search(r"the whole log is kept in (\S+)\)", r.stderr).group(1)
    assert "cannot open /etc/app.conf" in netns.out(["cat", kept])  # where the rollback did not remove it
    assert snapshot.settled_world(netns) == before


def test_one_port_published_twice_has_its_rules_once(netns, tmp_path):
    path = write(tmp_path, "twice.pn", """
        topology twice
        bridge tw0 { address 10.75.0.1/24 }
        container web { net tw0; publish 8091:80; publish 8092:80 }
    """)
    assert netns.pipenet("up", path).returncode == 0
    rules = netns.out(["iptables-save"]).splitlines()
    accept = [l for l in rules if l.startswith("-A PN-twice-FWD -d 10.75.0.2/32 ! -i tw0") and "--dport 80 " in l]
    hairpin = [l for l in rules if l.startswith("-A PN-twice-POST -s 10.75.0.0/24 -d 10.75.0.2/32")]
    dnat = [l for l in rules if l.startswith("-A PN-twice-PRE") and "DNAT" in l]
    assert len(accept) == 1 and len(hairpin) == 1 and len(dnat) == 2, "\n".join(rules)
    assert netns.pipenet("down", "twice").returncode == 0


def test_net_host_keeps_the_hosts_hostname_and_files(netns, tmp_path):
    path = write(tmp_path, "hosty.pn", "topology hosty\ncontainer tools { net host }\n")
    assert netns.pipenet("up", path).returncode == 0
    host = netns.out(["hostname"]).strip()
    assert netns.pipenet("exec", "tools", "--", "hostname").stdout.strip() == host
    assert netns.pipenet("exec", "tools", "--", "cat", "/etc/hostname").stdout == netns.out(["cat", "/etc/hostname"])
    assert netns.pipenet("down", "hosty").returncode == 0
    bad = write(tmp_path, "bad.pn", "topology bad\ncontainer tools { net host; hostname x }\n")
    r = netns.pipenet("check", bad)
    assert r.returncode == 1 and "tools is the host's network namespace: it keeps the host's hostname" in r.stderr


def test_ipv6_expectations_pass_right_after_up(netns):
    """Addresses on pipenet's own segments skip duplicate address detection: usable at once."""
    path = os.path.join(EXAMPLES, "ipv6.pn")
    r = netns.pipenet("test", path, "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["failed"] == 0, r.stdout
    flags = netns.pipenet("exec", "a", "--", "ip", "-6", "-o", "addr", "show", "eth0").stdout
    assert "fd00:6::2/64" in flags and "tentative" not in flags and "nodad" in flags
    # a node without IPv6 gets no IPv6 autoconfiguration at all: no link-local address to flood
    assert netns.pipenet("down", "ipv6").returncode == 0


LIVED_IN = ("br-foreign", "docker_gwbridge")


def _sh_world(netns) -> dict:
    """What `up` and the sh script must agree on: everything but namespace inodes, process ids and the
    random MACs of the two worlds' own lived-in bridges (and the link-local addresses made of them)."""
    w = snapshot.settled_world(netns)
    for key in list(w):
        if key.startswith("ns "):
            w[key].pop("inode", None)
            # (routes a routing daemon learned, as far as it got by now: the routing lab's OSPF)
            w[key]["routes"] = [r for r in w[key].get("routes", []) if '"protocol": "ospf"' not in r]
    w["processes"] = sorted(w["processes"].values())
    w["links"] = [dict(l, address=None) if l["ifname"] in LIVED_IN else l for l in w["links"]]
    w["routes"] = [r for r in w["routes"] if "fe80::" not in r]
    w["addresses"] = [a for a in w["addresses"] if " fe80::" not in a]
    return w


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(EXAMPLES, "*.pn"))), ids=os.path.basename)
def test_plan_as_sh_is_a_complete_script_equivalent_to_up(netns, path):
    setup = [line[1:].split() for line in open(path).read().splitlines() if re.match(r"#\s+ip ", line)]
    if "/usr/lib/frr/" in open(path).read():  # the routing lab: FRR, and the /run/frr its package makes
        if not os.access("/usr/lib/frr/zebra", os.X_OK):
            pytest.skip("FRR is not installed (/usr/lib/frr/zebra is missing)")
        setup.append(["install", "-d", "-o", "frr", "-g", "frr", "-m", "0755", "/run/frr"])
    other = Netns()
    try:
        for world in (netns, other):
            for argv in setup:
                world.run(argv)
        script = netns.pipenet("plan", path, "--format", "sh")
        assert script.returncode == 0, script.stderr
        assert "..." not in script.stdout  # nothing abbreviated
        r = other.run(["sh", "-e", "-c", script.stdout], check=False)
        assert r.returncode == 0, (r.stderr, script.stdout)
        assert netns.pipenet("up", path).returncode == 0
        up_world, sh_world = _sh_world(netns), _sh_world(other)
        assert up_world == sh_world, snapshot.diff(up_world, sh_world)
    finally:
        other.close()


def test_an_external_bridge_without_room_for_the_topologys_ports_is_refused_before_any_change(netns, tmp_path):
    """bridge0 has 1,020 ports of someone else's; 5 more containers would make 1,025, past the kernel's
    1,023: refused before anything is made (it used to fail at the fourth port with the kernel's
    "Exchange full", and roll back)."""
    guide_bridge0(netns)  # (its nic0 is one port)
    batch = "".join(f"link add name fp{i} type veth peer name fq{i}\nlink set dev fp{i} master bridge0\n"
                    for i in range(1019))
    netns.run(["ip", "-batch", "-"], input=batch)
    before = snapshot.settled_world(netns)

    def ext(n: int, prefix: str) -> str:
        """The topology, with n containers named PREFIX1, PREFIX2, ... on bridge0."""
        return write(tmp_path, "ext.pn", f"""
            topology ext
            bridge bridge0 {{ external }}
            for i in 1..{n} {{ container {prefix}${{i}} {{ net bridge0 }} }}
        """)

    path = ext(5, "c")
    for cmd in ("plan", "up"):
        r = netns.pipenet(cmd, path)
        assert r.returncode == 1, (cmd, r.returncode, r.stderr)
        assert ("bridge bridge0 has 1,020 ports of others, and the 5 of this topology would make 1,025; a Linux "
                "bridge holds at most 1,023") in r.stderr, r.stderr
    assert snapshot.settled_world(netns) == before
    # with room for them (3), they come up
    r = netns.pipenet("up", ext(3, "c"))
    assert r.returncode == 0, r.stderr
    # the bridge is full now (1,023); renaming the three counts them as the plan leaves them, not twice
    r = netns.pipenet("up", ext(3, "d"))
    assert r.returncode == 0, r.stderr
    assert netns.pipenet("down", "ext").returncode == 0
