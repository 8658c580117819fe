"""Docker service networking on the real kernel: firewall, NAT, published ports, links, names, processes."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time

from tests import snapshot
from tests.conftest import pipenet_processes
from tests.harness import FOREIGN_NETNS

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def up(netns, path):
    r = netns.pipenet("up", path)
    assert r.returncode == 0, r.stderr
    return r


def curl(netns, node, url, timeout=2):
    argv = ["curl", "-s", "--max-time", str(timeout), url]
    if node is None:
        return netns.run(argv, check=False).stdout
    return netns.pipenet("exec", node, "--", *argv).stdout


def wait_listening(netns, node, port):
    for _ in range(100):
        out = netns.pipenet("exec", node, "--", "ss", "-ltn").stdout
        if f":{port} " in out:
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {node}:{port}")


def running(netns, pid) -> bool:
    """Alive and not a zombie waiting for its reaper."""
    r = netns.run(["cat", f"/proc/{pid}/stat"], check=False)
    return r.returncode == 0 and r.stdout.rsplit(")", 1)[1].split()[0] != "Z"


def test_icc_off_with_a_link_is_the_guides_example(netns):
    up(netns, f"{EXAMPLES}/icc-links.pn")
    wait_listening(netns, "db", 5432)
    save = netns.out(["iptables-save", "-t", "filter"])
    # the port-specific pair, ahead of the DROP, as `iptables -L -n` shows in the guide
    pair_out = "-A PN-icc-FWD -s 172.17.0.2/32 -d 172.17.0.1/32 -i docker0 -o docker0 -p tcp -m tcp --dport 5432 -m comment --comment \"pipenet:icc\" -j ACCEPT"
    pair_back = "-A PN-icc-FWD -s 172.17.0.1/32 -d 172.17.0.2/32 -i docker0 -o docker0 -p tcp -m tcp --sport 5432 -m comment --comment \"pipenet:icc\" -j ACCEPT"
    drop = "-A PN-icc-FWD -i docker0 -o docker0 -m comment --comment \"pipenet:icc\" -j DROP"
    lines = save.splitlines()
    assert pair_out in lines and pair_back in lines and drop in lines
    assert lines.index(pair_out) < lines.index(drop) and lines.index(pair_back) < lines.index(drop)
    assert '-A FORWARD -m comment --comment "pipenet:icc" -j PN-icc-FWD' in lines
    listing = netns.out(["iptables", "-L", "PN-icc-FWD", "-n"])
    assert "ACCEPT     6    --  172.17.0.2           172.17.0.1           tcp dpt:5432" in listing.replace("tcp  ", "6    ") \
        or "tcp dpt:5432" in listing
    # the linked container reaches the exposed port through its alias; a stranger cannot
    assert "200" in netns.pipenet("exec", "app", "--", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                  "--max-time", "2", "http://database:5432/").stdout
    assert netns.pipenet("exec", "stranger", "--", "curl", "-s", "--max-time", "1",
                         "http://172.17.0.1:5432/").returncode != 0
    # a port that is not exposed stays closed, even to the linked container
    netns.pipenet("exec", "db", "--", "sh", "-c", "true")
    r = json.loads(netns.pipenet("test", f"{EXAMPLES}/icc-links.pn", "--json").stdout)
    assert r["failed"] == 0 and r["passed"] == 3
    netns.pipenet("down", "icc")


def test_masquerade_rule_and_outbound_nat(netns):
    r = json.loads(netns.pipenet("test", f"{EXAMPLES}/outbound.pn", "--json").stdout)
    assert r["failed"] == 0, r
    nat = netns.out(["iptables-save", "-t", "nat"]).splitlines()
    assert "-A PN-outbound-POST -s 172.17.0.0/16 ! -o docker0 -m comment --comment \"pipenet:outbound\" -j MASQUERADE" in nat
    listing = netns.out(["iptables", "-t", "nat", "-L", "PN-outbound-POST", "-n"])
    assert "MASQUERADE" in listing and "172.17.0.0/16" in listing
    # the world sees the host's address, not the container's
    body = curl(netns, "app", "http://203.0.113.2/")
    assert body is not None
    log = netns.pipenet("logs", "world").stdout
    assert "203.0.113.1" in log and "172.17." not in log
    netns.pipenet("down", "outbound")


def test_published_port_from_all_three_directions_and_publish_all(netns, tmp_path):
    path = write(tmp_path, "pub.pn", """
        topology pub
        bridge docker0 { address 172.17.42.1/16 }
        container web {
            net docker0
            expose 80/tcp 8000/tcp
            publish 8080:80/tcp
            publish-all
            run "python3 -m pipenet.services http 80"
            run "python3 -m pipenet.services http 8000"
        }
        container neighbour { net docker0 }
        container outside { net none }
        p2p host:pn-out0 10.50.0.1/30 -- outside:eth0 10.50.0.2/30
    """)
    up(netns, path)
    wait_listening(netns, "web", 80)
    wait_listening(netns, "web", 8000)
    nat = netns.out(["iptables-save", "-t", "nat"]).splitlines()
    assert "-A PN-pub-PRE -p tcp -m tcp --dport 8080 -m comment --comment \"pipenet:pub\" -j DNAT --to-destination 172.17.0.1:80" in nat
    assert "-A PN-pub-OUT -p tcp -m tcp --dport 8080 -m comment --comment \"pipenet:pub\" -j DNAT --to-destination 172.17.0.1:80" in nat
    assert any("-A PREROUTING -m addrtype --dst-type LOCAL" in l and "PN-pub-PRE" in l for l in nat)
    assert "-A PN-pub-POST -s 172.17.0.0/16 -d 172.17.0.1/32 -o docker0 -p tcp -m tcp --dport 80 -m comment --comment \"pipenet:pub\" -j MASQUERADE" in nat
    flt = netns.out(["iptables-save", "-t", "filter"]).splitlines()
    assert "-A PN-pub-FWD -d 172.17.0.1/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -m comment --comment \"pipenet:pub\" -j ACCEPT" in flt
    # from outside the host, from the host (127.0.0.1 and its own addresses), from a neighbour (hairpin)
    assert "you are 10.50.0.2" in curl(netns, "outside", "http://10.50.0.1:8080/")
    assert "hello from web" in curl(netns, None, "http://127.0.0.1:8080/")
    assert "hello from web" in curl(netns, None, "http://172.17.42.1:8080/")
    assert "hello from web" in curl(netns, "neighbour", "http://172.17.42.1:8080/")
    assert "hello from web" in curl(netns, "web", "http://172.17.42.1:8080/")  # its own port, hairpin mode
    # publish-all: 8000 got the first free port of the ephemeral range, recorded, the same on every up
    lo = int(netns.out(["cat", "/proc/sys/net/ipv4/ip_local_port_range"]).split()[0])
    rec = json.loads(netns.out(["cat", "/run/pipenet/pub/record.json"]))
    assert rec["ports"] == {"web/8000/tcp": lo}
    assert "hello from web" in curl(netns, None, f"http://127.0.0.1:{lo}/")
    up(netns, path)
    assert json.loads(netns.out(["cat", "/run/pipenet/pub/record.json"]))["ports"] == {"web/8000/tcp": lo}
    netns.pipenet("down", "pub")


def test_a_host_port_taken_by_someone_else_is_refused(netns, tmp_path):
    import subprocess
    proc = subprocess.Popen(netns.argv([sys.executable, "-c", "import socket,time; s=socket.socket(); "
                                        "s.bind(('0.0.0.0', 8080)); s.listen(); print('ok', flush=True); "
                                        "time.sleep(60)"]), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ok"
        before = snapshot.take(netns.runner)
        path = write(tmp_path, "taken.pn", "bridge docker0 { address 172.17.42.1/16 }\n"
                     "container web { net docker0; publish 8080:80 }\n")
        r = netns.pipenet("up", path)
        assert r.returncode == 1 and "8080/tcp of web is already in use on the host" in r.stderr
        assert snapshot.take(netns.runner) == before
    finally:
        proc.kill()
        proc.wait()


def test_two_topologies_cannot_publish_the_same_host_port(netns, tmp_path):
    a = write(tmp_path, "a.pn", "topology ta\nbridge bra { address 10.61.0.1/24 }\ncontainer w { net bra; publish 9090:80 }\n")
    b = write(tmp_path, "b.pn", "topology tb\nbridge brb { address 10.62.0.1/24 }\ncontainer w { net brb; publish 9090:80 }\n")
    up(netns, a)
    before = snapshot.take(netns.runner)
    r = netns.pipenet("up", b)
    assert r.returncode == 1 and "already published by topology ta" in r.stderr
    assert snapshot.take(netns.runner) == before
    netns.pipenet("down", "ta")


def test_etc_files_of_a_container(netns):
    etc_netns = snapshot.take(netns.runner)["/etc/netns"]  # the other tool's files, which stay as they are
    up(netns, f"{EXAMPLES}/dns.pn")
    hosts = netns.pipenet("exec", "web", "--", "cat", "/etc/hosts").stdout
    assert hosts.startswith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    assert "172.17.0.1\twww.example.com web\n" in hosts
    assert "172.17.0.5\tdatabase db.internal db\n" in hosts
    assert "10.9.9.9\tmirror.local\n" in hosts
    resolv = netns.pipenet("exec", "web", "--", "cat", "/etc/resolv.conf").stdout
    assert resolv == "nameserver 10.1.1.1\nnameserver 8.8.8.8\nsearch example.com corp.lan\n"
    assert netns.pipenet("exec", "web", "--", "hostname").stdout.strip() == "www.example.com"
    assert netns.pipenet("exec", "web", "--", "cat", "/etc/hostname").stdout == "www.example.com\n"
    # db gives no dns: the host's resolv.conf, with 127.x servers dropped (here none remain: Google's)
    netns.run(["sh", "-c", "printf 'nameserver 127.0.0.53\\noptions edns0\\n' > /etc/resolv.conf"])
    netns.pipenet("down", "dns")
    up(netns, f"{EXAMPLES}/dns.pn")
    db = netns.pipenet("exec", "db", "--", "cat", "/etc/resolv.conf").stdout
    assert db == "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    # the host's own files are untouched
    assert netns.out(["cat", "/etc/resolv.conf"]) == "nameserver 127.0.0.53\noptions edns0\n"
    assert "www.example.com" not in netns.out(["cat", "/etc/hosts"])
    assert netns.out(["hostname"]).strip() == "pipenet-sandbox"
    netns.pipenet("down", "dns")
    # as before: only the other tool's directory, its files exactly as they were
    assert netns.run(["ls", "-A", "/etc/netns"], check=False).stdout.split() == [FOREIGN_NETNS]
    assert snapshot.take(netns.runner)["/etc/netns"] == etc_netns


def test_process_lifecycle(netns, tmp_path):
    path = write(tmp_path, "proc.pn", """
        topology proc
        container svc { run "python3 -m pipenet.services listen 7000"; hostname svc.example }
    """)
    up(netns, path)
    doc = json.loads(netns.pipenet("status", "proc", "--json").stdout)
    [p] = doc["processes"]
    assert p["alive"] and p["command"] == "python3 -m pipenet.services listen 7000"
    pid = p["pid"]
    wait_listening(netns, "svc", 7000)
    assert "listening on 7000" in netns.pipenet("logs", "-t", "proc", "svc").stdout
    # it runs with the node's hostname, in the node's namespace
    assert netns.out(["cat", f"/proc/{pid}/comm"]).strip().startswith("python")
    netns.pipenet("down", "proc")
    assert not running(netns, pid)


def test_a_command_that_cannot_start_rolls_up_back(netns, tmp_path):
    before = snapshot.take(netns.runner)
    # the command named as a shell would read it back: its words quoted where they must be
    for cmd, named in (('"no-such-program --flag"', "`no-such-program --flag`"),
                       ('"python3 -c \\"raise SystemExit(3)\\""', "`python3 -c 'raise SystemExit(3)'`")):
        path = write(tmp_path, "bad.pn", f"bridge b0 {{ address 10.70.0.1/24 }}\ncontainer a {{ net b0; run {cmd} }}\n")
        r = netns.pipenet("up", path)
        assert r.returncode == 2, r.stderr
        assert "rolled back" in r.stderr and named in r.stderr, r.stderr
        assert snapshot.take(netns.runner) == before


def test_forward_policy_drop_still_works(netns):
    netns.run(["iptables", "-P", "FORWARD", "DROP"])
    r = json.loads(netns.pipenet("test", f"{EXAMPLES}/foundations.pn", "--json").stdout)
    assert r["failed"] == 0, r
    netns.pipenet("down", "fopnp")
    assert "-P FORWARD DROP" in netns.out(["iptables", "-S", "FORWARD"])


def test_host_forwarding_is_shared_and_restored(netns, tmp_path):
    netns.run(["sysctl", "-w", "net.ipv4.ip_forward=0"])
    a = write(tmp_path, "a.pn", "topology fa\nbridge bra { address 10.63.0.1/24 }\n")
    b = write(tmp_path, "b.pn", "topology fb\nbridge brb { address 10.64.0.1/24 }\n")
    up(netns, a)
    up(netns, b)
    fwd = lambda: netns.out(["sysctl", "-n", "net.ipv4.ip_forward"]).strip()  # noqa
    assert fwd() == "1"
    netns.pipenet("down", "fa")
    assert fwd() == "1"  # fb still needs it
    netns.pipenet("down", "fb")
    assert fwd() == "0"


def test_container_masquerade_is_a_home_modem(netns, tmp_path):
    path = write(tmp_path, "modem.pn", """
        topology modem
        bridge home
        container modem {
            interface eth1 on home address 192.168.1.1/24
            forwarding on
            masquerade out eth0
        }
        container laptop { interface eth1 on home address 192.168.1.10/24; route default via 192.168.1.1 }
        container server { run "python3 -m pipenet.services http 80" }
        p2p modem:eth0 10.25.1.65/24 -- server:eth0 10.25.1.1/24
        expect laptop can reach server:80/tcp as 10.25.1.65
        expect server cannot reach laptop
    """)
    r = json.loads(netns.pipenet("test", path, "--json").stdout)
    assert r["failed"] == 0, r
    nat = netns.run(["ip", "netns", "exec", "modem@modem", "iptables-save", "-t", "nat"]).stdout
    assert "-A PN-modem-POST -o eth0 -m comment --comment \"pipenet:modem\" -j MASQUERADE" in nat
    netns.pipenet("down", "modem")


def test_down_leaves_firewall_files_sysctls_and_processes_as_before(netns):
    netns.run(["sysctl", "-w", "net.ipv4.ip_forward=0"])
    before = snapshot.take(netns.runner)
    procs = _world_processes(netns)
    for ex in ("icc-links", "publish", "dns", "foundations"):
        up(netns, f"{EXAMPLES}/{ex}.pn")
        assert snapshot.take(netns.runner) != before
        if "run " in open(f"{EXAMPLES}/{ex}.pn").read():
            assert set(netns.pids()) - procs, ex  # the example's run processes were there
        assert netns.pipenet("down", f"{EXAMPLES}/{ex}.pn").returncode == 0
        assert snapshot.take(netns.runner) == before, ex
    left = _world_processes(netns) - procs
    strays = [(p, netns.run(["cat", f"/proc/{p}/cmdline"], check=False).stdout.replace("\0", " "))
              for p in left if running(netns, p)
              and netns.run(["cat", f"/proc/{p}/comm"], check=False).stdout.strip() not in ("nsenter", "ps", "cat")]
    assert strays == []


def _world_processes(netns) -> set[int]:
    """Processes in the test world's namespaces, and every process pipenet started in this run
    wherever it is (in a namespace down removed, say). Not every process of the machine: another
    run's, elsewhere on it, comes and goes as it pleases."""
    return set(netns.pids()) | pipenet_processes()
