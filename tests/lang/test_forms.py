"""Every form of the language parses to the IR it means, and survives `fmt` unchanged in meaning."""

from __future__ import annotations

from netaddr import IPAddress, IPNetwork

import pytest

from pipenet.lang import load_text
from pipenet.lang.fmt import format_text

FULL = r'''
# every form of the language, once
topology every-form
let n = 2
let base = "10.77"
hosts auto

defaults container {
    dns 10.1.1.1 8.8.8.8
    dns-search example.com
}

bridge docker0 {
    address 172.17.42.1/16; pool 172.17.0.0/24
    mtu 1400
    icc off
    masquerade on
}
bridge homeA
bridge bridge0 { external }
bridge autobr { address auto }

container web {
    hostname www.example.com
    net docker0
    address 172.17.0.10
    mac 02:42:ac:11:00:0a
    dns 9.9.9.9
    add-host db.local 172.17.0.3
    expose 80/tcp 443
    publish 8080:80/tcp
    publish 127.0.0.1:5353:53/udp
    publish-all
    link db as database
    run "python3 -m http.server 80"
    interface eth1 on homeA address 192.168.1.11/24 mac 02:00:00:00:01:01 mtu 1400
    interface eth2 { on homeA; address 192.168.1.12/24; mtu 1300 }
    interface dum0 dummy address 10.9.9.9/32
    interface mv0 macvlan of host:eth0 mode bridge
    interface eth1.100 vlan 100 of eth1
    route 10.25.0.0/16 via 192.168.1.1 metric 10
    route 10.1.1.1/32 dev eth1
    forwarding on
    masquerade out eth1
    sysctl net.ipv4.conf.all.rp_filter 0
    shape eth1 delay 50ms jitter 5ms loss 1% rate 10mbit
}
container db { net docker0; expose 5432 }
container side { net container web }
container hostnet { net host }
container old { attach pid 1; net none }
container ns2 { attach netns /var/run/netns/x }
container dk { attach docker some-container }

for i in 1..${n} {
    container h${i} {
        interface eth1 on homeA address 192.168.1.${20 + i}/24
        route default via 192.168.1.1
    }
    for j in 1..2 { container r${i}x${j} }
}

container backbone { forwarding on }
container isp
p2p backbone:eth0 10.1.1.1 -- isp:eth0 10.25.1.1
p2p backbone:eth1 10.1.1.1 -- h1:eth5 ${base}.1.1 { mtu 9000; delay 20ms }
p2p host:pn0 10.9.0.1/30 -- h2:eth6 10.9.0.2/30
p2p r1x1:eth5 -- r1x2:eth5

host {
    route 10.77.0.0/16 via 10.9.0.2
    forwarding on
    masquerade out eth0
    sysctl net.ipv4.conf.all.rp_filter 2
}

expect h1 can reach web:80/tcp as 10.25.1.65
expect h1 can reach backbone
expect web cannot reach h1:22/tcp
expect h1 resolves www.example.com to 172.17.0.10
expect h2 can reach host
expect h2 can reach 10.9.0.1:22
'''


def test_every_form_loads():
    t = load_text(FULL, "every.pn")
    assert t.name == "every-form" and t.hosts_auto
    assert [b.name for b in t.bridges] == ["docker0", "homeA", "bridge0", "autobr"]
    d = t.bridge_map["docker0"]
    assert (str(d.address), str(d.pool), d.mtu, d.icc, d.masquerade) == ("172.17.42.1/16", "172.17.0.0/24", 1400,
                                                                         False, True)
    assert t.bridge_map["bridge0"].external and t.bridge_map["autobr"].auto
    assert not t.bridge_map["homeA"].gateway
    web = t.container_map["web"]
    assert web.hostname == "www.example.com"
    eth0 = web.primary
    assert (eth0.name, eth0.bridge, str(eth0.address), eth0.mac) == ("eth0", "docker0", "172.17.0.10/16",
                                                                     "02:42:ac:11:00:0a")
    assert web.dns == (IPAddress("9.9.9.9"),)  # own dns replaces the defaults'
    assert web.dns_search == ("example.com",)  # kept from the defaults
    assert [str(p) for p in web.expose] == ["80/tcp", "443/tcp"]
    assert [(str(p.host_ip) if p.host_ip else None, p.host_port, p.port, p.proto) for p in web.publish] == [
        (None, 8080, 80, "tcp"), ("127.0.0.1", 5353, 53, "udp")]
    assert web.publish_all and web.links[0].target == "db" and web.links[0].alias == "database"
    assert web.run[0].argv == ("python3", "-m", "http.server", "80")
    kinds = {i.name: i.kind for i in web.interfaces}
    assert kinds == {"eth0": "port", "eth1": "port", "eth2": "port", "dum0": "dummy", "mv0": "macvlan",
                     "eth1.100": "vlan"}
    eth2 = web.interface("eth2")
    assert (eth2.bridge, str(eth2.address), eth2.mtu) == ("homeA", "192.168.1.12/24", 1300)
    mv = web.interface("mv0")
    assert (mv.parent_node, mv.parent, mv.settings.mode) == ("host", "eth0", "bridge")  # its kind's own settings
    vl = web.interface("eth1.100")
    assert (vl.settings.id, vl.parent, vl.parent_node) == (100, "eth1", None)
    r1, r2 = web.routes
    assert (str(r1.dest), str(r1.via), r1.metric) == ("10.25.0.0/16", "192.168.1.1", 10)
    assert (str(r2.dest), r2.dev) == ("10.1.1.1/32", "eth1")
    assert web.forwarding is True and web.masquerade[0].out == "eth1"
    assert (web.sysctls[0].key, web.sysctls[0].value) == ("net.ipv4.conf.all.rp_filter", "0")
    sh = web.shapes[0]
    assert (sh.delay_ms, sh.jitter_ms, sh.loss_pct, sh.rate_bps) == (50, 5, 1, 10_000_000)
    assert t.container_map["side"].net.kind == "container" and t.container_map["side"].net.target == "web"
    assert t.container_map["hostnet"].net.kind == "host"
    assert t.container_map["old"].attach.kind == "pid" and t.container_map["old"].attach.value == "1"
    assert t.container_map["ns2"].attach.value == "/var/run/netns/x"
    assert t.container_map["dk"].attach.kind == "docker"
    assert {"h1", "h2", "r1x1", "r1x2", "r2x1", "r2x2"} <= set(t.container_map)
    assert str(t.container_map["h2"].interface("eth1").address) == "192.168.1.22/24"
    p = t.p2p[1]
    assert (p.a.ref, str(p.a.address), p.b.ref, str(p.b.address), p.mtu, p.shape.delay_ms) == (
        "backbone:eth1", "10.1.1.1", "h1:eth5", "10.77.1.1", 9000, 20)
    assert t.p2p[0].a.address.prefix is None  # bare /32 + host route
    assert t.p2p[3].a.address is None
    assert t.host.forwarding and t.host.routes[0].via == IPAddress("10.9.0.2") and t.host.masquerade[0].out == "eth0"
    kinds = [(e.kind, e.source) for e in t.expectations]
    assert kinds[:4] == [("reach", "h1"), ("reach", "h1"), ("unreach", "web"), ("resolves", "h1")]
    e = t.expectations[0]
    assert (e.target.node, e.target.port.number, e.target.port.proto, str(e.as_ip)) == ("web", 80, "tcp",
                                                                                        "10.25.1.65")
    assert t.expectations[4].target.node == "host"
    assert t.expectations[5].target.ip == IPAddress("10.9.0.1")


def test_fmt_round_trip_keeps_meaning_and_is_idempotent():
    before = load_text(FULL, "every.pn")
    once = format_text(FULL, "every.pn")
    assert format_text(once, "every.pn") == once
    assert load_text(once, "every.pn") == before
    assert "# every form of the language, once" in once
    assert "for i in 1..${n} {" in once
    assert "    pool 172.17.0.0/24" in once  # `;` became a new line inside the block


@pytest.mark.parametrize("src", [
    "container a;container b",
    "container a { }",
    "container a {}\n\n\n\ncontainer b",
    "  # only a comment",
    "",
    'container a { run "echo \\"hi\\"" }',
])
def test_fmt_small_cases_stable(src):
    once = format_text(src)
    assert format_text(once) == once
    assert load_text(once, "x.pn") == load_text(src, "x.pn")


def test_allocation_is_deterministic_and_in_file_order():
    src = ("bridge b { address 10.0.0.1/24 }\n"
           "container c1 { net b }\ncontainer c2 { net b; address 10.0.0.2 }\ncontainer c3 { net b }\n")
    t = load_text(src, "x.pn")
    addrs = {c.name: str(c.primary.address) for c in t.containers}
    # c2's static address is skipped by the pool, wherever it appears
    assert addrs == {"c1": "10.0.0.3/24", "c2": "10.0.0.2/24", "c3": "10.0.0.4/24"}
    macs = {c.name: c.primary.mac for c in t.containers}
    assert macs["c1"] == "02:42:0a:00:00:03"
    assert load_text(src, "x.pn") == t


def test_mac_without_ipv4_is_stable_local_unicast():
    t = load_text("bridge s\ncontainer a { interface eth1 on s }\n", "x.pn")
    mac = t.container_map["a"].interface("eth1").mac
    first = int(mac[:2], 16)
    assert first & 2 and not first & 1
    assert load_text("bridge s\ncontainer a { interface eth1 on s }\n", "x.pn").container_map["a"].interface(
        "eth1").mac == mac
    other = load_text("topology other\nbridge s\ncontainer a { interface eth1 on s }\n", "x.pn")
    assert other.container_map["a"].interface("eth1").mac != mac


def test_spans_point_into_loops():
    t = load_text("for i in 1..2 {\n  container h${i}\n}\n", "x.pn")
    h2 = t.container_map["h2"]
    assert (h2.span.line, h2.span.column) == (2, 13)
    assert (h2.span.loop.var, h2.span.loop.value, h2.span.loop.line) == ("i", 2, 1)


def test_interpolation_arithmetic():
    t = load_text("let n = 7\ncontainer c${(n + 3) * 2 - 7 % 4 / 2 - -1}\n", "x.pn")
    assert t.containers[0].name == "c20"


def test_pool_default_is_whole_subnet_and_auto_is_symbolic():
    t = load_text("bridge b { address auto }\ncontainer a { net b }\n", "x.pn")
    assert t.containers[0].primary.address is None  # resolved by the engine
    t2 = load_text("bridge b { address 192.168.5.1/24 }\ncontainer a { net b }\n", "x.pn")
    assert str(t2.containers[0].primary.address) == "192.168.5.2/24"
