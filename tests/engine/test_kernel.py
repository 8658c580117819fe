"""The engine on the real kernel, inside the harness's private namespaces."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from tests import snapshot

EXAMPLES = __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "..", "examples")


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def up(netns, path, *extra, ok=True):
    r = netns.pipenet("up", path, *extra)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def ping(netns, node, target, topology=None):
    args = ["exec"] + (["-t", topology] if topology else []) + [node, "--", "ping", "-c1", "-W2", target]
    return netns.pipenet(*args).returncode == 0


def ns_snapshot(netns):
    return snapshot.take(netns.runner)


def test_guide_point_to_point(netns):
    before = ns_snapshot(netns)
    path = f"{EXAMPLES}/point-to-point.pn"
    up(netns, path)
    assert ping(netns, "one", "10.1.1.2") and ping(netns, "two", "10.1.1.1")
    addrs = netns.out(["ip", "netns", "exec", "p2p@one", "ip", "-o", "-4", "addr", "show", "A"])
    assert "10.1.1.1/32" in addrs  # a /32: no subnet, no netmask
    routes = netns.out(["ip", "netns", "exec", "p2p@one", "ip", "route"])
    assert "10.1.1.2 dev A proto 112 scope link" in routes  # the host route to the peer, pipenet's mark on it
    # the host end of the last permutation: the host reaches that one container out of band
    assert netns.run(["ping", "-c1", "-W2", "10.9.0.2"], check=False).returncode == 0
    assert netns.pipenet("down", "p2p").returncode == 0
    assert ns_snapshot(netns) == before


def test_docker0_bridge_with_three_containers(netns):
    path = f"{EXAMPLES}/docker0.pn"
    up(netns, path)
    show = lambda node: netns.pipenet("exec", node, "--", "ip", "-o", "link", "show", "eth0").stdout  # noqa
    assert "02:42:ac:11:00:64" in show("db")  # 172.17.0.100 -> 02:42 + ac:11:00:64
    assert "02:42:ac:11:00:01" in show("web")  # first of the pool 172.17.0.0/24 (.0 is the network)
    assert "02:42:ac:11:00:99" in show("cache")  # --mac-address
    route = netns.pipenet("exec", "web", "--", "ip", "route").stdout
    assert "default via 172.17.42.1 dev eth0" in route
    assert "172.17.0.0/16 dev eth0" in route
    assert ping(netns, "web", "172.17.0.100") and ping(netns, "cache", "172.17.42.1")
    brif = netns.out(["ip", "-o", "link", "show", "master", "docker0"])
    assert len([line for line in brif.splitlines() if ": pn" in line]) == 3
    assert brif.count("alias pipenet:docker0:link:host:pn") == 3  # each host end carries pipenet's mark
    assert netns.pipenet("exec", "web", "--", "hostname").stdout.strip() == "www.example.com"
    netns.pipenet("down", path)


def test_net_modes(netns, tmp_path):
    path = write(tmp_path, "modes.pn", """
        topology modes
        bridge br0 { address 10.5.0.1/24 }
        container lonely { net none }
        container web { net br0 }
        container side { net container web }
        container hosty { net host }
    """)
    up(netns, path)
    lonely = netns.pipenet("exec", "lonely", "--", "ip", "-o", "link").stdout
    assert len(lonely.strip().splitlines()) == 1 and " lo:" in lonely
    web = netns.pipenet("exec", "web", "--", "ip", "-o", "-4", "addr").stdout
    side = netns.pipenet("exec", "side", "--", "ip", "-o", "-4", "addr").stdout
    assert "10.5.0.2/24" in web and web == side  # one namespace, shared
    assert netns.pipenet("exec", "side", "--", "hostname").stdout.strip() == "side"
    hosty = netns.pipenet("exec", "hosty", "--", "ip", "-o", "link").stdout
    assert "br0" in hosty  # the host's own namespace
    assert netns.pipenet("down", "modes").returncode == 0


def test_attach_to_a_namespace_made_outside(netns, tmp_path):
    netns.run(["ip", "netns", "add", "legacy"])
    path = write(tmp_path, "att.pn", """
        topology att
        bridge br0 { address 10.6.0.1/24 }
        container old { attach netns /run/netns/legacy; net br0; forwarding on }
        container new { net br0 }
    """)
    forward = ["ip", "netns", "exec", "legacy", "sysctl", "-n", "net.ipv4.ip_forward"]
    assert netns.out(forward).strip() == "0"
    up(netns, path)
    assert netns.out(forward).strip() == "1"
    assert "10.6.0.2/24" in netns.out(["ip", "netns", "exec", "legacy", "ip", "-o", "-4", "addr"])
    assert ping(netns, "new", "10.6.0.2")
    assert netns.pipenet("down", "att").returncode == 0
    assert "legacy" in netns.out(["ip", "netns", "list"])  # never deleted
    assert "eth0" not in netns.out(["ip", "netns", "exec", "legacy", "ip", "-o", "link"])  # ours is gone
    assert netns.out(forward).strip() == "0"  # what pipenet set inside is put back, the namespace kept
    r = up(netns, write(tmp_path, "gone.pn", "container x { attach pid 999999 }\n"), ok=False)
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_converging_edits_touch_only_the_difference(netns, tmp_path):
    v1 = """
        topology conv
        bridge br0 { address 10.7.0.1/24 }
        container keep { net br0 }
        container change { net br0; address 10.7.0.20 }
        container leave { net br0 }
    """
    path = write(tmp_path, "conv.pn", v1)
    up(netns, path)
    inode = lambda n: netns.out(["stat", "-L", "-c", "%i", f"/run/netns/conv@{n}"]).strip()  # noqa
    keep_inode, change_inode = inode("keep"), inode("change")
    assert json.loads(netns.pipenet("plan", path, "--format", "json").stdout)["empty"]
    second = up(netns, path)
    assert "nothing to change" in second.stderr  # up twice changes nothing
    v2 = v1.replace("container leave { net br0 }", "container arrive { net br0 }").replace("10.7.0.20", "10.7.0.30")
    path = write(tmp_path, "conv.pn", v2)
    plan = json.loads(netns.pipenet("plan", path, "--format", "json").stdout)
    keys = [s["key"] for s in plan["steps"]]
    assert "netns:leave" in keys and "netns:arrive" in keys and not any("keep" in k for k in keys)
    up(netns, path)
    assert inode("keep") == keep_inode and inode("change") == change_inode  # not recreated
    assert "10.7.0.30/24" in netns.pipenet("exec", "change", "--", "ip", "-o", "-4", "addr").stdout
    assert "conv@leave" not in netns.out(["ip", "netns", "list"])
    assert ping(netns, "arrive", "10.7.0.30")
    assert json.loads(netns.pipenet("plan", path, "--format", "json").stdout)["empty"]
    # down follows the record, not the file: rename a node in the file and down still removes the old one
    write(tmp_path, "conv.pn", v2.replace("arrive", "renamed"))
    assert netns.pipenet("down", path).returncode == 0
    assert "conv@" not in netns.out(["ip", "netns", "list"])


def test_down_leaves_everything_as_before_and_is_safe_twice(netns):
    netns.run(["sysctl", "-w", "net.ipv4.ip_forward=0"])
    before = ns_snapshot(netns)
    up(netns, f"{EXAMPLES}/foundations.pn")
    assert ns_snapshot(netns) != before
    assert netns.pipenet("down", "fopnp").returncode == 0
    assert ns_snapshot(netns) == before
    again = netns.pipenet("down", "fopnp")
    assert again.returncode == 0 and "not up" in again.stderr
    assert netns.run(["ls", "-A", "/run/pipenet"], check=False).stdout.strip() == ""


def test_two_topologies_with_the_same_node_names(netns, tmp_path):
    a = write(tmp_path, "a.pn", "topology ta\nbridge bra { address 10.8.1.1/24 }\ncontainer web { net bra }\n")
    b = write(tmp_path, "b.pn", "topology tb\nbridge brb { address 10.8.2.1/24 }\ncontainer web { net brb }\n")
    up(netns, a)
    up(netns, b)
    assert ping(netns, "web", "10.8.1.1", "ta") and ping(netns, "web", "10.8.2.1", "tb")
    amb = netns.pipenet("exec", "web", "--", "true")
    assert amb.returncode == 1 and "name one with -t" in amb.stderr
    ls = json.loads(netns.pipenet("ls", "--json").stdout)
    assert {r["topology"] for r in ls["topologies"]} == {"ta", "tb"}
    assert netns.pipenet("down", "ta").returncode == 0
    assert ping(netns, "web", "10.8.2.1", "tb")
    netns.pipenet("down", "tb")


def test_fault_at_every_step_leaves_the_system_as_before(netns, tmp_path):
    path = write(tmp_path, "faults.pn", """
        topology faults
        bridge br0 { address 10.9.9.1/24; mtu 1400 }
        container a { net br0; forwarding on; sysctl net.ipv4.conf.all.rp_filter 0 }
        container b { net br0 }
        container r { net none }
        p2p a:eth1 10.1.1.1 -- r:eth1 10.1.1.2
        p2p host:pnf0 10.9.0.1/30 -- r:eth2 10.9.0.2/30
        host { route 10.77.0.0/16 via 10.9.0.2; sysctl net.ipv4.conf.all.rp_filter 2 }
    """)
    steps = len(json.loads(netns.pipenet("plan", path, "--format", "json").stdout)["steps"])
    assert steps >= 20
    netns.run(["sysctl", "-w", "net.ipv4.conf.all.rp_filter=1"])
    before = ns_snapshot(netns)
    rp = netns.out(["sysctl", "-n", "net.ipv4.conf.all.rp_filter"])
    for n in range(1, steps + 1):
        r = netns.faultrun("up", path, fail_step=n)
        assert r.returncode == 2, (n, r.stderr)
        assert f"step {n} of {steps} failed" in r.stderr and "rolled back" in r.stderr
        assert ns_snapshot(netns) == before, f"the system changed after a failure at step {n}"
        assert netns.out(["sysctl", "-n", "net.ipv4.conf.all.rp_filter"]) == rp
    assert netns.run(["ls", "-A", "/run/pipenet"], check=False).stdout.strip() == ""


def test_a_failed_undo_exits_3_and_lists_what_is_left(netns, tmp_path):
    path = write(tmp_path, "left.pn", "bridge br0 { address 10.3.0.1/24 }\ncontainer a { net br0 }\n")
    r = netns.faultrun("up", path, fail_step=4, fail_undo=2)
    assert r.returncode == 3
    assert "left: ip link delete dev br0" in r.stderr
    # what is left is exactly that, and a later down, which finds the journal, cleans it
    assert "br0" in netns.out(["ip", "-o", "link"])
    d = netns.pipenet("down", "left")
    assert d.returncode == 0, d.stderr
    assert "br0" not in netns.out(["ip", "-o", "link"])


def test_killed_up_is_undone_by_down_and_converged_by_up(netns, tmp_path):
    path = write(tmp_path, "kill.pn", "bridge br0 { address 10.4.0.1/24 }\n"
                 "container a { net br0 }\ncontainer b { net br0 }\n")
    before = ns_snapshot(netns)
    for step, then in ((5, "down"), (3, "up")):
        r = netns.faultrun("up", path, kill_step=step)
        assert r.returncode == -9
        assert netns.out(["ls", f"/run/pipenet/kill"]).count("journal") == 1
        r = netns.pipenet(then, path)
        assert r.returncode == 0, r.stderr
        if then == "up":
            assert "interrupted run" in r.stderr
            assert ping(netns, "a", "10.4.0.3")
            netns.pipenet("down", "kill")
        assert ns_snapshot(netns) == before


def test_foreign_objects_are_never_taken_or_removed(netns, tmp_path):
    netns.run(["ip", "link", "add", "docker0", "type", "bridge"])
    netns.run(["ip", "netns", "add", "own@web"])
    before = ns_snapshot(netns)
    path = write(tmp_path, "own.pn", "topology own\nbridge docker0 { address 10.2.0.1/24 }\ncontainer web { net docker0 }\n")
    r = up(netns, path, ok=False)
    assert r.returncode == 1
    assert "an interface named docker0 already exists in the host and pipenet did not make it" in r.stderr
    assert "namespace own@web exists and pipenet did not make it" in r.stderr
    assert r.stderr.strip().splitlines()[2:] == ["2 problems; nothing was changed"]  # one line per cause
    assert ns_snapshot(netns) == before
    # declared external, the bridge is used and left in place
    netns.run(["ip", "netns", "delete", "own@web"])
    ext = write(tmp_path, "ext.pn", "topology ext\nbridge docker0 { external }\ncontainer web { net docker0 }\n")
    up(netns, ext)
    assert "master docker0" in netns.out(["ip", "-o", "link"])
    netns.pipenet("down", "ext")
    assert "docker0" in netns.out(["ip", "-o", "link"])


@pytest.mark.parametrize("form,feature", [
    ("interface d0 dummy address 10.9.9.9/32", "dummy"),
    ("interface e1 on s\n  interface e1.5 vlan 5 of e1", "vlan"),
    ("interface e1 on s\n  shape e1 delay 50ms", "netem"),
])
def test_kernel_features_refused_before_any_change_or_working(netns, tmp_path, form, feature):
    import pipenet.kinds  # noqa: F401 - registers the kinds' features
    from pipenet.backends.features import FEATURES
    path = write(tmp_path, "feat.pn", f"topology feat\nbridge s\ncontainer a {{\n  {form}\n}}\n")
    probe = netns.run([__import__("sys").executable, "-c",
                       f"import pipenet.kinds; from pipenet.backends.kernel import Kernel; print(Kernel().supports({feature!r}))"])
    supported = probe.stdout.strip() == "True"
    before = ns_snapshot(netns)
    r = netns.pipenet("up", path)
    if not supported:
        assert r.returncode == 1
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and FEATURES[feature] in lines[0], r.stderr
        assert ns_snapshot(netns) == before
        pytest.skip(f"this kernel has no {FEATURES[feature]}; the refusal was checked, the working path cannot be")
    assert r.returncode == 0, r.stderr
    netns.pipenet("down", "feat")


def test_macvlan_of_a_host_interface_and_tbf_rate(netns, tmp_path):
    netns.run(["ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer"])
    netns.run(["ip", "link", "set", "uplink", "up"])
    path = write(tmp_path, "mv.pn", """
        topology mv
        container a {
            interface mv0 macvlan of host:uplink mode bridge
            interface mv1 macvlan of host:uplink
        }
        container b { interface mv0 macvlan of host:uplink address 192.168.50.2/24 }
        container c { net none }
        p2p a:eth5 10.0.5.1/24 -- c:eth5 10.0.5.2/24 { rate 5mbit }
    """)
    up(netns, path)
    assert "192.168.50.2/24" in netns.pipenet("exec", "b", "--", "ip", "-o", "addr", "show", "mv0").stdout
    qd = netns.pipenet("exec", "a", "--", "tc", "qdisc", "show", "dev", "eth5").stdout
    assert "tbf" in qd and "5Mbit" in qd
    assert netns.pipenet("down", "mv").returncode == 0
    assert "mv0" not in netns.out(["ip", "-o", "link"])


def test_sysctls_are_restored_and_exec_keeps_the_exit_status(netns, tmp_path):
    netns.run(["sysctl", "-w", "net.ipv4.ip_forward=0"])
    path = write(tmp_path, "sys.pn", "topology sys\nhost { forwarding on }\ncontainer r { forwarding on }\n")
    up(netns, path)
    assert netns.out(["sysctl", "-n", "net.ipv4.ip_forward"]).strip() == "1"
    assert netns.pipenet("exec", "r", "--", "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert netns.pipenet("exec", "r", "--", "sh", "-c", "exit 7").returncode == 7
    netns.pipenet("down", "sys")
    assert netns.out(["sysctl", "-n", "net.ipv4.ip_forward"]).strip() == "0"


def test_status_reports_drift(netns, tmp_path):
    path = write(tmp_path, "st.pn", "topology st\nbridge br0 { address 10.12.0.1/24 }\ncontainer a { net br0 }\n")
    up(netns, path)
    doc = json.loads(netns.pipenet("status", "st", "--json").stdout)
    assert doc["up"] and doc["drift"] == []
    a = [n for n in doc["nodes"] if n["node"] == "a"][0]
    assert a["interfaces"][0]["addresses"] == ["10.12.0.2/24"]
    netns.run(["ip", "netns", "exec", "st@a", "ip", "addr", "del", "10.12.0.2/24", "dev", "eth0"])
    r = netns.pipenet("status", "st")
    assert r.returncode == 1 and "missing: address 10.12.0.2/24 on eth0" in r.stderr
    netns.pipenet("down", "st")


def test_address_auto_picks_a_free_subnet_and_keeps_it(netns, tmp_path):
    netns.run(["ip", "link", "add", "busy", "type", "bridge"])
    netns.run(["ip", "addr", "add", "172.17.0.1/16", "dev", "busy"])
    path = write(tmp_path, "auto.pn", "topology auto\nbridge b0 { address auto }\ncontainer a { net b0 }\n")
    up(netns, path)
    assert "172.18.0.1/16" in netns.out(["ip", "-o", "-4", "addr", "show", "b0"])
    assert "172.18.0.2/16" in netns.pipenet("exec", "a", "--", "ip", "-o", "-4", "addr").stdout
    netns.run(["ip", "addr", "del", "172.17.0.1/16", "dev", "busy"])  # the earlier choice is kept anyway
    assert json.loads(netns.pipenet("plan", path, "--format", "json").stdout)["empty"]
    netns.pipenet("down", "auto")


def _as_nobody(netns, *args):
    return netns.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                      "pipenet", *args], check=False, env=dict(os.environ, NO_COLOR="1"))


def test_not_root_without_sandbox_is_one_line(netns):
    # in a test world, not on the machine itself: there the answer depended on whether a root
    # pipenet (another run's sandbox, say) happened to have state in /run/pipenet at that moment
    r = _as_nobody(netns, "up", f"{EXAMPLES}/docker0.pn")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "as root" in lines[0] and "--sandbox" in lines[0]


# On a machine where root has used pipenet, /run/pipenet is root's, mode 0700: an unprivileged user's
# `pipenet up FILE` (the unchanged-file check lists every topology there) and `pipenet ls` give their
# one-line answers, not a PermissionError traceback.
def test_not_root_is_one_line_where_root_has_used_pipenet(netns, tmp_path):
    up(netns, write(tmp_path, "rooted.pn", "topology rooted\ncontainer a { }\n"))
    assert netns.out(["stat", "-c", "%a %U", "/run/pipenet"]).split() == ["700", "root"]
    r = _as_nobody(netns, "up", f"{EXAMPLES}/docker0.pn")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "--sandbox" in lines[0], r.stderr
    r = _as_nobody(netns, "ls")
    assert r.stderr.strip().splitlines() == [
        "pipenet: topologies up outside a sandbox are not shown: only root can read /run/pipenet",
        "no sandbox is up"], r.stderr
    r = _as_nobody(netns, "ls", "--json")  # a script is told the list leaves root's topologies out
    assert r.returncode == 0 and json.loads(r.stdout) == {"schema": "pipenet/ls/v2", "complete": False,
                                                          "topologies": []}, r.stdout + r.stderr


def test_attach_docker_errors_are_clear(netns, tmp_path):
    path = write(tmp_path, "dock.pn", "topology dock\ncontainer app { attach docker no-such-container }\n")
    before = ns_snapshot(netns)
    no_docker = netns.run(["env", "PATH=/usr/sbin:/sbin", sys.executable, "-m", "pipenet", "up", path],
                          check=False)
    assert no_docker.returncode == 1
    assert no_docker.stderr.strip() == "pipenet: attach docker no-such-container: the docker command is not installed"
    if __import__("shutil").which("docker"):
        r = netns.pipenet("up", path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("pipenet: attach docker no-such-container:")
    assert ns_snapshot(netns) == before


def test_shell_runs_in_the_node_with_a_prompt_naming_it(netns, tmp_path):
    path = write(tmp_path, "sh.pn", "topology shl\ncontainer box { hostname box.example }\n")
    up(netns, path)
    r = netns.run([sys.executable, "-m", "pipenet", "shell", "box"], check=False,
                  input="hostname; echo PS1=$PS1; ip -o link | wc -l; exit 3\n", env=dict(os.environ, SHELL="/bin/bash"))
    assert r.returncode == 3
    assert "box.example" in r.stdout and "PS1=[box]" in r.stdout
    assert r.stdout.strip().splitlines()[-1].strip() == "1"  # only lo: it is the node's namespace
    netns.pipenet("down", "shl")
