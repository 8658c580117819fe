"""`host-name` on the real kernel (in the harness's private namespaces): the host end has that name."""

from __future__ import annotations

import textwrap

from tests import snapshot


def test_host_end_of_a_port_has_its_host_name(netns, tmp_path):
    before = snapshot.take(netns.runner)
    path = tmp_path / "hn.pn"
    path.write_text(textwrap.dedent("""\
        topology hn
        bridge br1 { address 10.5.0.1/24 }
        container web {
            interface eth1 on br1 host-name vethweb address 10.5.0.10
        }
        container db { net br1 }
    """))
    r = netns.pipenet("up", str(path))
    assert r.returncode == 0, r.stderr
    link = netns.out(["ip", "-o", "link", "show", "vethweb"])
    assert "master br1" in link and ("state UP" in link or "LOWER_UP" in link)
    # the other port keeps the name pipenet makes, and web is reachable through the named port
    assert len([l for l in netns.out(["ip", "-o", "link", "show", "master", "br1"]).splitlines() if ": pn" in l]) == 1
    assert netns.pipenet("exec", "db", "--", "ping", "-c1", "-W2", "10.5.0.10").returncode == 0
    # the name is taken on the host: another topology asking for it is refused before any change
    other = tmp_path / "other.pn"
    other.write_text("topology other\nbridge br2\ncontainer x { interface eth1 on br2 host-name vethweb }\n")
    r = netns.pipenet("up", str(other))
    assert r.returncode == 1 and "vethweb" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert netns.run(["ip", "link", "show", "br2"], check=False).returncode != 0
    assert netns.pipenet("down", "hn").returncode == 0
    assert netns.run(["ip", "link", "show", "vethweb"], check=False).returncode != 0
    assert snapshot.take(netns.runner) == before
